"""The words on a figure: method display names, class titles, probabilities.

Method keys (``guided_backprop``) are shown by their labels ("Guided backprop"),
which live with the methods (each class's ``label``, read by
:data:`thinktwice.options.METHOD_LABELS`); a method with options other than its
defaults is shown by its display name (``AttributionMethod.display_name``).
"""

from __future__ import annotations

from thinktwice.options import METHOD_LABELS, method_label, model_label

__all__ = [
    "METHOD_LABELS",
    "METRIC_LABELS",
    "class_title",
    "format_probability",
    "method_label",
    "metric_label",
    "model_label",
]

LOWER_IS_BETTER = "error (lower is better)"
HIGHER_IS_BETTER = "accuracy (higher is better)"
#: Evaluation measure -> (panel title, what its axis shows).
METRIC_LABELS: dict[str, tuple[str, str]] = {
    "loc_error_gt": ("Localization error, GT label", LOWER_IS_BETTER),
    "loc_error_pairs": ("Localization error per (photo, class)", LOWER_IS_BETTER),
    "loc_error_top1": ("Localization error, top-1", LOWER_IS_BETTER),
    "loc_error_top5": ("Localization error, top-5", LOWER_IS_BETTER),
    "cls_error_top1": ("Classification error, top-1", LOWER_IS_BETTER),
    "cls_error_top5": ("Classification error, top-5", LOWER_IS_BETTER),
    "pointing": ("Pointing game", HIGHER_IS_BETTER),
    "pointing_class_mean": ("Pointing game, class mean", HIGHER_IS_BETTER),
    "pointing_difficult_class_mean": ("Pointing game, difficult, class mean", HIGHER_IS_BETTER),
}


def metric_label(metric: str, fallback_axis: str = "value") -> tuple[str, str]:
    """(panel title, axis label) of an evaluation measure; an unknown one keeps its key."""
    return METRIC_LABELS.get(metric, (metric, fallback_axis))


def format_probability(probability: float) -> str:
    """A probability as a percentage with the digits it needs: 62.3%, 4.1%, 0.37%, 0.052%.

    Never "0.00": a small probability keeps two significant digits down to 0.001%.
    """
    percent = 100.0 * float(probability)
    if percent == 0:
        return "0%"
    if 99.95 <= percent < 100:
        return ">99.9%"  # rounding would claim certainty
    if percent >= 1:
        return f"{percent:.1f}%"
    if percent >= 0.1:
        return f"{percent:.2f}%"
    if percent >= 0.001:
        return f"{percent:.2g}%"
    return "<0.001%"


def class_title(name: str, index: int | None = None, probability: float | None = None) -> str:
    """A figure's row title: "Egyptian cat (285)" and, on a second line, "p = 62.3%"."""
    title = name if index is None else f"{name} ({index})"
    return title if probability is None else f"{title}\np = {format_probability(probability)}"
