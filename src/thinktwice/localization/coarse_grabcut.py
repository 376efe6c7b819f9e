"""The paper's GrabCut box, coarse to fine: the iterations on a small copy, one at full size.

GrabCut's cost follows the pixels it segments (about 0.3-0.6 s per iteration on a
512-px photo, 5 iterations). Here the same seeds (the map's 95% / 30% quantiles)
drive all iterations on a copy at most ``coarse_side`` px on its long side; its
colour models and mask then start ``refine`` iterations at the working size
(``max_side``, as :func:`~thinktwice.localization.grabcut.grabcut_box`), where the
full-size seeds stay hard constraints. The box is taken as in the paper's recipe.

It is an approximation of :func:`grabcut_box`, not the same boxes:
``benchmarks/bench_grabcut.py`` measures its speed and how many IoU >= 0.5
verdicts it keeps, on the same maps, side by side (docs/benchmarks.md).
"""

from __future__ import annotations

import cv2
import numpy as np

from thinktwice.localization.grabcut import GRABCUT_SEED, grabcut_seeds
from thinktwice.localization.result import Localization, component_box, map_problem, to_image_size

COARSE_SIDE = 128
REFINE_ITERATIONS = 1


def coarse_grabcut_box(
    image: np.ndarray,
    saliency: np.ndarray,
    *,
    fg_quantile: float = 0.95,
    bg_quantile: float = 0.30,
    iterations: int = 5,
    max_side: int | None = None,
    coarse_side: int = COARSE_SIDE,
    refine: int = REFINE_ITERATIONS,
) -> Localization:
    """Box of the object the map points at, in ``image``'s pixels (see the module)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be HxWx3 uint8, got {image.shape} {image.dtype}")
    problem = map_problem(np.asarray(saliency))
    if problem:
        return Localization.none(problem)
    height, width = image.shape[:2]
    work = _shrunk(image, max_side)
    seeds = grabcut_seeds(to_image_size(np.asarray(saliency), *_size(work)), fg_quantile,
                          bg_quantile)  # fmt: skip
    if not (seeds == cv2.GC_FGD).any() or not (seeds == cv2.GC_BGD).any():
        return Localization.none("saliency map too flat to seed foreground and background")
    bgr = cv2.cvtColor(work, cv2.COLOR_RGB2BGR)
    models = np.zeros((1, 65)), np.zeros((1, 65))
    small = _shrunk(bgr, coarse_side)
    if small.shape != bgr.shape:
        coarse = grabcut_seeds(to_image_size(np.asarray(saliency), *_size(small)), fg_quantile,
                               bg_quantile)  # fmt: skip
        if (coarse == cv2.GC_FGD).any() and (coarse == cv2.GC_BGD).any():
            cv2.setRNGSeed(GRABCUT_SEED)
            cv2.grabCut(small, coarse, None, *models, iterations, cv2.GC_INIT_WITH_MASK)
            mask = _refined_start(coarse, seeds)
            cv2.grabCut(bgr, mask, None, *models, max(refine, 1), cv2.GC_EVAL)
            return _box(mask, width, height)
    mask = seeds.copy()  # the working size is already small: the paper's recipe
    cv2.setRNGSeed(GRABCUT_SEED)
    cv2.grabCut(bgr, mask, None, *models, iterations, cv2.GC_INIT_WITH_MASK)
    return _box(mask, width, height)


def _size(image: np.ndarray) -> tuple[int, int]:
    return image.shape[1], image.shape[0]


def _shrunk(image: np.ndarray, side: int | None) -> np.ndarray:
    height, width = image.shape[:2]
    if side is None or max(height, width) <= side:
        return image
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _refined_start(coarse: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The coarse result at the working size as probable labels, the seeds kept hard."""
    height, width = seeds.shape
    grown = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_NEAREST)
    mask = np.where(grown & 1, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    hard = (seeds == cv2.GC_BGD) | (seeds == cv2.GC_FGD)
    mask[hard] = seeds[hard]
    return mask


def _box(mask: np.ndarray, width: int, height: int) -> Localization:
    """The paper's box from a GrabCut mask at the working size, in the photo's pixels."""
    result = component_box((mask & 1).astype(bool), "no foreground left after GrabCut")
    work_height, work_width = mask.shape
    if result.box is None or (work_width, work_height) == (width, height):
        return result
    box = result.box.scale(width / work_width, height / work_height).clip(width, height)
    full = cv2.resize(result.mask.astype(np.uint8), (width, height),
                      interpolation=cv2.INTER_NEAREST).astype(bool)  # fmt: skip
    return Localization(box=box, mask=full)
