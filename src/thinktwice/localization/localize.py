"""One entry point for every box rule."""

from __future__ import annotations

import os
from typing import Any

import cv2
import numpy as np
from PIL import Image

from thinktwice.errors import InputError, OptionError
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

    ``image``: the photo at its original size, as ``explain`` takes it: an HxWx3 uint8
    RGB array, a PIL image, a path, or a [3, H, W] float tensor in [0, 1];
    ``saliency``: the map at any size (an array or a tensor, e.g.
    ``result.saliency[0]``); ``method``: ``"grabcut"`` (the paper's), ``"grabcut_coarse"``
    (its iterations on a small copy, one at full size: faster, not the same boxes) or
    ``"threshold"``; ``smooth``: Gaussian blur of the map first (see :func:`smoothed`; 0 is
    the paper's recipe).
    """
    image = as_photo(image)
    saliency = smoothed(_as_map(saliency), smooth)
    if method == "grabcut":
        return grabcut_box(image, saliency, **options)
    if method == "grabcut_coarse":
        return coarse_grabcut_box(image, saliency, **options)
    if method == "threshold":
        return threshold_box(saliency, (image.shape[1], image.shape[0]), **options)
    raise OptionError(f"unknown box method {method!r}; choose one of: {', '.join(BOX_METHODS)}")


def as_photo(image: Any) -> np.ndarray:
    """Any photo ``explain`` takes as the HxWx3 uint8 RGB array GrabCut works on; an
    InputError saying what to pass otherwise."""
    if isinstance(image, str | os.PathLike):
        from thinktwice.io.images import image_to_array, load_image

        return image_to_array(load_image(image))
    if isinstance(image, Image.Image):
        from thinktwice.io.images import image_to_array

        return image_to_array(image)
    if hasattr(image, "detach") and getattr(image, "ndim", 0) == 3 and image.shape[0] == 3:
        values = image.detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy()
        return np.round(values * 255).astype(np.uint8)
    if isinstance(image, np.ndarray) and image.shape[2:] == (3,) and image.dtype == np.uint8:
        return image
    raise InputError(
        f"localize needs the photo as an HxWx3 uint8 array, a PIL image, a path or a "
        f"[3, H, W] tensor in [0, 1]; got {type(image).__name__} of shape "
        f"{getattr(image, 'shape', '?')}"
    )


def _as_map(saliency: Any) -> np.ndarray:
    if hasattr(saliency, "detach"):  # a torch tensor
        saliency = saliency.detach().float().cpu().numpy()
    return np.asarray(saliency, dtype=np.float32)


def smoothed(saliency: np.ndarray, smooth: float) -> np.ndarray:
    """``saliency`` blurred by a Gaussian whose sigma is ``smooth`` times the map's longer
    side (0: unchanged). Gradient-type maps are speckled at pixel scale; their quantile
    seeds then scatter over single pixels, which GrabCut cannot grow into the object."""
    if not (isinstance(smooth, int | float) and np.isfinite(smooth) and smooth >= 0):
        raise OptionError(f"smooth must be a number >= 0, got {smooth!r}")
    if smooth == 0 or saliency.ndim != 2:
        return saliency
    return cv2.GaussianBlur(saliency, (0, 0), smooth * max(saliency.shape))
