"""Weakly supervised localization: from a saliency map to an object box."""

from thinktwice.localization.boxes import Box, intersection, iou

__all__ = ["Box", "intersection", "iou"]
