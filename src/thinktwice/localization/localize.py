"""One entry point for every box rule."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from thinktwice.errors import OptionError
from thinktwice.localization.coarse_grabcut import coarse_grabcut_box
from thinktwice.localization.grabcut import grabcut_box
from thinktwice.localization.result import Localization
from thinktwice.localization.threshold import threshold_box
from thinktwice.options import BOX_METHODS, DEFAULT_BOX_SMOOTH

__all__ = ["BOX_METHODS", "localize", "smoothed"]


def localize(
    image: np.ndarray,
    saliency: np.ndarray,
    method: str = "grabcut",
    *,
    smooth: float = DEFAULT_BOX_SMOOTH,
    **options: Any,
) -> Localization:
    """The box a saliency map points at, in ``image``'s (original) pixels.

    ``image``: HxWx3 uint8 RGB at its original size; ``saliency``: the map at any
    size; ``method``: ``"grabcut"`` (the paper's), ``"grabcut_coarse"`` (its iterations on a
    small copy, one at full size: faster, not the same boxes) or ``"threshold"``; ``smooth``:
    Gaussian blur of the map first (see :func:`smoothed`; 0 is the paper's recipe).
    """
    saliency = smoothed(np.asarray(saliency, dtype=np.float32), smooth)
    if method == "grabcut":
        return grabcut_box(image, saliency, **options)
    if method == "grabcut_coarse":
        return coarse_grabcut_box(image, saliency, **options)
    if method == "threshold":
        return threshold_box(saliency, (image.shape[1], image.shape[0]), **options)
    raise OptionError(f"unknown box method {method!r}; choose one of: {', '.join(BOX_METHODS)}")


def smoothed(saliency: np.ndarray, smooth: float) -> np.ndarray:
    """``saliency`` blurred by a Gaussian whose sigma is ``smooth`` times the map's longer
    side (0: unchanged). Gradient-type maps are speckled at pixel scale; their quantile
    seeds then scatter over single pixels, which GrabCut cannot grow into the object."""
    if not (isinstance(smooth, int | float) and np.isfinite(smooth) and smooth >= 0):
        raise OptionError(f"smooth must be a number >= 0, got {smooth!r}")
    if smooth == 0 or saliency.ndim != 2:
        return saliency
    return cv2.GaussianBlur(saliency, (0, 0), smooth * max(saliency.shape))
