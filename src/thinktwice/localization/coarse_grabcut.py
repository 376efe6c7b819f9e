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

from thinktwice.localization.grabcut import (
    FLAT_MAP,
    GRABCUT_SEED,
    box_in_photo,
    grabcut_seeds,
    input_problem,
    seeded,
    shrunk,
)
from thinktwice.localization.graph_cut import grabcut_mask
from thinktwice.localization.result import Localization, to_image_size

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
    problem = input_problem(image, saliency)
    if problem:
        return Localization.none(problem)
    height, width = image.shape[:2]
    work = shrunk(image, max_side)
    seeds = grabcut_seeds(to_image_size(np.asarray(saliency), *_size(work)), fg_quantile,
                          bg_quantile)  # fmt: skip
    if not seeded(seeds):
        return Localization.none(FLAT_MAP)
    bgr = cv2.cvtColor(work, cv2.COLOR_RGB2BGR)
    models = np.zeros((1, 65)), np.zeros((1, 65))
    small = shrunk(bgr, coarse_side)
    if small.shape != bgr.shape:
        coarse = grabcut_seeds(to_image_size(np.asarray(saliency), *_size(small)), fg_quantile,
                               bg_quantile)  # fmt: skip
        if seeded(coarse):
            cv2.setRNGSeed(GRABCUT_SEED)
            cv2.grabCut(small, coarse, None, *models, iterations, cv2.GC_INIT_WITH_MASK)
            mask = _refined_start(coarse, seeds)
            cv2.grabCut(bgr, mask, None, *models, max(refine, 1), cv2.GC_EVAL)
            return box_in_photo((mask & 1).astype(bool), width, height)
    # the working size is already small: the paper's recipe, with cv2.grabCut as above
    mask = grabcut_mask(bgr, seeds, iterations, engine="opencv")
    return box_in_photo((mask & 1).astype(bool), width, height)


def _size(image: np.ndarray) -> tuple[int, int]:
    return image.shape[1], image.shape[0]


def _refined_start(coarse: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The coarse result at the working size as probable labels, the seeds kept hard."""
    height, width = seeds.shape
    grown = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_NEAREST)
    mask = np.where(grown & 1, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    hard = (seeds == cv2.GC_BGD) | (seeds == cv2.GC_FGD)
    mask[hard] = seeds[hard]
    return mask
