"""The saliency methods against captum, an independent implementation, on the real model."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from thinktwice.attribution import METHODS
from thinktwice.errors import TargetError
from thinktwice.models.classifier import wrap
from thinktwice.testing import captum_view

captum_attr = pytest.importorskip("captum.attr")

EGYPTIAN_CAT, ESPRESSO, GOLDEN_RETRIEVER, TIGER_CAT = 285, 967, 207, 282


@pytest.fixture(scope="module")
def batch(lite0, cat_dog) -> tuple[torch.Tensor, torch.Tensor]:
    """Real photos and noise, each row with its own target class."""
    image, _ = cat_dog
    torch.manual_seed(0)
    images = torch.stack([image, image, torch.rand(3, 224, 224)])
    return images, torch.tensor([TIGER_CAT, GOLDEN_RETRIEVER, ESPRESSO])


def _close(ours: torch.Tensor, reference: torch.Tensor) -> None:
    scale = reference.abs().max()
    assert scale > 0
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-5 * float(scale.detach()))


def test_gradient_matches_captum_saliency(lite0, batch):
    images, targets = batch
    ours = METHODS["gradient"](lite0).attribute(images, targets)
    reference = captum_attr.Saliency(lite0).attribute(images, target=targets, abs=False)
    _close(ours.template, reference)
    _close(ours.saliency, reference.abs().amax(dim=1))


def test_deconvnet_matches_captum_deconvolution(lite0, batch):
    images, targets = batch
    ours = METHODS["deconvnet"](lite0).attribute(images, targets)
    reference = captum_attr.Deconvolution(captum_view(lite0)).attribute(images, target=targets)
    _close(ours.template, reference)


def test_guided_backprop_matches_captum(lite0, batch):
    images, targets = batch
    ours = METHODS["guided_backprop"](lite0).attribute(images, targets)
    reference = captum_attr.GuidedBackprop(captum_view(lite0)).attribute(images, target=targets)
    _close(ours.template, reference)


def test_gradcam_matches_captum_layer_gradcam_upsampled(lite0, batch):
    images, targets = batch
    ours = METHODS["gradcam"](lite0).attribute(images, targets)
    layer = dict(lite0.named_modules())["network._head_act"]
    cam = captum_attr.LayerGradCam(lite0, layer).attribute(
        images, target=targets, relu_attributions=True
    )
    reference = captum_attr.LayerAttribution.interpolate(cam, (224, 224), "bilinear")[:, 0]
    assert ours.template is None
    _close(ours.saliency, reference)


def test_methods_leave_the_model_as_it_was(lite0, batch):
    images, targets = batch
    with torch.no_grad():
        before = lite0(images)
    for name in METHODS:
        METHODS[name](lite0).attribute(images[:1], targets[:1])
    assert all(not m._forward_hooks and not m._backward_hooks for m in lite0.modules())
    with torch.no_grad():
        torch.testing.assert_close(lite0(images), before)


def test_bad_targets_are_clear_errors(lite0, batch):
    images, _ = batch
    with pytest.raises(TargetError, match="out of range"):
        METHODS["gradient"](lite0).attribute(images, torch.tensor([0, 1, 1000]))
    with pytest.raises(TargetError, match="one per image"):
        METHODS["gradient"](lite0).attribute(images, [1, 2])
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        METHODS["gradient"](lite0).attribute(images[0], 1)


def _small_user_model(activation: nn.Module) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A wrapped conv/activation/max-pool net with 5 classes, 4 noise images and targets."""
    from thinktwice import wrap

    torch.manual_seed(1)
    network = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        activation,
        nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1),
        copy.deepcopy(activation),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 5),
    )
    torch.manual_seed(0)
    images, targets = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 4])
    return wrap(network, input_size=32, class_names=list("abcde")), images, targets


def test_guided_backprop_on_a_user_model_with_in_place_relu_matches_captum():
    model, images, targets = _small_user_model(nn.ReLU(inplace=True))
    reference_model = copy.deepcopy(model)
    for module in reference_model.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False  # captum's module hooks cannot follow in-place outputs
    ours = METHODS["guided_backprop"](model).attribute(images, targets)
    reference = captum_attr.GuidedBackprop(reference_model).attribute(images, target=targets)
    _close(ours.template, reference)
    assert all(m.inplace for m in model.modules() if isinstance(m, nn.ReLU))


def test_guided_backprop_clips_after_the_slope_for_leaky_relu():
    """relu(grad) * f'(x) equals the definition relu(grad * f'(x)) since f' > 0 here."""
    from thinktwice.attribution.modified_backward import BackwardRule
    from thinktwice.feedback.gates import local_slope
    from thinktwice.feedback.solvers.base import gated_pass
    from thinktwice.hooks.install import rules_installed
    from thinktwice.hooks.sites import find_sites

    model, images, targets = _small_user_model(nn.LeakyReLU(0.1))
    ours = METHODS["guided_backprop"](model).attribute(images, targets)

    def definition(grad, inputs, module):
        return (grad * local_slope(module, inputs)).clamp_min(0)

    sites = [s for s in find_sites(model, images[:1]) if s.kind == "activation"]
    with rules_installed(model, sites, BackwardRule(definition)):
        reference = gated_pass(model, images, targets).template
    assert len(sites) == 2
    _close(ours.template, reference)


def test_distinct_rows_groups_only_equal_images():
    from thinktwice.pairs import distinct_rows, occurrence_rounds

    torch.manual_seed(0)
    a, b = torch.rand(3, 8, 8), torch.rand(3, 8, 8)
    swapped = a.clone()  # same pixel sum as a, a different image
    swapped[0, 0, 0], swapped[0, 0, 1] = a[0, 0, 1], a[0, 0, 0]
    batch = torch.stack([a, b, a, swapped, a, b])
    firsts, inverse = distinct_rows(batch)
    assert firsts.tolist() == [0, 1, 3]
    assert inverse.tolist() == [0, 1, 0, 2, 0, 1]
    assert [r.tolist() for r in occurrence_rounds(inverse)] == [[0, 1, 3], [2, 5], [4]]


@pytest.mark.parametrize("method", ["gradient", "guided_backprop"])
def test_a_repeated_image_gives_each_class_its_own_gradient(lite0, batch, method):
    """Rows sharing one forward pass equal the same rows explained one at a time."""
    images, _ = batch
    repeated = images[[0, 2, 0, 0]]
    targets = torch.tensor([TIGER_CAT, ESPRESSO, GOLDEN_RETRIEVER, EGYPTIAN_CAT])
    together = METHODS[method](lite0).attribute(repeated, targets)
    for row in range(len(targets)):
        alone = METHODS[method](lite0).attribute(repeated[row : row + 1], targets[row : row + 1])
        _close(together.template[row : row + 1], alone.template)
        torch.testing.assert_close(together.scores[:, row], alone.scores[:, 0])


def test_deconvnet_map_is_the_same_for_every_photo_on_lite0(lite0):
    """No max-pool in Lite0, and deconvnet's backward through ReLU6 reads no forward
    state: the map is a function of the class alone (docs/deconvnet.md)."""
    generator = torch.Generator().manual_seed(0)
    photos = torch.rand(2, 3, 224, 224, generator=generator)
    photos[1] = photos[1].flip(-1) * 0.5
    result = METHODS["deconvnet"](lite0).attribute(photos, 285)
    assert torch.equal(result.template[0], result.template[1])
    assert result.saliency[0].max() > 0


def test_deconvnet_map_depends_on_the_photo_through_max_pool_switches():
    torch.manual_seed(0)
    network = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 8 * 8, 3),
    )
    model = wrap(
        network, mean=(0.5,) * 3, std=(0.5,) * 3, input_size=16, class_names=["a", "b", "c"]
    )
    photos = torch.rand(2, 3, 16, 16)
    result = METHODS["deconvnet"](model).attribute(photos, 0)
    assert not torch.allclose(result.template[0], result.template[1])
