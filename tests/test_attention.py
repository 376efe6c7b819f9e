"""Top-down attention gates (``solver="attention"``, ``preset="gains"``) and the gate-gains
map, on a network small enough to work out by hand and on the shipped model."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from skimage import data as skimage_data
from torch import nn

from thinktwice import wrap
from thinktwice.attribution.feedback import Feedback
from thinktwice.attribution.gradcam import GradCAM
from thinktwice.errors import OptionError
from thinktwice.feedback.solvers.attention import TopDownAttention
from thinktwice.hooks.sites import finer_feature_map, module_site


def _two_scale_classifier():
    """4x4 RGB -> 1x1 conv reading red -> ReLU (the fine 4x4 map) -> 2x2 average pool ->
    1x1 conv to 2 channels with weights (1, 2) -> ReLU (the coarse 2x2 class-map layer) ->
    global average pool -> linear (2 classes, rows (1, 1) and (0, 0)); no biases."""
    red = nn.Conv2d(3, 1, 1, bias=False)
    widen = nn.Conv2d(1, 2, 1, bias=False)
    head = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        red.weight.copy_(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1))
        widen.weight.copy_(torch.tensor([1.0, 2.0]).view(2, 1, 1, 1))
        head.weight.copy_(torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
    network = nn.Sequential(
        red, nn.ReLU(), nn.AvgPool2d(2), widen, nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), head,
    )  # fmt: skip
    return wrap(network, mean=(0, 0, 0), std=(1, 1, 1), input_size=4, class_names=["a", "b"])


def _red_corner() -> torch.Tensor:
    """Red only in the top-left 2x2 block: (0.8, 0.4 / 0.4, 0.8)."""
    image = torch.zeros(1, 3, 4, 4)
    image[0, 0, :2, :2] = torch.tensor([[0.8, 0.4], [0.4, 0.8]])
    return image


def test_the_fine_level_is_the_map_that_feeds_the_last_downsampling_below_grad_cam():
    model = _two_scale_classifier()
    probe = torch.rand(1, 3, 4, 4)
    coarse = module_site(model, "network.4", probe)
    assert coarse.shape == (2, 2, 2)
    fine = finer_feature_map(model, probe, coarse)
    assert (fine.name, fine.kind, fine.shape) == ("network.1", "activation", (1, 4, 4))


def test_attention_gates_and_gains_by_hand():
    """Pass 0: the pooled map p = (0.6, 0 / 0, 0); A = (p, 2p); S = 3 mean(p) = 0.45;
    dS/dA_k = 1/4 for both channels, so Grad-CAM = relu(p/4 + 2p/4) = (0.45, 0 / 0, 0).
    Resized to 4x4 (bilinear, half-pixel centres) each axis weighs the corner cell by
    a = (1, 0.75, 0.25, 0); min-max normalised, the gate is a_i a_j.
    Pass 1: the red block becomes (0.8, 0.3 / 0.3, 0.45), p = 0.4625 in the corner,
    S = 3 * 0.4625 / 4 = 0.346875. The gradient at the gated fine map is 3/4 * 1/4 = 3/16
    where the pooled cell is positive (0 elsewhere: relu'(0) = 0), so the gains are
    3/16 * (0.8, 0.3 / 0.3, 0.45) in the corner and 0 elsewhere. The gate the second
    pass's map would set is the same: converged."""
    feedback = Feedback(_two_scale_classifier(), preset="gains")
    result = feedback.attribute(_red_corner(), 0)
    assert torch.allclose(result.scores[:, 0], torch.tensor([0.45, 0.346875]))
    expected = torch.zeros(4, 4)
    expected[:2, :2] = 3 / 16 * torch.tensor([[0.8, 0.3], [0.3, 0.45]])
    assert torch.allclose(result.saliency[0], expected, atol=1e-7)
    assert result.details["converged"].tolist() == [True]
    a = torch.tensor([1.0, 0.75, 0.25, 0.0])
    assert torch.isclose(result.details["open_fraction"][1, 0, 0], torch.outer(a, a).mean())


def test_a_pair_without_evidence_keeps_its_gates_open():
    """A flat class map gives open gates: a fixed point after the first pass."""
    feedback = Feedback(_two_scale_classifier(), preset="gains")
    result = feedback.attribute(torch.zeros(1, 3, 4, 4), 0)
    assert torch.equal(result.details["open_fraction"][:, 0, 0], torch.ones(1))
    assert result.details["converged"].tolist() == [True]
    assert torch.equal(result.saliency, torch.zeros(1, 4, 4))


def _layer_cam(model, layer: str, images: torch.Tensor, targets: list[int]) -> torch.Tensor:
    """LayerCAM (Jiang et al., 2021) at ``layer``, computed with plain hooks."""
    captured = []
    module = dict(model.named_modules())[layer]
    handle = module.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        with torch.enable_grad():
            logits = model(images.requires_grad_(True))
            (grad,) = torch.autograd.grad(logits[range(len(targets)), targets].sum(), captured[0])
    finally:
        handle.remove()
    cam = (grad.clamp_min(0) * captured[0]).sum(1, keepdim=True)
    return nn.functional.interpolate(cam, size=images.shape[-2:], mode="bilinear")[:, 0]


def test_with_no_feedback_pass_the_gains_are_layer_cam_of_the_fine_map(lite0):
    photos = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    ours = Feedback(lite0, preset="gains", max_iter=0).attribute(photos, [285, 1])
    reference = _layer_cam(lite0.eval(), "network._blocks.11._act0", photos, [285, 1])
    assert torch.allclose(ours.saliency, reference, rtol=1e-4, atol=1e-6)


def test_attention_on_the_shipped_model(lite0):
    image = lite0.preprocess(Image.fromarray(skimage_data.chelsea()))[None].repeat(2, 1, 1, 1)
    feedback = Feedback(lite0, preset="gains")
    assert feedback.fine_site.name == "network._blocks.11._act0"
    assert feedback.observed[0].name == lite0.gradcam_layer
    result = feedback.attribute(image, [285, 1])
    gates = result.details["open_fraction"]
    assert gates.shape == (2, 1, 2) and bool((gates >= 0).all() and (gates <= 1).all())
    assert bool((gates[1] < 1).all())  # the class map dimmed part of the fine map
    assert bool((result.saliency >= 0).all())
    cam = GradCAM(lite0).attribute(image, [285, 1]).saliency
    assert not torch.allclose(result.saliency / result.saliency.amax(), cam / cam.amax())


def test_fine_layer_and_gains_options_are_checked(lite0):
    with pytest.raises(OptionError, match="saliency"):
        Feedback(lite0, preset="gains", saliency="gain")
    relaxed_fine = Feedback(lite0, solver="relaxed", layers="fine", saliency="gains")
    assert relaxed_fine.fine_site.name == "network._blocks.11._act0"
    assert relaxed_fine.observed == []  # only the attention solver reads the class map


def test_the_default_on_a_net_without_a_finer_map_gates_the_class_maps_own_layer():
    """A user's one-convolution net has no feature map finer than its class map: the default
    still explains it, gating that layer itself, and says so."""
    network = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 2))
    model = wrap(network, input_size=8, class_names=["a", "b"])
    with pytest.warns(RuntimeWarning, match="gates 'network.1', the class map's own layer"):
        feedback = Feedback(model)
    result = feedback.attribute(torch.rand(3, 3, 8, 8), [0, 1, 1])
    assert result.saliency.shape == (3, 8, 8) and torch.isfinite(result.saliency).all()
    assert float(result.saliency.min()) >= 0 and float(result.saliency.max()) <= 1  # fused
    assert result.details["sites"] == ["network.1"]


def test_intermediate_passes_stop_their_backward_at_the_class_map_layer(lite0, monkeypatch):
    """The attention update reads only the observed class map, so its first pass needs no
    backward below it; the maps are those of a backward down to the gated site."""
    photos = torch.rand(3, 3, 224, 224)
    fast = Feedback(lite0).attribute(photos, [285, 1, 281])
    monkeypatch.setattr(TopDownAttention, "reads_observed_only", False)
    full = Feedback(lite0).attribute(photos, [285, 1, 281])
    torch.testing.assert_close(fast.saliency, full.saliency, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fast.scores, full.scores)
