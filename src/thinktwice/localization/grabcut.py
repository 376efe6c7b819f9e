"""The paper's box (section 4.2): GrabCut seeded by the saliency map's quantiles.

Pixels above the 95% quantile of the map are definite foreground, pixels below
the 30% quantile definite background; GrabCut's colour models segment the rest;
the largest connected foreground component gives the box.
"""

from __future__ import annotations

import cv2
import numpy as np

from thinktwice.localization.boxes import Box
from thinktwice.localization.graph_cut import GRABCUT_SEED, grabcut_mask
from thinktwice.localization.result import Localization, component_box, map_problem, to_image_size

#: Why a map gives no box when its quantiles seed no foreground or no background.
FLAT_MAP = "saliency map too flat to seed foreground and background"


def grabcut_seeds(
    saliency: np.ndarray, fg_quantile: float = 0.95, bg_quantile: float = 0.30
) -> np.ndarray:
    """GrabCut's initial mask from the map's quantiles.

    Definite foreground: above the fg quantile (at it, when ties leave nothing
    above). Definite background: at or below the bg quantile, so a map that is
    zero on most pixels (Grad-CAM, ReLU'd maps) still seeds its background. The
    band between is probable fg above its midpoint quantile, probable bg below
    (the paper leaves the band to GrabCut; the midpoint biases it neither way).
    """
    if not 0 <= bg_quantile < fg_quantile <= 1:
        raise ValueError(
            f"need 0 <= bg_quantile < fg_quantile <= 1, got {bg_quantile}, {fg_quantile}"
        )
    high, middle, low = np.quantile(
        saliency, [fg_quantile, (fg_quantile + bg_quantile) / 2, bg_quantile]
    )
    foreground = saliency > high
    if not foreground.any():
        foreground = saliency >= high
    seeds = np.where(saliency > middle, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    seeds[(saliency <= low) & ~foreground] = cv2.GC_BGD
    seeds[foreground] = cv2.GC_FGD
    return seeds


def grabcut_box(
    image: np.ndarray,
    saliency: np.ndarray,
    *,
    fg_quantile: float = 0.95,
    bg_quantile: float = 0.30,
    iterations: int = 5,
    max_side: int | None = None,
    engine: str = "auto",
) -> Localization:
    """Box of the object the map points at, in ``image``'s pixels (the paper's recipe).

    ``image``: the ORIGINAL photo, HxWx3 uint8 RGB. ``saliency``: the map at any
    size. ``max_side``: run GrabCut on a copy no larger than this (faster on big
    photos) and scale the box back; None keeps the exact recipe. ``engine``: who runs
    GrabCut, ``"warm"`` (:mod:`thinktwice.localization.graph_cut`, about twice as fast,
    needs PyMaxflow), ``"opencv"`` (``cv2.grabCut``) or ``"auto"`` (warm where PyMaxflow
    is installed); the same masks.
    """
    problem = input_problem(image, saliency)
    if problem:
        return Localization.none(problem)
    height, width = image.shape[:2]
    work = shrunk(image, max_side)
    seeds = grabcut_seeds(
        to_image_size(np.asarray(saliency), work.shape[1], work.shape[0]), fg_quantile, bg_quantile
    )
    if not seeded(seeds):
        return Localization.none(FLAT_MAP)
    return box_in_photo(_grabcut(work, seeds, iterations, engine), width, height)


def input_problem(image: np.ndarray, saliency: np.ndarray) -> str | None:
    """Why ``saliency`` gives no box (see ``map_problem``), None when it can; a ValueError
    when ``image`` is not an HxWx3 uint8 photo."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be HxWx3 uint8, got {image.shape} {image.dtype}")
    return map_problem(np.asarray(saliency))


def seeded(seeds: np.ndarray) -> bool:
    """Whether GrabCut's mask has definite foreground and definite background."""
    return bool((seeds == cv2.GC_FGD).any() and (seeds == cv2.GC_BGD).any())


def shrunk(image: np.ndarray, side: int | None) -> np.ndarray:
    """``image`` resized (area) so its long side is at most ``side``; itself if it is."""
    height, width = image.shape[:2]
    if side is None or max(height, width) <= side:
        return image
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def box_in_photo(foreground: np.ndarray, width: int, height: int) -> Localization:
    """The paper's box (largest component) of a foreground mask at the working size, in the
    ``width`` x ``height`` photo's pixels."""
    result = component_box(foreground, "no foreground left after GrabCut")
    work_height, work_width = foreground.shape
    if result.box is None or (work_width, work_height) == (width, height):
        return result
    box = result.box.scale(width / work_width, height / work_height).clip(width, height)
    full_mask = cv2.resize(
        result.mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST
    ).astype(bool)
    return Localization(box=box, mask=full_mask)


def _grabcut(image: np.ndarray, seeds: np.ndarray, iterations: int, engine: str) -> np.ndarray:
    """Foreground pixels after GrabCut refines ``seeds`` (a copy; the seeds are kept)."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    return (grabcut_mask(bgr, seeds, iterations, engine) & 1).astype(bool)


__all__ = ["GRABCUT_SEED", "Box", "grabcut_box", "grabcut_seeds"]
