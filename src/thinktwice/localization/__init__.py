"""Weakly supervised localization: from a saliency map to an object box."""

from thinktwice.localization.boxes import Box, intersection, iou
from thinktwice.localization.coarse_grabcut import coarse_grabcut_box
from thinktwice.localization.grabcut import grabcut_box, grabcut_seeds
from thinktwice.localization.localize import BOX_METHODS, localize, smoothed
from thinktwice.localization.result import Localization
from thinktwice.localization.threshold import threshold_box

__all__ = [
    "BOX_METHODS",
    "Box",
    "Localization",
    "coarse_grabcut_box",
    "grabcut_box",
    "grabcut_seeds",
    "intersection",
    "iou",
    "localize",
    "smoothed",
    "threshold_box",
]
