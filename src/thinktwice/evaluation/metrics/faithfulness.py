"""Is a map faithful to the model? Deletion and insertion AUC (RISE's causal metrics).

Petsiuk, Das and Saenko, "RISE: Randomized Input Sampling for Explanation of
Black-box Models" (BMVC 2018). Facts taken from their code (``eclique/RISE``,
``evaluation.py`` and ``Evaluation.ipynb``):

* the score is the **softmax probability** of the explained class (the notebook
  wraps the network in ``nn.Softmax(dim=1)``);
* pixels are taken in order of decreasing saliency, ``step`` pixels per step,
  and the probability is measured before the first step and after every step
  (``n_steps + 1`` values, the last on a fully changed image);
* **deletion** starts from the image and gives the removed pixels the substrate
  ``torch.zeros_like`` of the *normalised* input, i.e. the normalisation mean:
  removed pixels become the model's mean colour (not black);
* **insertion** starts from a blurred copy -- an 11x11 Gaussian kernel with
  sigma 5 (``gkern``: ``scipy.ndimage.gaussian_filter`` of a centred delta),
  applied per channel with zero padding to the normalised input, so the borders
  fade towards the mean colour -- and gives inserted pixels their original value;
* the AUC is the trapezoid rule with the x axis running from 0 to 1,
  ``(sum - first / 2 - last / 2) / (n - 1)``.

Here everything above holds, with three stated choices:

* the class is the one whose map is scored (each ground-truth label's
  representative class in ``thinktwice eval``; RISE explains the top-1 class);
* ``steps`` (default :data:`DEFAULT_STEPS`) sets the number of steps; RISE uses
  224 steps of 224 pixels on a 224x224 input. The last step may be partial;
  the x axis is the exact fraction of pixels changed;
* ties in the saliency order (flat regions, Grad-CAM's zeros) are broken by one
  fixed pseudo-random permutation of the pixels, the same for every map, so no
  image region is systematically removed first (RISE's ``argsort`` leaves the
  order of ties unspecified).

All steps of all maps go through the model in batches of ``chunk`` images.
Perturbation happens on the model input (the photo resized to the input size,
values in [0, 1]); the map is resized to it (bilinear) if its size differs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from thinktwice.models.classifier import Classifier
from thinktwice.options import DEFAULT_METRIC_STEPS

DELETION = "deletion"
INSERTION = "insertion"
METRICS = (DELETION, INSERTION)
DEFAULT_STEPS = DEFAULT_METRIC_STEPS
BLUR_SIZE = 11
BLUR_SIGMA = 5.0
TIE_SEED = 0
CHUNK = 16  # images per forward: larger chunks ran slower per image on CPU (docs/benchmarks.md)


def rise_kernel(size: int = BLUR_SIZE, sigma: float = BLUR_SIGMA) -> np.ndarray:
    """RISE's blur kernel: ``scipy.ndimage.gaussian_filter`` of a centred delta on a
    ``size`` x ``size`` grid ('reflect' borders, truncated at 4 sigma), without scipy."""
    radius = int(4.0 * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    delta = np.zeros(size)
    delta[size // 2] = 1.0
    # numpy's "symmetric" padding is scipy's "reflect" (d c b a | a b c d | d c b a)
    line = np.correlate(np.pad(delta, radius, mode="symmetric"), taps, mode="valid")
    return np.outer(line, line)


def blurred(inputs: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """RISE's insertion start: each channel blurred, the border padded with ``mean``.

    ``inputs``: [N, 3, H, W] in [0, 1]; ``mean``: the model's [1, 3, 1, 1] input mean.
    """
    kernel = torch.from_numpy(rise_kernel()).to(inputs)
    channels = inputs.shape[1]
    weight = kernel.expand(channels, 1, *kernel.shape)
    centred = inputs - mean
    return F.conv2d(centred, weight, padding=kernel.shape[-1] // 2, groups=channels) + mean


def removal_ranks(saliency: torch.Tensor) -> torch.Tensor:
    """[N, H*W]: each pixel's place in the order of decreasing saliency (0 = first)."""
    flat = torch.nan_to_num(saliency.flatten(1).float(), nan=-math.inf)
    pixels = flat.shape[1]
    shuffle = torch.randperm(pixels, generator=torch.Generator().manual_seed(TIE_SEED))
    order = shuffle[torch.argsort(-flat[:, shuffle], dim=1, stable=True)]
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(pixels).expand_as(order))
    return ranks


def changed_counts(pixels: int, steps: int) -> torch.Tensor:
    """[steps + 1]: how many pixels are changed before each measurement."""
    per_step = math.ceil(pixels / steps)
    return torch.clamp(torch.arange(steps + 1) * per_step, max=pixels)


def probability_curves(
    model: Classifier,
    inputs: torch.Tensor,
    saliency: torch.Tensor,
    targets: Sequence[int] | torch.Tensor,
    metric: str,
    steps: int = DEFAULT_STEPS,
    chunk: int = CHUNK,
) -> torch.Tensor:
    """[N, steps + 1]: the target's softmax probability as pixels are deleted or inserted.

    ``inputs`` [N, 3, H, W] in [0, 1], ``saliency`` [N, h, w], one target class per row.
    """
    _check(metric, steps)
    inputs = inputs.detach().float()
    count, _, height, width = inputs.shape
    maps = torch.as_tensor(saliency).detach().float()
    if maps.shape[-2:] != (height, width):
        maps = F.interpolate(maps[:, None], (height, width), mode="bilinear")[:, 0]
    targets = torch.as_tensor(targets, dtype=torch.long).flatten()
    if len(maps) != count or len(targets) != count:
        raise ValueError(f"need one map and one target per input; got {count} inputs, "
                         f"{len(maps)} maps, {len(targets)} targets")  # fmt: skip
    ranks = removal_ranks(maps)
    counts = changed_counts(height * width, steps)
    mean = model.mean.to(inputs)
    if metric == DELETION:
        start, finish = inputs, mean.expand_as(inputs)
    else:
        start, finish = blurred(inputs, mean), inputs
    points = len(counts)
    curves = torch.empty(count * points)
    with torch.no_grad():
        for low in range(0, count * points, chunk):
            ids = torch.arange(low, min(low + chunk, count * points))
            rows, step = ids // points, ids % points
            changed = (ranks[rows] < counts[step, None]).view(-1, 1, height, width)
            images = torch.where(changed, finish[rows], start[rows])
            probabilities = model(images).float().softmax(dim=1)
            curves[ids] = probabilities[torch.arange(len(ids)), targets[rows]]
    return curves.view(count, points)


def area_under(curves: torch.Tensor, pixels: int, steps: int) -> torch.Tensor:
    """[N]: trapezoid area under each curve, x = fraction of pixels changed (0 to 1)."""
    fractions = changed_counts(pixels, steps).to(curves) / pixels
    return torch.trapezoid(curves, fractions, dim=-1)


def faithfulness(
    model: Classifier,
    inputs: torch.Tensor,
    saliency: torch.Tensor,
    targets: Sequence[int] | torch.Tensor,
    metrics: Sequence[str] = METRICS,
    steps: int = DEFAULT_STEPS,
    chunk: int = CHUNK,
) -> dict[str, np.ndarray]:
    """Per metric (``deletion``, ``insertion``), the AUC of each (input, map, target) row.

    Lower deletion AUC and higher insertion AUC mean a more faithful map.
    """
    pixels = inputs.shape[-2] * inputs.shape[-1]
    return {
        metric: area_under(
            probability_curves(model, inputs, saliency, targets, metric, steps, chunk),
            pixels,
            steps,
        ).numpy()
        for metric in metrics
    }


def _check(metric: str, steps: int) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown faithfulness metric {metric!r}; choose from {METRICS}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
