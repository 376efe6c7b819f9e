"""explain(): inputs of every kind, targets by index/name/top-k, batching, provenance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import thinktwice
from thinktwice.errors import ImageError, TargetError, UnknownClassError

EGYPTIAN_CAT, ESPRESSO, TABBY = 285, 967, 281


@pytest.fixture(scope="module")
def photos():
    data = pytest.importorskip("skimage.data")
    return data.chelsea(), data.coffee()


def test_top1_of_the_shipped_photos_is_what_they_show(lite0, photos):
    result = thinktwice.explain(lite0, list(photos), "top1", method="gradient")
    assert result.targets.tolist() == [EGYPTIAN_CAT, ESPRESSO]
    assert result.class_names == ["Egyptian cat", "espresso"]
    assert result.saliency.shape == (2, 224, 224)
    assert result.template.shape == (2, 3, 224, 224)
    assert result.scores.shape == (1, 2)
    assert result.image_index.tolist() == [0, 1]


def test_one_image_many_classes_by_name_index_and_topk(lite0, photos):
    chelsea = photos[0]
    result = thinktwice.explain(
        lite0, chelsea, ["Tabby", 285, "top5"], method="gradient", batch_size=2
    )
    assert result.targets[:2].tolist() == [TABBY, EGYPTIAN_CAT]
    assert len(result) == len(set(result.targets.tolist()))  # duplicates from top5 dropped
    assert 6 >= len(result) >= 5
    assert (result.image_index == 0).all()
    # batching does not change the maps
    single = thinktwice.explain(lite0, chelsea, ["tabby"], method="gradient")
    torch.testing.assert_close(result.saliency[0], single.saliency[0])


def test_inputs_as_paths_pil_arrays_and_tensors_agree(lite0, photos, tmp_path):
    chelsea = photos[0]
    path = tmp_path / "chelsea.png"
    Image.fromarray(chelsea).save(path)
    as_tensor = lite0.preprocess(Image.fromarray(chelsea))
    results = [
        thinktwice.explain(lite0, item, 285, method="gradient").saliency[0]
        for item in (str(path), path, Image.fromarray(chelsea), chelsea, as_tensor)
    ]
    for other in results[1:]:
        torch.testing.assert_close(other, results[0])
    batch = thinktwice.explain(lite0, torch.stack([as_tensor, as_tensor]), 285, method="gradient")
    assert batch.saliency.shape[0] == 2


def test_per_image_targets_and_provenance(lite0, photos, tmp_path):
    paths = []
    for name, array in zip(("cat", "coffee"), photos, strict=True):
        paths.append(tmp_path / f"{name}.png")
        Image.fromarray(array).save(paths[-1])
    result = thinktwice.explain(
        lite0, paths, [["tabby", "egyptian cat"], "espresso"], method="gradcam"
    )
    assert result.image_index.tolist() == [0, 0, 1]
    assert result.targets.tolist() == [TABBY, EGYPTIAN_CAT, ESPRESSO]
    assert result.sources == [str(p) for p in paths]
    assert result.template is None and result.saliency.shape == (3, 224, 224)


@pytest.mark.slow  # about 20 s: hard feedback over three batches
@pytest.mark.filterwarnings("ignore:fsp. the target score decreased")
def test_feedback_scores_and_details_line_up_across_batches(lite0, photos):
    result = thinktwice.explain(
        lite0,
        photos[0],
        ["top5"],
        method="feedback",
        solver="fsp",
        layers=3,
        max_iter=3,
        batch_size=2,
    )
    passes, pairs = result.scores.shape
    assert pairs == 5 and 2 <= passes <= 4
    assert result.details["open_fraction"].shape == (passes, 3, 5)
    assert result.details["converged"].shape == (5,)
    assert (result.scores[-1] >= result.scores[0]).all()


def test_bad_targets_and_images_are_clear_errors(lite0, photos, tmp_path):
    with pytest.raises(UnknownClassError, match="close names"):
        thinktwice.explain(lite0, photos[0], "tabby catt", method="gradient")
    with pytest.raises(UnknownClassError, match="out of range"):
        thinktwice.explain(lite0, photos[0], 1000, method="gradient")
    with pytest.raises(UnknownClassError, match="ambiguous"):
        thinktwice.explain(lite0, photos[0], "panda", method="gradient")
    with pytest.raises(TargetError, match="one entry per image"):
        thinktwice.explain(lite0, list(photos), [1, 2, 3], method="gradient")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="empty.jpg"):
        thinktwice.explain(lite0, empty, 1, method="gradient")
    with pytest.raises(ValueError, match="unknown method"):
        thinktwice.explain(lite0, photos[0], 1, method="nope")
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        thinktwice.explain(lite0, [torch.rand(1, 8, 8)], 1, method="gradient")


def test_wrap_makes_any_relu_pool_classifier_explainable():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 8, 3, padding=1),
        torch.nn.ReLU(inplace=True),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 3),
    )
    model = thinktwice.wrap(net, input_size=32, class_names=["a", "b", "c"])
    image = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    for method in ("gradient", "deconvnet", "guided_backprop", "gradcam", "feedback"):
        result = (
            thinktwice.explain(model, image, ["a", "c"], method=method, max_iter=2)
            if method == "feedback"
            else thinktwice.explain(model, image, ["a", "c"], method=method)
        )
        assert result.saliency.shape == (2, 32, 32)
        assert torch.isfinite(result.saliency).all()
    assert result.class_names == ["a", "c"]
