"""What an evaluation leaves beside its results: summary.json, a markdown table, a bar chart.

``summary.json`` holds::

    {"title": ..., "dataset": ..., "split": ..., "model": ...,   # what was evaluated
     "headline": [metric, ...],                               # what leads the tables ([] :
                                                              # the ILSVRC errors, in order)
     "method_labels": {method: display name, ...},            # built from its options
     "methods": {method: {metric: value, ...}, ...},          # MetricsAccumulator.summary()
     "paired": {"reference": "feedback",
                "localization": [McNemar comparison, ...],
                "faithfulness": [Wilcoxon comparison, ...]}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from thinktwice.evaluation.metrics.maxboxacc import markdown_maxboxacc
from thinktwice.evaluation.metrics.paired import (
    PairedComparison,
    PairedScores,
    comparison_json,
    markdown_paired,
    markdown_paired_scores,
)
from thinktwice.io.files import atomic_write
from thinktwice.visualization import bar_chart, save_figure

SUMMARY_NAME = "summary.json"
TABLE_NAME = "summary.md"
CHART_NAME = "errors.png"
CHART_METRICS = ("loc_error_gt", "loc_error_top1", "loc_error_top5", "cls_error_top1", "pointing")
PERCENT_COLUMNS = {
    "loc_error_gt": "loc. error (GT label)",
    "loc_error_pairs": "loc. error per (photo, class)",
    "loc_error_top1": "loc. error top-1",
    "loc_error_top5": "loc. error top-5",
    "cls_error_top1": "cls. error top-1",
    "cls_error_top5": "cls. error top-5",
    "pointing": "pointing acc.",
    "pointing_class_mean": "pointing (class mean)",
    "pointing_difficult": "pointing, difficult (EBP)",
    "pointing_difficult_class_mean": "pointing, difficult (class mean)",
    "pointing_small": "pointing, small objects",
    "maxboxacc_v2": "MaxBoxAccV2",
}
AUC_COLUMNS = {"deletion_auc": "deletion AUC", "insertion_auc": "insertion AUC"}
TRIAL_COUNTS = {
    "pointing_difficult": "pointing_difficult_trials",
    "pointing_difficult_class_mean": "pointing_difficult_trials",
    "pointing_small": "pointing_small_trials",
}
#: The columns where a larger value is better (accuracies, insertion AUC); errors and the
#: deletion AUC are better smaller.
HIGHER_IS_BETTER = frozenset(
    {
        "pointing",
        "pointing_class_mean",
        "pointing_difficult",
        "pointing_difficult_class_mean",
        "pointing_small",
        "insertion_auc",
        "maxboxacc_v2",
    }
)
#: What leads the tables, the chart and the report of a run on photos with several classes
#: (PASCAL VOC): TorchRay's pointing-game numbers (the class mean over all trials and over
#: the EBP-difficult ones) and GrabCut's localization error per (photo, class) pair.
SCENE_HEADLINE = ("pointing_class_mean", "pointing_difficult_class_mean", "loc_error_pairs")
#: Columns shown only in that headline (on single-class photos they repeat another column).
_SCENE_ONLY = frozenset({"pointing_difficult_class_mean", "loc_error_pairs"})
SCENE_NOTE = (
    "Headline (photos with several classes, as TorchRay's VOC07 table): pointing class mean "
    "over all trials and over the EBP-difficult ones, and GrabCut's localization error with "
    "ground-truth labels per (photo, class) pair."
)
POINTING_SUBSETS_NOTE = (
    "Pointing subsets (trials in brackets): difficult = the Excitation Backprop criterion "
    "(the class covers < 1/4 of the image and a non-difficult object of another class is "
    "present, persons included); small objects = "
    "the class covers < 1/4 of the image (docs/metrics.md)."
)


def headline_for(several_classes: bool) -> tuple[str, ...]:
    """The metrics that lead a run's tables: :data:`SCENE_HEADLINE` for photos with several
    classes, else none (the ILSVRC errors in their usual order)."""
    return SCENE_HEADLINE if several_classes else ()


def write_report(
    out_dir: Path,
    summaries: Mapping[str, Mapping[str, Any]],
    title: str,
    paired: Sequence[PairedComparison] = (),
    paired_scores: Sequence[PairedScores] = (),
    about: Mapping[str, Any] | None = None,
    reference: str = "feedback",
    headline: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Write the three report files atomically; returns their paths by kind.

    ``paired`` (McNemar, localization) and ``paired_scores`` (Wilcoxon, faithfulness)
    comparisons of ``reference`` with the other methods go to both summary files;
    ``about`` (dataset, split, model) to summary.json; ``headline`` (see
    :func:`headline_for`) leads the table and is the chart's metrics; ``labels`` (method
    -> display name) name the rows and the chart's bars.
    """
    labels = dict(labels or {})
    document = {
        "title": title,
        **dict(about or {}),
        "headline": list(headline),
        "method_labels": labels,
        "methods": summaries,
        "paired": paired_json(reference, paired, paired_scores),
    }
    text = json.dumps(document, indent=2) + "\n"
    table = markdown_summary(summaries, title, headline, labels)
    sections = (
        markdown_maxboxacc(summaries),
        markdown_paired(paired),
        markdown_paired_scores(paired_scores),
    )
    for section in sections:
        if section:
            table += "\n" + section
    paths = {
        "summary": atomic_write(out_dir / SUMMARY_NAME, lambda h: h.write(text.encode())),
        "table": atomic_write(out_dir / TABLE_NAME, lambda h: h.write(table.encode())),
    }
    metrics = chart_metrics(headline)
    measured = {
        labels.get(m, m): _chart_values(s, metrics) for m, s in summaries.items() if s.get("n")
    }
    if measured:
        counts = {
            labels.get(m, m): chart_counts(s, metrics) for m, s in summaries.items() if s.get("n")
        }
        figure = bar_chart(measured, metrics, title=title, ylabel="error / accuracy", counts=counts)
        paths["chart"] = save_figure(figure, out_dir / CHART_NAME)
    return paths


def paired_json(
    reference: str,
    paired: Sequence[PairedComparison] = (),
    paired_scores: Sequence[PairedScores] = (),
) -> dict[str, Any]:
    """The paired comparisons of ``reference`` with each method, as summary.json (and the
    report page) holds them: McNemar on localization, Wilcoxon on faithfulness."""
    return {
        "reference": reference,
        "localization": [comparison_json(c) for c in paired],
        "faithfulness": [comparison_json(c) for c in paired_scores],
    }


def read_summaries(path: Path) -> dict[str, dict[str, Any]]:
    """The per-method summaries of a summary.json."""
    return json.loads(Path(path).read_text())["methods"]


def chart_metrics(headline: Sequence[str] = ()) -> list[str]:
    """The metrics of errors.png: the headline, else the ILSVRC errors and pointing."""
    return list(headline) or list(CHART_METRICS)


def markdown_summary(
    summaries: Mapping[str, Mapping[str, Any]],
    title: str,
    headline: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
) -> str:
    """One row per method (by its display name in ``labels``): errors and pointing
    accuracies as percentages (subsets with their trial counts), AUCs as fractions;
    columns nothing measured are left out, the ``headline`` columns first."""
    labels = labels or {}
    percent, aucs = measured_columns(summaries, headline)
    headers = [PERCENT_COLUMNS[k] for k in percent] + [AUC_COLUMNS[k] for k in aucs]
    lines = [f"### {title}", ""] + ([SCENE_NOTE, ""] if headline else [])
    lines += [
        "| method | images | " + " | ".join(headers) + " |",
        "|---|---:|" + "---:|" * len(headers),
    ]
    for method, summary in summaries.items():
        cells = [_percent_cell(summary, k) for k in percent]
        cells += [_fraction(summary.get(k)) for k in aucs]
        name = labels.get(method, method)
        lines.append(f"| {name} | {summary.get('n', 0)} | " + " | ".join(cells) + " |")
    if any(k in TRIAL_COUNTS for k in percent):
        lines += ["", POINTING_SUBSETS_NOTE]
    return "\n".join(lines) + "\n"


def measured_columns(
    summaries: Mapping[str, Mapping[str, Any]], headline: Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    """(percent columns, AUC columns) that some method measured, in table order (the
    ``headline`` first); a pointing subset is shown whenever pointing was played
    ("n/a (0)" when it had no trial)."""
    order = [*headline, *(k for k in PERCENT_COLUMNS if k not in headline and k not in _SCENE_ONLY)]
    percent = [k for k in order if _measured(summaries, "pointing" if k in TRIAL_COUNTS else k)]
    return percent, [k for k in AUC_COLUMNS if _measured(summaries, k)]


def _measured(summaries: Mapping[str, Mapping[str, Any]], key: str) -> bool:
    return any(s.get(key) is not None for s in summaries.values())


def _percent_cell(summary: Mapping[str, Any], key: str) -> str:
    cell = _percent(summary.get(key))
    trials = TRIAL_COUNTS.get(key)
    return f"{cell} ({summary.get(trials, 0)})" if trials else cell


def chart_counts(summary: Mapping[str, Any], metrics: Sequence[str]) -> dict[str, int]:
    """How many images (errors), pairs (``loc_error_pairs``) or trials (pointing) stand
    behind each charted value."""
    return {k: int(summary.get(_count_key(k)) or 0) for k in metrics}


def _count_key(metric: str) -> str:
    if metric in TRIAL_COUNTS:
        return TRIAL_COUNTS[metric]
    if metric.startswith("pointing"):
        return "pointing_trials"
    return "loc_pairs" if metric == "loc_error_pairs" else "n"


def _chart_values(summary: Mapping[str, Any], metrics: Sequence[str]) -> dict[str, float]:
    return {k: float(summary[k]) for k in metrics if summary.get(k) is not None}


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _fraction(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
