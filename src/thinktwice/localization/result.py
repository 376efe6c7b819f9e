"""What a localizer returns: a box, or the reason there is none."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from thinktwice.localization.boxes import Box


@dataclass(frozen=True)
class Localization:
    """A box in original-image pixels (inclusive), or None with a short ``reason``.

    ``mask`` is the foreground component the box was taken from (original size).
    """

    box: Box | None
    reason: str | None = None
    mask: np.ndarray | None = field(default=None, repr=False, compare=False)

    @classmethod
    def none(cls, reason: str) -> Localization:
        return cls(box=None, reason=reason)


def map_problem(saliency: np.ndarray) -> str | None:
    """Why a saliency map cannot seed a box, or None when it can."""
    if saliency.ndim != 2 or saliency.size == 0:
        return f"saliency map must be 2-D and non-empty, got shape {saliency.shape}"
    if not np.isfinite(saliency).all():
        return "saliency map has NaN or infinite values"
    if float(saliency.max()) <= 0:
        return "empty saliency map (no positive value)"
    if float(saliency.max()) == float(saliency.min()):
        return "flat saliency map"
    return None


def to_image_size(saliency: np.ndarray, width: int, height: int) -> np.ndarray:
    """The map stretched onto the original pixel grid.

    Bilinear when enlarging; area averaging when shrinking (bilinear would alias a
    224-pixel map onto a 64-pixel photo by sampling single pixels).
    """
    smap = np.ascontiguousarray(saliency, dtype=np.float32)
    if smap.shape == (height, width):
        return smap
    shrinking = width * height < smap.shape[0] * smap.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(smap, (width, height), interpolation=interpolation)


def largest_component(mask: np.ndarray) -> np.ndarray | None:
    """The largest 8-connected component of a boolean mask, None when the mask is empty."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    if count <= 1:
        return None
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == biggest


def component_box(mask: np.ndarray, empty_reason: str) -> Localization:
    """The tight box of the largest component of ``mask``."""
    component = largest_component(mask)
    if component is None:
        return Localization.none(empty_reason)
    box = Box.from_mask(component)
    assert box is not None
    return Localization(box=box, mask=component)
