"""One entry point for every box rule."""

from __future__ import annotations

from typing import Any

import numpy as np

from thinktwice.errors import OptionError
from thinktwice.localization.grabcut import grabcut_box
from thinktwice.localization.result import Localization
from thinktwice.localization.threshold import threshold_box
from thinktwice.options import BOX_METHODS

__all__ = ["BOX_METHODS", "localize"]


def localize(
    image: np.ndarray, saliency: np.ndarray, method: str = "grabcut", **options: Any
) -> Localization:
    """The box a saliency map points at, in ``image``'s (original) pixels.

    ``image``: HxWx3 uint8 RGB at its original size; ``saliency``: the map at any
    size; ``method``: ``"grabcut"`` (the paper's) or ``"threshold"``.
    """
    saliency = np.asarray(saliency, dtype=np.float32)
    if method == "grabcut":
        return grabcut_box(image, saliency, **options)
    if method == "threshold":
        return threshold_box(saliency, (image.shape[1], image.shape[0]), **options)
    raise OptionError(f"unknown box method {method!r}; choose one of: {', '.join(BOX_METHODS)}")
