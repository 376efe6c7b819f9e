"""The authors' notebook recipe (``Feedback(preset="reference")``) on a net small enough to
work out by hand, and its defining properties on the shipped model."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from skimage import data as skimage_data
from torch import nn

from thinktwice import wrap
from thinktwice.attribution.feedback import Feedback
from thinktwice.errors import OptionError
from thinktwice.hooks.sites import find_sites

# the preset's measured failure (boxes) is tested in test_method_names.py
pytestmark = pytest.mark.filterwarnings("ignore:feedback preset 'reference' was measured")


def _tiny_classifier():
    """1x1 RGB image -> conv 1x1 (2 units) -> ReLU -> linear (2 classes); no biases.

    W1 = [[1, -1, 0.5], [-1, 1, 1]], W2 = [[1, 1], [0, 0]], mean 0 and std 1, so the
    network sees the image as it is.
    """
    conv = nn.Conv2d(3, 2, 1, bias=False)
    linear = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, -1.0, 0.5], [-1.0, 1.0, 1.0]]).view(2, 3, 1, 1))
        linear.weight.copy_(torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
    network = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), linear)
    return wrap(network, mean=(0, 0, 0), std=(1, 1, 1), input_size=1, class_names=["a", "b"])


IMAGE = torch.tensor([0.8, 0.2, 0.4]).view(1, 3, 1, 1)


def test_reference_recipe_gates_every_layer_input_and_the_image():
    sites = find_sites(_tiny_classifier(), IMAGE, placement="inputs")
    assert [(s.name, s.kind, s.position) for s in sites] == [
        ("network.0", "layer", "input"),  # the conv's input: the image itself
        ("network.1", "activation", "input"),  # the ReLU's input (pre-activation)
        ("network.3", "layer", "input"),  # the linear layer's input
    ]


def test_reference_recipe_by_hand():
    """Pass 0, all gates open: z = W1 x = (0.8, -0.2), S = relu(z) . (1, 1) = 0.8.
    Gradients: at the linear input (1, 1) -> open both; at the ReLU input (1, 0) ->
    (open, closed); at the image W1^T (1, 0) = (1, -1, 0.5) -> green closed.
    Pass 1: x' = (0.8, 0, 0.4), z = (1.0, -0.4), the second unit's gate closed,
    S = 1.0; the gradients keep their signs, so the gates stay: converged.
    Template dS/dI = gate * W1^T (1, 0) = (1, 0, 0.5); the map's positive part: 1.0."""
    feedback = Feedback(_tiny_classifier(), preset="reference")
    result = feedback.attribute(IMAGE, 0)
    assert torch.allclose(result.scores[:, 0], torch.tensor([0.8, 1.0]))  # stops at a fixed point
    assert result.details["converged"].tolist() == [True]
    assert torch.allclose(result.template.flatten(), torch.tensor([1.0, 0.0, 0.5]))
    assert torch.allclose(result.saliency.flatten(), torch.tensor([1.0]))
    fractions = result.details["open_fraction"][-1, :, 0]  # image, ReLU input, linear input
    assert torch.allclose(fractions, torch.tensor([2 / 3, 1 / 2, 1.0]))


def test_positive_map_keeps_only_evidence_for_the_class():
    """Class a with the plain (abs) map: the green channel's -1 counts; positive: it does not."""
    net = _tiny_classifier()
    plain = Feedback(net, solver="fsp", layers="all", max_iter=0, saliency="abs")
    positive = Feedback(net, solver="fsp", layers="all", max_iter=0, saliency="positive")
    image = torch.tensor([0.1, 0.0, 0.9]).view(1, 3, 1, 1)  # z = (0.55, 0.8): both units on
    # T = W1^T (1, 1) = (0, 0, 1.5) for class a; for class b (zero row) T = 0
    assert torch.allclose(plain.attribute(image, 0).saliency.flatten(), torch.tensor([1.5]))
    assert torch.allclose(positive.attribute(image, 0).saliency.flatten(), torch.tensor([1.5]))
    flipped = nn.Sequential(*list(net.network))
    with torch.no_grad():
        flipped[3].weight.mul_(-1)  # class a now has T = (0, 0, -1.5): no evidence for it
    negated = wrap(flipped, mean=(0, 0, 0), std=(1, 1, 1), input_size=1, class_names=["a", "b"])
    plain = Feedback(negated, solver="fsp", layers="all", max_iter=0, saliency="abs")
    positive = Feedback(negated, solver="fsp", layers="all", max_iter=0, saliency="positive")
    assert torch.allclose(plain.attribute(image, 0).saliency.flatten(), torch.tensor([1.5]))
    assert torch.allclose(positive.attribute(image, 0).saliency.flatten(), torch.tensor([0.0]))


def test_a_closed_gate_never_reopens_on_the_shipped_model(lite0):
    chelsea = lite0.preprocess(Image.fromarray(skimage_data.chelsea()))[None]
    with pytest.warns(RuntimeWarning, match="decreased"):  # the notebook's rule is no ascent
        result = Feedback(lite0, preset="reference").attribute(chelsea, [285])
    fractions = result.details["open_fraction"][:, :, 0]  # [passes, sites]
    assert fractions.shape[0] == 4  # 1 + 3 passes, as the notebook runs
    assert bool((fractions[1:] <= fractions[:-1] + 1e-7).all())
    assert bool((fractions[-1] < 1).any())  # feedback did close gates
    assert bool((result.saliency >= 0).all())


def test_options_beside_a_preset_win_and_unknown_presets_are_refused(lite0):
    feedback = Feedback(lite0, preset="reference", max_iter=1, saliency="abs")
    assert feedback.solver.max_iter == 1 and feedback.saliency == "abs"
    assert feedback.placement == "inputs" and feedback.solver.prune_only
    with pytest.raises(OptionError, match="reference"):
        Feedback(lite0, preset="nope")
    with pytest.raises(OptionError, match="placement"):
        Feedback(lite0, placement="middle")
    with pytest.raises(OptionError, match="saliency"):
        Feedback(lite0, saliency="squared")


def test_gated_grad_cam_with_all_gates_open_is_grad_cam(lite0):
    """With no feedback pass the gates stay open, so the default map must be Grad-CAM's."""
    from thinktwice.attribution.gradcam import GradCAM

    photos = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    ours = Feedback(lite0, max_iter=0, saliency="gradcam").attribute(photos, [285, 1])
    reference = GradCAM(lite0).attribute(photos, [285, 1])
    torch.testing.assert_close(ours.saliency, reference.saliency, rtol=1e-4, atol=1e-6)
    moved = Feedback(lite0, saliency="gradcam").attribute(photos, [285, 1])  # the default gates
    assert not torch.allclose(moved.saliency, reference.saliency)
