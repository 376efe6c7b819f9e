"""Pictures of saliency: overlays, boxes and the paper's figures, from plain numpy arrays.

Nothing here depends on the rest of thinktwice but the display names in
:mod:`thinktwice.options` (no torch, no models): every
function takes numpy arrays and returns an array or a matplotlib Figure built
with the object-oriented API (no pyplot state, renders headless with Agg).
Files are written atomically by :func:`save_png` and :func:`save_figure`.
"""

from __future__ import annotations

from thinktwice.visualization.figures import (
    bar_chart,
    feedback_trace_figure,
    grid_figure,
    model_comparison_figure,
    overlay_figure,
)
from thinktwice.visualization.files import atomic_write, save_figure, save_png
from thinktwice.visualization.labels import (
    class_title,
    format_probability,
    method_label,
    metric_label,
    model_label,
)
from thinktwice.visualization.overlay import (
    DEFAULT_ALPHA,
    DEFAULT_CMAP,
    DEFAULT_COLOURS,
    DISPLAY_QUANTILE,
    clip_for_display,
    colourise,
    draw_boxes,
    greyed,
    normalise_saliency,
    overlay,
)

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_CMAP",
    "DEFAULT_COLOURS",
    "DISPLAY_QUANTILE",
    "atomic_write",
    "bar_chart",
    "class_title",
    "clip_for_display",
    "colourise",
    "draw_boxes",
    "feedback_trace_figure",
    "format_probability",
    "greyed",
    "grid_figure",
    "method_label",
    "metric_label",
    "model_comparison_figure",
    "model_label",
    "normalise_saliency",
    "overlay",
    "overlay_figure",
    "save_figure",
    "save_png",
]
