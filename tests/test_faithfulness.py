"""Deletion and insertion AUC on linear models whose curves are known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from thinktwice.evaluation.metrics.faithfulness import (
    DELETION,
    INSERTION,
    area_under,
    blurred,
    changed_counts,
    faithfulness,
    probability_curves,
    removal_ranks,
    rise_kernel,
)
from thinktwice.models.classifier import wrap

SIDE = 8  # 8 x 8 inputs: 64 pixels


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def linear_model(weights: np.ndarray, mean: float = 0.0) -> nn.Module:
    """Two classes; logit 1 = sum over pixels and channels of weights * normalised input,
    logit 0 = 0, so P(class 1) = sigmoid(logit 1). std 1: normalised = input - mean."""
    layer = nn.Linear(3 * SIDE * SIDE, 2, bias=False)
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[1] = torch.from_numpy(np.tile(weights.ravel(), 3)).float()
    network = nn.Sequential(nn.Flatten(), layer)
    return wrap(network, mean=(mean,) * 3, std=(1.0,) * 3, input_size=SIDE, class_names=["a", "b"])


def trapezoid(values: list[float], xs: list[float]) -> float:
    return sum((xs[i + 1] - xs[i]) * (values[i] + values[i + 1]) / 2 for i in range(len(xs) - 1))


def test_deletion_curve_of_a_linear_model_is_known_in_closed_form():
    """Object: 16 pixels of weight c; image all ones; model mean 0.25 (the deletion fill).
    After step k (4 pixels per step, object first) the logit is c * (1 - 0.25) * 3 channels
    * (16 - 4k) until the object is gone, then the background's, which weighs 0:
    P = sigmoid(0) = 1/2 to the end."""
    c, mean = 0.05, 0.25
    weights = np.zeros((SIDE, SIDE))
    weights[2:6, 2:6] = c
    model = linear_model(weights, mean)
    image = torch.ones(1, 3, SIDE, SIDE)
    saliency = torch.from_numpy(weights.copy())[None].float()
    steps = 16  # 4 pixels per step
    curve = probability_curves(model, image, saliency, [1], DELETION, steps)[0].tolist()
    expected = [sigmoid(c * (1 - mean) * 3 * max(16 - 4 * k, 0)) for k in range(steps + 1)]
    np.testing.assert_allclose(curve, expected, rtol=1e-5)
    xs = [min(4 * k, 64) / 64 for k in range(steps + 1)]
    auc = faithfulness(model, image, saliency, [1], [DELETION], steps)[DELETION][0]
    assert auc == pytest.approx(trapezoid(expected, xs), rel=1e-5)
    # the map that puts the object last deletes it last: a higher (worse) deletion AUC
    reversed_map = -saliency
    worse = faithfulness(model, image, reversed_map, [1], [DELETION], steps)[DELETION][0]
    assert worse > auc + 0.05


def test_insertion_curve_of_a_single_pixel_model_is_known_in_closed_form():
    """One pixel (the centre) of weight c on a black image with a single white pixel there.
    RISE's blur leaves kernel_centre * 1 of it; inserting it (first in saliency order)
    restores 1. With one pixel per step: P = sigmoid(3 c K) at step 0, sigmoid(3 c) after."""
    c = 2.0
    weights = np.zeros((SIDE, SIDE))
    weights[4, 4] = c
    model = linear_model(weights, mean=0.0)
    image = torch.zeros(1, 3, SIDE, SIDE)
    image[0, :, 4, 4] = 1.0
    saliency = torch.from_numpy(weights.copy())[None].float()
    # the centre weight of RISE's kernel from its definition: a Gaussian (sigma 5, truncated
    # at 20 px) folded into an 11-tap window by reflection at its edges, so the centre tap
    # collects the Gaussian's values at offsets 0 and +-11, in each direction
    taps = {t: math.exp(-(t**2) / 50) for t in range(-20, 21)}
    total = sum(taps.values())
    centre_1d = sum(w for t, w in taps.items() if t % 11 == 0) / total
    assert rise_kernel()[5, 5] == pytest.approx(centre_1d**2, rel=1e-9)
    steps = 64
    curve = probability_curves(model, image, saliency, [1], INSERTION, steps)[0].tolist()
    expected = [sigmoid(3 * c * centre_1d**2)] + [sigmoid(3 * c)] * steps
    np.testing.assert_allclose(curve, expected, rtol=1e-5)
    auc = faithfulness(model, image, saliency, [1], [INSERTION], steps)[INSERTION][0]
    assert auc == pytest.approx((expected[0] + expected[1]) / 2 / 64 + expected[1] * 63 / 64)


def test_rise_kernel_is_scipys_gaussian_filter_of_a_delta():
    scipy_ndimage = pytest.importorskip("scipy.ndimage", reason="scipy absent: cannot compare")
    delta = np.zeros((11, 11))
    delta[5, 5] = 1.0
    np.testing.assert_allclose(rise_kernel(), scipy_ndimage.gaussian_filter(delta, 5), atol=1e-12)
    assert rise_kernel().sum() == pytest.approx(1.0)


def test_blur_pads_with_the_mean_colour():
    """A uniform image of the model's mean colour is left as it is (RISE pads the normalised
    input with zeros, i.e. with the mean); any other uniform image darkens towards the mean
    at the border only."""
    mean = torch.tensor([0.2, 0.4, 0.6]).view(1, 3, 1, 1)
    uniform = mean.expand(1, 3, 20, 20).clone()
    torch.testing.assert_close(blurred(uniform, mean), uniform)
    white = torch.ones(1, 3, 20, 20)
    result = blurred(white, mean)
    torch.testing.assert_close(result[..., 5:15, 5:15], white[..., 5:15, 5:15])
    assert (result[..., 0, 0] < 1.0).all() and (result[..., 0, 0] > mean[..., 0, 0]).all()


def test_removal_order_is_decreasing_saliency_with_fixed_tie_breaks():
    saliency = torch.tensor([[[0.1, 0.9], [0.5, 0.3]]])
    assert removal_ranks(saliency).tolist() == [[3, 0, 1, 2]]
    flat = torch.zeros(2, 4, 4)
    first, second = removal_ranks(flat)
    assert torch.equal(first, second)  # the same tie order for every map
    assert sorted(first.tolist()) == list(range(16))
    assert first.tolist() != list(range(16))  # not raster order


def test_counts_auc_and_batching():
    assert changed_counts(10, 4).tolist() == [0, 3, 6, 9, 10]  # the last step is partial
    flat_curve = torch.full((1, 5), 0.4)
    assert area_under(flat_curve, 10, 4).item() == pytest.approx(0.4)
    rng = np.random.default_rng(0)
    model = linear_model(rng.normal(0, 0.1, (SIDE, SIDE)), mean=0.5)
    images = torch.from_numpy(rng.random((3, 3, SIDE, SIDE))).float()
    maps = torch.from_numpy(rng.random((3, SIDE, SIDE))).float()
    for metric in (DELETION, INSERTION):
        one = probability_curves(model, images, maps, [1, 0, 1], metric, 10, chunk=1)
        many = probability_curves(model, images, maps, [1, 0, 1], metric, 10, chunk=64)
        torch.testing.assert_close(one, many)
        assert torch.allclose(one[1], 1 - probability_curves(model, images[1:2], maps[1:2],
                                                             [1], metric, 10)[0])  # fmt: skip
    with pytest.raises(ValueError, match="steps"):
        probability_curves(model, images, maps, [1, 0, 1], DELETION, 0)
    with pytest.raises(ValueError, match="unknown"):
        probability_curves(model, images, maps, [1, 0, 1], "road", 4)
