"""What an evaluation leaves beside its results: summary.json, a markdown table, a bar chart."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from thinktwice.evaluation.paired import PairedComparison, markdown_paired
from thinktwice.visualization import bar_chart, save_figure
from thinktwice.visualization.files import atomic_write

SUMMARY_NAME = "summary.json"
TABLE_NAME = "summary.md"
CHART_NAME = "errors.png"
CHART_METRICS = ("loc_error_gt", "loc_error_top1", "loc_error_top5", "cls_error_top1", "pointing")
COLUMNS = {
    "loc_error_gt": "loc. error (GT label)",
    "loc_error_top1": "loc. error top-1",
    "loc_error_top5": "loc. error top-5",
    "cls_error_top1": "cls. error top-1",
    "cls_error_top5": "cls. error top-5",
    "pointing": "pointing acc.",
    "pointing_class_mean": "pointing (class mean)",
}


def write_report(
    out_dir: Path,
    summaries: Mapping[str, Mapping[str, Any]],
    title: str,
    paired: Sequence[PairedComparison] = (),
) -> dict[str, Path]:
    """Write the three report files atomically; returns their paths by kind.

    ``paired`` comparisons, when given, follow the table in the markdown file.
    """
    text = json.dumps(summaries, indent=2) + "\n"
    table = markdown_summary(summaries, title)
    if paired:
        table += "\n" + markdown_paired(paired)
    paths = {
        "summary": atomic_write(out_dir / SUMMARY_NAME, lambda h: h.write(text.encode())),
        "table": atomic_write(out_dir / TABLE_NAME, lambda h: h.write(table.encode())),
    }
    measured = {m: _chart_values(s) for m, s in summaries.items() if s.get("n")}
    if measured:
        figure = bar_chart(measured, list(CHART_METRICS), title=title, ylabel="error / accuracy")
        paths["chart"] = save_figure(figure, out_dir / CHART_NAME)
    return paths


def markdown_summary(summaries: Mapping[str, Mapping[str, Any]], title: str) -> str:
    """One row per method; errors and pointing accuracy as percentages."""
    keys = list(COLUMNS)
    lines = [
        f"### {title}",
        "",
        "| method | images | " + " | ".join(COLUMNS[k] for k in keys) + " |",
        "|---|---:|" + "---:|" * len(keys),
    ]
    for method, summary in summaries.items():
        cells = [_percent(summary.get(k)) for k in keys]
        lines.append(f"| {method} | {summary.get('n', 0)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _chart_values(summary: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(summary[k]) for k in CHART_METRICS if summary.get(k) is not None}


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"
