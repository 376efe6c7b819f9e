"""Boxes and their overlap.

Convention (the ILSVRC and PASCAL VOC one): a box ``(x0, y0, x1, y1)`` holds the
pixels with ``x0 <= x <= x1`` and ``y0 <= y <= y1``, both ends *inclusive*, in
the pixel grid of the original image. A one-pixel box has ``x0 == x1``; its
width is ``x1 - x0 + 1``. Readers of formats with exclusive far edges convert
on reading (see :meth:`Box.from_exclusive`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, order=True)
class Box:
    """An axis-aligned box in inclusive pixel coordinates."""

    x0: int
    y0: int
    x1: int
    y1: int

    def __post_init__(self) -> None:
        if self.x1 < self.x0 or self.y1 < self.y0:
            raise ValueError(f"empty box {self.as_list()}: need x0 <= x1 and y0 <= y1")

    @classmethod
    def from_exclusive(cls, x0: float, y0: float, x1: float, y1: float) -> Box:
        """From far edges that lie one past the last pixel (x1 = x0 + width)."""
        left, top = int(round(x0)), int(round(y0))
        return cls(left, top, max(left, int(round(x1)) - 1), max(top, int(round(y1)) - 1))

    @classmethod
    def from_mask(cls, mask: np.ndarray) -> Box | None:
        """The tightest box around the true pixels of a 2-D mask, None when it has none."""
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        if rows.size == 0:
            return None
        return cls(int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1]))

    @property
    def width(self) -> int:
        return self.x1 - self.x0 + 1

    @property
    def height(self) -> int:
        return self.y1 - self.y0 + 1

    @property
    def area(self) -> int:
        return self.width * self.height

    def as_list(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]

    def clip(self, width: int, height: int) -> Box:
        """This box cut to an image of ``width`` x ``height`` pixels."""
        x0 = min(max(self.x0, 0), width - 1)
        y0 = min(max(self.y0, 0), height - 1)
        return Box(x0, y0, min(max(self.x1, x0), width - 1), min(max(self.y1, y0), height - 1))

    def scale(self, sx: float, sy: float) -> Box:
        """This box on a grid resized by ``sx`` horizontally and ``sy`` vertically.

        Pixel ``x`` covers ``[x, x + 1)``; the scaled box covers the scaled span.
        """
        return Box.from_exclusive(
            self.x0 * sx, self.y0 * sy, (self.x1 + 1) * sx, (self.y1 + 1) * sy
        )

    def distance_to(self, x: float, y: float) -> float:
        """Euclidean distance from pixel (x, y) to the nearest pixel of the box (0 inside)."""
        dx = max(self.x0 - x, 0.0, x - self.x1)
        dy = max(self.y0 - y, 0.0, y - self.y1)
        return float(np.hypot(dx, dy))


def intersection(a: Box, b: Box) -> int:
    """Number of pixels the two boxes share."""
    width = min(a.x1, b.x1) - max(a.x0, b.x0) + 1
    height = min(a.y1, b.y1) - max(a.y0, b.y0) + 1
    return max(width, 0) * max(height, 0)


def iou(a: Box, b: Box) -> float:
    """Intersection over union, counted in pixels (inclusive convention)."""
    inter = intersection(a, b)
    return inter / float(a.area + b.area - inter)
