"""Pictures of saliency: overlays, boxes and the paper's figures, from plain numpy arrays.

Nothing here depends on the rest of thinktwice (no torch, no models): every
function takes numpy arrays and returns an array or a matplotlib Figure built
with the object-oriented API (no pyplot state, renders headless with Agg).
Files are written atomically by :func:`save_png` and :func:`save_figure`.
"""

from __future__ import annotations

from thinktwice.visualization.figures import (
    DEFAULT_CMAP,
    bar_chart,
    feedback_trace_figure,
    grid_figure,
    model_comparison_figure,
)
from thinktwice.visualization.files import atomic_write, save_figure, save_png
from thinktwice.visualization.overlay import (
    DEFAULT_COLOURS,
    colourise,
    draw_boxes,
    normalise_saliency,
    overlay,
)

__all__ = [
    "DEFAULT_CMAP",
    "DEFAULT_COLOURS",
    "atomic_write",
    "bar_chart",
    "colourise",
    "draw_boxes",
    "feedback_trace_figure",
    "grid_figure",
    "model_comparison_figure",
    "normalise_saliency",
    "overlay",
    "save_figure",
    "save_png",
]
