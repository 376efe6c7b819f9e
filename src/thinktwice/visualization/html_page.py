"""A self-contained HTML page of an evaluation: summary table, SVG chart, image gallery.

Plain data in, one HTML string out: no server, no network, no external file. The
summary table and the bar chart (inline SVG) are drawn here; the gallery is
drawn by the page's own script (``assets/report.js``) from the data embedded as
JSON -- photos as JPEG, maps as raw uint8 coloured on a canvas through the
embedded colormap table -- one page of images at a time, so a run of thousands
of images opens quickly. The data's fields are described in
:func:`thinktwice.evaluation.html_report.report_data`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

__all__ = ["bar_chart_svg", "render_page", "summary_table"]

#: matplotlib's tab10, for methods in the chart and the gallery's headers.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
HIGHER_IS_BETTER = frozenset({"pointing", "pointing_class_mean"})


def render_page(page: Mapping[str, Any]) -> str:
    """The whole page for ``page`` (see the module docstring)."""
    title = html.escape(str(page["title"]))
    methods = list(page["methods"])
    colours = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(methods)}
    data = dict(page, colours=colours)
    return _TEMPLATE.format(
        title=title,
        css=_asset("report.css"),
        settings=_settings_list(page.get("settings", {})),
        notes=_notes(page),
        table=summary_table(page["summary"], page["columns"]),
        chart=bar_chart_svg(page["summary"], page["chart_metrics"], page["columns"], colours),
        data=_script_json(data),
        script=_asset("report.js"),
    )


def summary_table(summaries: Mapping[str, Mapping[str, Any]], columns: Mapping[str, str]) -> str:
    """One row per method; the best value of each column in bold."""
    keys = list(columns)
    best = {k: _best(summaries, k) for k in keys}
    head = "".join(f"<th>{html.escape(columns[k])}</th>" for k in keys)
    rows = []
    for method, summary in summaries.items():
        cells = "".join(_cell(summary.get(k), best[k]) for k in keys)
        seconds = summary.get("seconds")
        rows.append(
            f"<tr><th scope=row>{html.escape(method)}</th><td>{summary.get('n', 0)}</td>"
            f"<td>{summary.get('failed', 0)}</td>{cells}"
            f"<td>{'n/a' if seconds is None else f'{seconds:.3f}'}</td></tr>"
        )
    return (
        "<table class=summary><thead><tr><th>method</th><th>images</th><th>unreadable</th>"
        f"{head}<th>s / image</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def bar_chart_svg(
    summaries: Mapping[str, Mapping[str, Any]],
    metrics: Sequence[str],
    names: Mapping[str, str],
    colours: Mapping[str, str],
    *,
    width: int = 820,
    height: int = 300,
) -> str:
    """Grouped bars, one group per metric and one bar per method, values in percent."""
    methods = [m for m, s in summaries.items() if s.get("n")]
    if not methods or not metrics:
        return "<p class=note>No scored image yet: nothing to chart.</p>"
    left, right, top, bottom = 48, 12, 34, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    group_w = plot_w / len(metrics)
    bar_w = min(28.0, group_w * 0.8 / len(methods))
    parts = [
        f'<svg class=chart viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'role="img" aria-label="errors and pointing accuracy per method" '
        'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">'
    ]
    for tick in (0, 25, 50, 75, 100):
        y = top + plot_h * (1 - tick / 100)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{tick}%</text>'
        )
    for g, metric in enumerate(metrics):
        x0 = left + g * group_w + (group_w - bar_w * len(methods)) / 2
        for b, method in enumerate(methods):
            value = summaries[method].get(metric)
            if value is None:
                continue
            bar_h = plot_h * float(value)
            x, y = x0 + b * bar_w, top + plot_h - bar_h
            label = f"{method}: {names.get(metric, metric)} {100 * float(value):.1f}%"
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{bar_h:.1f}" '
                f'fill="{colours[method]}"><title>{html.escape(label)}</title></rect>'
            )
        arrow = "higher is better" if metric in HIGHER_IS_BETTER else "lower is better"
        cx = left + (g + 0.5) * group_w
        parts.append(
            f'<text x="{cx:.1f}" y="{height - bottom + 16}" text-anchor="middle">'
            f"{html.escape(names.get(metric, metric))}</text>"
            f'<text x="{cx:.1f}" y="{height - bottom + 30}" text-anchor="middle" fill="#777">'
            f"{arrow}</text>"
        )
    for i, method in enumerate(methods):
        x = left + i * 130
        parts.append(
            f'<rect x="{x}" y="8" width="12" height="12" fill="{colours[method]}"/>'
            f'<text x="{x + 16}" y="18">{html.escape(method)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _best(summaries: Mapping[str, Mapping[str, Any]], key: str) -> float | None:
    values = [s[key] for s in summaries.values() if s.get(key) is not None]
    if len(set(values)) < 2:  # one method, or a tie of all: nothing stands out
        return None
    return max(values) if key in HIGHER_IS_BETTER else min(values)


def _cell(value: Any, best: float | None) -> str:
    marked = " class=best" if value is not None and value == best else ""
    return f"<td{marked}>{_percent(value)}</td>"


def _percent(value: Any) -> str:
    return "n/a" if value is None else f"{100 * float(value):.1f}%"


def _settings_list(settings: Mapping[str, Any]) -> str:
    items = []
    for key, value in settings.items():
        if value in (None, {}, []):
            continue
        shown = value if isinstance(value, str) else json.dumps(value)
        items.append(
            f"<div><dt>{html.escape(str(key))}</dt><dd>{html.escape(str(shown))}</dd></div>"
        )
    return f"<dl class=settings>{''.join(items)}</dl>"


def _notes(page: Mapping[str, Any]) -> str:
    missing = page.get("missing_maps", 0)
    if not missing:
        return ""
    return (
        f"<p class=note>{missing} image(s) have no stored photo or maps (a run made before "
        "maps were stored, or images still in progress): they are listed with scores only.</p>"
    )


def _script_json(data: Any) -> str:
    """JSON safe inside a <script> element (no '<' that could close it)."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def _asset(name: str) -> str:
    return resources.files("thinktwice.visualization").joinpath("assets", name).read_text("utf-8")


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>thinktwice report: {title}</title>
<style>
{css}
</style>
</head>
<body>
<header>
<h1>{title}</h1>
{settings}
{notes}
</header>
<section id="summary">
<h2>Summary</h2>
{table}
{chart}
</section>
<section id="gallery-section">
<h2>Gallery</h2>
<div id="controls"></div>
<div id="pair"></div>
<div id="status" aria-live="polite"></div>
<div id="gallery"></div>
<div id="pager"></div>
</section>
<div id="zoom" hidden></div>
<script type="application/json" id="report-data">{data}</script>
<script>
{script}
</script>
</body>
</html>
"""
