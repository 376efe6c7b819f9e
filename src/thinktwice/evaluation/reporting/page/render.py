"""A self-contained HTML page of an evaluation: summary table, SVG chart, image gallery.

Plain data in, one HTML string out: no server, no network, no external file. The
summary table, the bar chart (inline SVG) and the paired comparisons are drawn here; the gallery is
drawn by the page's own script (``report.js``, beside this file) from the data embedded as
JSON -- photos as JPEG, maps as raw uint8 coloured on a canvas through the
embedded colormap table -- one page of images at a time, so a run of thousands
of images opens quickly. The data's fields are the types of :mod:`.data`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from thinktwice.evaluation.metrics.paired import p_value_text
from thinktwice.evaluation.reporting.page.data import Column, ReportPage, page_json

__all__ = ["bar_chart_svg", "paired_tables", "render_page", "summary_table"]

#: matplotlib's tab10, for methods in the chart and the gallery's headers.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip


def render_page(page: ReportPage) -> str:
    """The whole page for ``page`` (see the module docstring)."""
    title = html.escape(page.title)
    labels = page.method_labels
    colours = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(page.methods)}
    chart = [c for c in page.columns if c.key in page.chart_metrics]
    return _asset("template.html").format(
        title=title,
        css=_asset("report.css"),
        settings=_settings_list(page.settings),
        notes=_notes(page.missing_maps),
        table=summary_table(page.summary, page.columns, labels),
        summary_notes="".join(f"<p class=small>{html.escape(n)}</p>" for n in page.summary_notes),
        chart=bar_chart_svg(page.summary, chart, colours, labels),
        paired=paired_tables(page.paired, labels),
        data=page_json(page, colours),
        script=_asset("report.js"),
    )


def summary_table(
    summaries: Mapping[str, Mapping[str, Any]],
    columns: Sequence[Column],
    labels: Mapping[str, str] | None = None,
) -> str:
    """One row per method (by its display name); the best value of each column in bold."""
    labels = labels or {}
    best = {c.key: _best(summaries, c.key, c.higher) for c in columns}
    head = "".join(f"<th>{html.escape(c.name)}</th>" for c in columns)
    rows = []
    for method, summary in summaries.items():
        cells = "".join(_cell(summary, c, best[c.key]) for c in columns)
        rows.append(
            f"<tr><th scope=row>{html.escape(labels.get(method, method))}</th>"
            f"<td>{summary.get('n', 0)}</td><td>{summary.get('failed', 0)}</td>{cells}"
            f"{_seconds_cell(summary.get('seconds_per_image'))}</tr>"
        )
    return (
        "<table class=summary><thead><tr><th>method</th><th>images</th><th>unreadable</th>"
        f"{head}<th>s / image</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def bar_chart_svg(
    summaries: Mapping[str, Mapping[str, Any]],
    columns: Sequence[Column],
    colours: Mapping[str, str],
    labels: Mapping[str, str] | None = None,
    *,
    width: int = 820,
    height: int = 300,
) -> str:
    """Grouped bars, one group per column (fractions shown in percent), one bar per method."""
    labels = labels or {}
    methods = [m for m, s in summaries.items() if s.get("n")]
    if not methods or not columns:
        return "<p class=note>No scored image yet: nothing to chart.</p>"
    left, right, top, bottom = 48, 12, 34, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    group_w = plot_w / len(columns)
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
    for g, column in enumerate(columns):
        x0 = left + g * group_w + (group_w - bar_w * len(methods)) / 2
        for b, method in enumerate(methods):
            value = summaries[method].get(column.key)
            if value is None:
                continue
            bar_h = plot_h * float(value)
            x, y = x0 + b * bar_w, top + plot_h - bar_h
            label = f"{labels.get(method, method)}: {column.name} {100 * float(value):.1f}%"
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{bar_h:.1f}" '
                f'fill="{colours[method]}"><title>{html.escape(label)}</title></rect>'
            )
        arrow = "higher is better" if column.higher else "lower is better"
        cx = left + (g + 0.5) * group_w
        parts.append(
            f'<text x="{cx:.1f}" y="{height - bottom + 16}" text-anchor="middle">'
            f"{html.escape(column.name)}</text>"
            f'<text x="{cx:.1f}" y="{height - bottom + 30}" text-anchor="middle" fill="#777">'
            f"{arrow}</text>"
        )
    for i, method in enumerate(methods):
        x = left + i * 130
        parts.append(
            f'<rect x="{x}" y="8" width="12" height="12" fill="{colours[method]}"/>'
            f'<text x="{x + 16}" y="18">{html.escape(labels.get(method, method))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def paired_tables(paired: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> str:
    """The reference method against each other one, image by image: McNemar on localization
    and Wilcoxon signed-rank on the faithfulness AUCs (the "paired" part of summary.json)."""
    labels = labels or {}
    name = html.escape(labels.get(paired.get("reference", ""), paired.get("reference", "")))
    parts = []
    if paired.get("localization"):
        rows = [
            [labels.get(c["other"], c["other"]), c["criterion"], c["images"], c["only_method"],
             c["only_other"], f"{c['z']:+.2f}", p_value_text(c["p_value"])]
            for c in paired["localization"]
        ]  # fmt: skip
        parts.append(
            f"<h3>{name} against each method, image by image or trial by trial (McNemar)</h3>"
            + _table(
                [
                    "against",
                    "localized with / pointing",
                    "images or trials",
                    f"only {name}",
                    "only the other",
                    "z",
                    "exact p",
                ],
                rows,
                "paired-localization",
            )  # fmt: skip
            + '<p class=small>An image counts under "GT label" when every ground-truth class '
            "of it is localized; pointing rows count trials, one per (image, label); exact p: "
            "two-sided binomial test on the two discordant "
            "counts.</p>"
        )
    if paired.get("faithfulness"):
        rows = [
            [labels.get(c["other"], c["other"]), c["score"], c["images"],
             f"{c['mean_method']:.3f}", f"{c['mean_other']:.3f}", c["better"], c["worse"],
             f"{c['z']:+.2f}", p_value_text(c["p_value"])]
            for c in paired["faithfulness"]
        ]  # fmt: skip
        parts.append(
            f"<h3>{name} against each method, faithfulness image by image "
            "(Wilcoxon signed-rank)</h3>"
            + _table(
                [
                    "against",
                    "score",
                    "images",
                    f"mean {name}",
                    "mean other",
                    f"{name} better",
                    f"{name} worse",
                    "z",
                    "p",
                ],
                rows,
                "paired-faithfulness",
            )  # fmt: skip
            + "<p class=small>Deletion AUC: lower is better; insertion AUC: higher is better. "
            "p: two-sided Wilcoxon signed-rank test on the per-image differences.</p>"
        )
    return "".join(parts)


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], css_id: str) -> str:
    """Headings are HTML already; cells are escaped here."""
    header = "".join(f"<th>{h}</th>" for h in head)
    body = "".join(
        f"<tr><th scope=row>{html.escape(str(row[0]))}</th>"
        + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row[1:])
        + "</tr>"
        for row in rows
    )
    return (
        f"<table class=summary id={css_id}><thead><tr>{header}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _best(summaries: Mapping[str, Mapping[str, Any]], key: str, higher: bool) -> float | None:
    values = [s[key] for s in summaries.values() if s.get(key) is not None]
    if len(set(values)) < 2:  # one method, or a tie of all: nothing stands out
        return None
    return max(values) if higher else min(values)


def _cell(summary: Mapping[str, Any], column: Column, best: float | None) -> str:
    value = summary.get(column.key)
    marked = " class=best" if value is not None and value == best else ""
    if value is None:
        text = "n/a"
    elif column.format == "percent":
        text = f"{100 * float(value):.1f}%"
    else:
        text = f"{float(value):.3f}"
    if column.trials:
        text += f" ({summary.get(column.trials, 0)})"
    return f"<td{marked}>{text}</td>"


def _seconds_cell(parts: Mapping[str, float] | None) -> str:
    """The mean seconds per image, its parts (saliency, localize, ...) in the tooltip."""
    if not parts:
        return "<td>n/a</td>"
    detail = ", ".join(f"{part} {seconds:.3f} s" for part, seconds in parts.items())
    return f"<td title='{html.escape(detail)}'>{sum(parts.values()):.3f}</td>"


def _settings_list(settings: Mapping[str, Any]) -> str:
    items = []
    for key, value in settings.items():
        if value in (None, {}, []):
            continue
        shown = value if isinstance(value, str) else json.dumps(value)  # plain data: as JSON
        items.append(
            f"<div><dt>{html.escape(str(key))}</dt><dd>{html.escape(str(shown))}</dd></div>"
        )
    return f"<dl class=settings>{''.join(items)}</dl>"


def _notes(missing: int) -> str:
    if not missing:
        return ""
    return (
        f"<p class=note>{missing} image(s) have no stored photo or maps (a run made before "
        "maps were stored, or images still in progress): they are listed with scores only.</p>"
    )


def _asset(name: str) -> str:
    """A file of this folder: the page's template, style sheet or script."""
    return resources.files("thinktwice.evaluation.reporting.page").joinpath(name).read_text("utf-8")
