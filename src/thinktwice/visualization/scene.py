"""One photo with several objects: per class, its ground truth, and each method's map and box.

The layout of :func:`~thinktwice.visualization.figures.grid_figure` (rows = classes,
columns = methods, the photo first), with the class's ground-truth boxes drawn
dashed in green on every cell and each method's GrabCut box in cyan on its map,
its IoU with the nearest ground-truth box written in the corner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from thinktwice.localization.boxes import Box, iou
from thinktwice.visualization.figures import grid_figure

__all__ = ["SceneCell", "SceneRow", "scene_figure"]

TRUTH_COLOUR = "#3ddc4a"
BOX_COLOUR = "#22d3ee"


@dataclass(frozen=True)
class SceneCell:
    """One method's map of one class, and the box it gave (None: no box)."""

    method: str
    saliency: np.ndarray
    box: Box | None = None


@dataclass(frozen=True)
class SceneRow:
    """One class of the photo: its title, its ground-truth boxes, each method's cell."""

    title: str
    truth: Sequence[Box]
    cells: Sequence[SceneCell] = field(default_factory=tuple)


def scene_figure(
    image: np.ndarray, rows: Sequence[SceneRow], *, title: str | None = None
) -> Figure:
    """The photo and, per class (a row), each method's map with its box (see the module
    docstring); boxes are in the photo's pixels, inclusive corners."""
    grid = [(row.title, [(cell.method, cell.saliency) for cell in row.cells]) for row in rows]
    figure = grid_figure(image, grid, image_title="ground truth", title=title, cell_inches=2.6)
    columns = 1 + len(rows[0].cells)
    axes = figure.axes[: len(rows) * columns]  # the colour bar's axes come last
    for r, row in enumerate(rows):
        cells = axes[r * columns : (r + 1) * columns]
        for ax in cells:
            for truth in row.truth:
                _rectangle(ax, truth, TRUTH_COLOUR, dashed=True)
        for ax, cell in zip(cells[1:], row.cells, strict=True):
            _method_box(ax, cell.box, row.truth)
    return figure


def _method_box(ax: Axes, box: Box | None, truth: Sequence[Box]) -> None:
    if box is None:
        _corner_note(ax, "no box")
        return
    _rectangle(ax, box, BOX_COLOUR, dashed=False)
    overlap = max((iou(box, t) for t in truth), default=0.0)
    _corner_note(ax, f"IoU {overlap:.2f}" + (" ✓" if overlap >= 0.5 else ""))


def _rectangle(ax: Axes, box: Box, colour: str, dashed: bool) -> None:
    ax.add_patch(
        Rectangle(
            (box.x0 - 0.5, box.y0 - 0.5),
            box.x1 - box.x0 + 1,
            box.y1 - box.y0 + 1,
            fill=False,
            edgecolor=colour,
            linewidth=1.6 if dashed else 2.2,
            linestyle=(0, (4, 3)) if dashed else "-",
        )
    )


def _corner_note(ax: Axes, text: str) -> None:
    ax.text(
        0.03,
        0.04,
        text,
        transform=ax.transAxes,
        fontsize=9,
        color="white",
        bbox={"facecolor": "black", "alpha": 0.6, "edgecolor": "none", "pad": 2},
    )
