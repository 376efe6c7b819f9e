"""Matplotlib figures of the paper: saliency grids (Figs. 4, 5), feedback traces, error bars.

Made to be pasted into a paper: the map in a perceptual colormap (inferno) over
the photo in grey, method and model display names, class names with their
probability as row titles, a colour bar on every saliency figure, one panel per
measure in bar charts (errors and pointing accuracy never share an axis).

Every function builds a :class:`matplotlib.figure.Figure` with the object-oriented
API: no pyplot, no global backend or style change, so callers' own plotting is
unaffected and the figures render headless (Agg). Save them with
:func:`thinktwice.visualization.save_figure`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure, SubFigure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from thinktwice.visualization.labels import method_label, metric_label
from thinktwice.visualization.overlay import (
    DEFAULT_ALPHA,
    DEFAULT_CMAP,
    normalise_saliency,
    overlay,
)

__all__ = [
    "DEFAULT_CMAP",
    "bar_chart",
    "feedback_trace_figure",
    "grid_figure",
    "model_comparison_figure",
    "overlay_figure",
]

COLOURBAR_LABEL = "relative saliency"

Cell = tuple[str, np.ndarray]


def grid_figure(
    image: np.ndarray,
    rows: Sequence[tuple[str, Sequence[Cell]]],
    *,
    image_title: str = "input",
    cmap: str = DEFAULT_CMAP,
    alpha: float = DEFAULT_ALPHA,
    style: str = "overlay",
    colorbar: bool = True,
    cell_inches: float = 2.3,
    title: str | None = None,
) -> Figure:
    """The layout of the paper's Figure 4: the photo, then one column per method.

    ``rows`` is a list of ``(row_title, [(column_title, saliency), ...])``, one row
    per class; the row title (e.g. ``"tabby cat  p=0.62"``) labels the photo on the
    left, the column titles (method names) head the first row. Every row must have
    the same number of maps. ``style`` is ``"overlay"`` (map blended over the photo)
    or ``"map"`` (the map alone). Each map is scaled by its own maximum, so the
    optional colorbar reads "relative saliency" from 0 to 1.
    """
    _check_style(style)
    if not rows:
        raise ValueError("grid_figure needs at least one row")
    widths = {len(cells) for _, cells in rows}
    if len(widths) != 1 or 0 in widths:
        raise ValueError(f"every row needs the same, non-zero number of maps, got {sorted(widths)}")
    n_rows, n_cols = len(rows), 1 + widths.pop()
    cell_w, cell_h = _cell_size(image, cell_inches)
    figure = Figure(
        figsize=(
            n_cols * cell_w + (1.3 if colorbar else 0.4),
            n_rows * (cell_h + 0.08) + 0.35 + (0.4 if title else 0.0),
        ),
        layout="constrained",
    )
    axes = figure.subplots(n_rows, n_cols, squeeze=False)
    top_titles = [column_title for column_title, _ in rows[0][1]]
    label_chars = max(12, int(cell_h * 10))  # a bold 10 pt character is about 0.1 inch
    for r, (row_title, cells) in enumerate(rows):
        _show_photo(axes[r, 0], image, _wrap(image_title) if r == 0 else None)
        axes[r, 0].set_ylabel(_wrap(row_title, label_chars), fontsize=10, fontweight="bold")
        for c, (column_title, saliency) in enumerate(cells, start=1):
            heading = column_title if r == 0 or column_title != top_titles[c - 1] else None
            _show_saliency(axes[r, c], image, saliency, cmap, alpha, style, heading)
    if colorbar:
        _add_colorbar(figure, list(axes.ravel()), cmap, shrink=min(0.9, 0.35 + 0.2 * n_rows))
    if title:
        figure.suptitle(title, fontsize=12)
    return figure


def overlay_figure(
    image: np.ndarray,
    saliency: np.ndarray,
    *,
    title: str | None = None,
    cmap: str = DEFAULT_CMAP,
    alpha: float = DEFAULT_ALPHA,
    colorbar: bool = True,
    inches: float = 4.0,
) -> Figure:
    """One saliency map over its photo (greyed), with a titled colour bar.

    The map is scaled by its own maximum, so the bar reads relative saliency 0..1.
    """
    cell_w, cell_h = _cell_size(image, inches)
    figure = Figure(
        figsize=(cell_w + (0.9 if colorbar else 0.1), cell_h + (0.45 if title else 0.1)),
        layout="constrained",
    )
    axes = figure.subplots()
    _show_saliency(axes, image, saliency, cmap, alpha, "overlay", None)
    if colorbar:
        _add_colorbar(figure, [axes], cmap, shrink=0.9)
    if title:
        axes.set_title(_wrap(title, max(24, int(cell_w * 11))), fontsize=11)
    return figure


def model_comparison_figure(
    image: np.ndarray,
    models: Sequence[tuple[str, Sequence[Cell]]],
    *,
    image_title: str = "input",
    cmap: str = DEFAULT_CMAP,
    alpha: float = DEFAULT_ALPHA,
    style: str = "overlay",
    classes_per_row: int = 2,
    colorbar: bool = True,
    cell_inches: float = 2.0,
    title: str | None = None,
) -> Figure:
    """The layout of the paper's Figure 5: for each class, one column per model.

    ``models`` is a list of ``(model_name, [(class_title, saliency), ...])`` with the
    same number of classes per model, in the same order. The photo comes first, then
    one block per class headed by its title (the first model's), with a column per
    model; a model whose title for that class differs (e.g. its own score) shows it
    under its name. At most ``classes_per_row`` blocks share a row.
    """
    _check_style(style)
    if not models:
        raise ValueError("model_comparison_figure needs at least one model")
    counts = {len(cells) for _, cells in models}
    if len(counts) != 1 or 0 in counts:
        raise ValueError(
            f"every model needs the same, non-zero number of classes, got {sorted(counts)}"
        )
    if classes_per_row < 1:
        raise ValueError(f"classes_per_row must be at least 1, got {classes_per_row}")
    n_classes, n_models = counts.pop(), len(models)
    per_row = min(classes_per_row, n_classes)
    n_rows = -(-n_classes // per_row)
    cell_w, cell_h = _cell_size(image, cell_inches)
    bar_w = 0.9 if colorbar else 0.0
    figure = Figure(
        figsize=(
            cell_w * (1 + per_row * n_models) + 0.25 * per_row + bar_w,
            n_rows * (cell_h + 0.75) + (0.4 if title else 0.0),
        ),
        layout="constrained",
    )
    ratios = [cell_w + 0.15] + [cell_w * n_models + 0.25] * per_row + ([bar_w] if colorbar else [])
    panels = figure.subfigures(n_rows, len(ratios), width_ratios=ratios, squeeze=False)
    for k in range(n_classes):
        row, block = divmod(k, per_row)
        if block == 0:
            panels[row, 0].suptitle(" ", fontsize=11)  # same head room as the class blocks
            _show_photo(panels[row, 0].subplots(), image, image_title)
        _class_block(panels[row, 1 + block], image, models, k, cmap, alpha, style)
    if colorbar:
        panels[0, -1].suptitle(" ", fontsize=11)
        _add_colorbar(panels[0, -1], None, cmap, shrink=1.0)
    if title:
        figure.suptitle(title, fontsize=12)
    return figure


def feedback_trace_figure(
    scores: Sequence[float],
    open_fraction: Mapping[str, Sequence[float]] | np.ndarray,
    layer_names: Sequence[str] | None = None,
    *,
    title: str | None = None,
    score_label: str = "target class score",
) -> Figure:
    """How the feedback loop converges: the target score and the open gates per iteration.

    Top panel: ``scores[i]`` at iteration ``i`` (line with markers). Bottom panel: a
    heat map, one row per layer (top = first layer) and one column per iteration,
    of the fraction of that layer's gates that are open, with a colorbar.
    ``open_fraction`` is ``{layer_name: [fraction per iteration]}`` (in layer order)
    or a 2-D array of shape (layers, iterations) named by ``layer_names``.
    """
    values, names = _layer_matrix(open_fraction, layer_names)
    score_values = np.asarray(scores, dtype=float).ravel()
    if score_values.size == 0:
        raise ValueError("feedback_trace_figure needs at least one score")
    n_layers, n_iterations = values.shape
    tick_size = 8.0 if n_layers <= 24 else 6.5
    heat_h = max(1.8, 0.13 * n_layers + 0.9)
    figure = Figure(figsize=(8.0, 2.6 + heat_h), layout="constrained")
    score_axes, heat_axes = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [2.6, heat_h]}
    )
    score_axes.plot(np.arange(score_values.size), score_values, marker="o", markersize=4)
    score_axes.set_ylabel(score_label)
    score_axes.grid(alpha=0.3)
    score_axes.tick_params(labelbottom=True)
    score_axes.set_title(title or "feedback iterations", fontsize=12)
    heat = heat_axes.imshow(
        values,
        aspect="auto",
        cmap="viridis",
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
        extent=(-0.5, n_iterations - 0.5, n_layers - 0.5, -0.5),
    )
    heat_axes.set_yticks(np.arange(n_layers), _layer_labels(names))
    heat_axes.tick_params(axis="y", labelsize=tick_size, length=2)
    heat_axes.set_xlabel("iteration")
    heat_axes.set_ylabel("layer")
    heat_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    heat_axes.set_xlim(-0.5, max(n_iterations, score_values.size) - 0.5)
    figure.colorbar(heat, ax=heat_axes, label="mean gate (share open)", pad=0.01)
    figure.align_ylabels([score_axes, heat_axes])
    return figure


def bar_chart(
    errors: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str] | None = None,
    title: str | None = None,
    *,
    ylabel: str = "error",
    value_format: str = "{:.1%}",
    counts: Mapping[str, Mapping[str, int]] | None = None,
) -> Figure:
    """One panel per measure, one bar per method in each, labelled with its value.

    ``errors`` maps method -> metric -> value in [0, 1] (e.g. ``loc_error_gt``,
    ``loc_error_top1``, ``pointing``); ``metrics`` picks and orders the panels
    (default: every metric, in first-seen order). Each panel has its own axis and
    says whether lower (errors) or higher (accuracies) is better, so an error and
    the pointing accuracy are never read on one scale. Methods keep one colour
    across panels and are named by their display names; a method that lacks a
    metric has no bar there. ``ylabel`` names a metric the function does not know.

    ``counts`` (method -> metric -> number of images or trials behind the value) adds
    each bar's 95% Wilson interval and the n under each panel: a bar from 8 images
    says how little it knows.
    """
    if not errors:
        raise ValueError("bar_chart needs at least one method")
    methods = list(errors)
    chosen = list(metrics) if metrics is not None else _metric_order(errors)
    if not chosen:
        raise ValueError("bar_chart needs at least one metric")
    panel_w = max(1.9, 0.42 * len(methods) + 0.7)
    figure = Figure(
        figsize=(max(4.0, panel_w * len(chosen) + 0.4), 3.9 + (0.35 if title else 0.0)),
        layout="constrained",
    )
    axes = figure.subplots(1, len(chosen), squeeze=False)[0]
    colours = matplotlib.colormaps["tab10"]
    positions = np.arange(len(methods), dtype=float)
    upright = len(methods) >= 3  # side by side, "100.0%" labels would run into each other
    handles = []
    for ax, metric in zip(axes, chosen, strict=True):
        heights = np.array([_value(errors[method], metric) for method in methods])
        bars = ax.bar(positions, heights, 0.8, color=[colours(m % 10) for m in range(len(methods))])
        handles = list(bars)
        tops = heights.copy()
        n = [_count(counts, method, metric) for method in methods]
        if counts is not None:
            low, high = _wilson_bounds(heights, n)
            shown = np.isfinite(low)
            ax.errorbar(positions[shown], heights[shown],
                        yerr=[heights[shown] - low[shown], high[shown] - heights[shown]],
                        fmt="none", ecolor="0.25", elinewidth=1, capsize=3)  # fmt: skip
            tops = np.where(shown, high, heights)
        for x, height, top in zip(positions, heights, tops, strict=True):
            if np.isnan(height):
                continue
            ax.annotate(value_format.format(height), (x, top), xytext=(0, 3),
                        textcoords="offset points", ha="center", va="bottom",
                        rotation=90 if upright else 0, fontsize=7.5 if upright else 8)  # fmt: skip
        name, better = metric_label(metric, ylabel)
        ax.set_title(name, fontsize=10)
        ax.set_ylabel(better, fontsize=9)
        top = float(np.nanmax(tops)) if np.isfinite(tops).any() else 0.0
        ceiling = max(top, 0.05) * (1.45 if upright else 1.18)  # head room for the labels
        ax.set_ylim(0.0, ceiling)
        ax.set_yticks([t for t in MaxNLocator(5).tick_values(0.0, min(1.0, ceiling))
                       if 0.0 <= t <= min(1.0, ceiling)])  # fmt: skip
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_xticks([])
        if counts is not None:
            ax.set_xlabel(_n_text(n, metric), fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.spines[["top", "right"]].set_visible(False)
    figure.legend(
        handles,
        [method_label(m) for m in methods],
        loc="outside lower center",
        ncols=min(len(methods), 5),
        frameon=False,
    )
    if title:
        subtitle = " (whiskers: 95% intervals)" if counts is not None else ""
        figure.suptitle(title + subtitle, fontsize=12)
    return figure


# --- helpers ---------------------------------------------------------------------------------


def _class_block(
    panel: SubFigure,
    image: np.ndarray,
    models: Sequence[tuple[str, Sequence[Cell]]],
    k: int,
    cmap: str,
    alpha: float,
    style: str,
) -> list[Axes]:
    """One class of the model comparison: a titled panel with one column per model.

    The panel's title is what every model's title for the class shares (its first line,
    "tiger cat (282)"); each column shows the rest of its own model's title under the
    model's name ("p = 62.3%"), so no model's score is shown as another's.
    """
    titles = [cells[k][0] for _, cells in models]
    heads = {title.split("\n", 1)[0] for title in titles}
    class_title = heads.pop() if len(heads) == 1 else titles[0]
    panel.suptitle(_wrap(class_title, 40), fontsize=11, fontweight="bold")
    axes = panel.subplots(1, len(models), squeeze=False)[0]
    for ax, (model_name, cells) in zip(axes, models, strict=True):
        own_title, saliency = cells[k]
        own = own_title.removeprefix(class_title).lstrip("\n")
        heading = f"{model_name}\n{own}" if own else model_name
        _show_saliency(ax, image, saliency, cmap, alpha, style, heading)
    return list(axes)


def _show_photo(ax: Axes, image: np.ndarray, heading: str | None) -> None:
    ax.imshow(image, interpolation="antialiased")
    _bare(ax)
    if heading:
        ax.set_title(heading, fontsize=10)


def _show_saliency(
    ax: Axes,
    image: np.ndarray,
    saliency: np.ndarray,
    cmap: str,
    alpha: float,
    style: str,
    heading: str | None,
) -> None:
    if style == "overlay":
        ax.imshow(overlay(image, saliency, cmap=cmap, alpha=alpha), interpolation="antialiased")
    else:
        unit = normalise_saliency(saliency, image.shape[:2])
        ax.imshow(unit, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="antialiased")
    _bare(ax)
    if heading:
        ax.set_title(_wrap(heading), fontsize=10)


def _bare(ax: Axes) -> None:
    """Hide ticks and frame but keep the y label (``axis('off')`` would hide it too)."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _add_colorbar(
    owner: Figure | SubFigure, axes: list[Axes] | None, cmap: str, shrink: float
) -> None:
    mappable = ScalarMappable(norm=Normalize(0.0, 1.0), cmap=cmap)
    if axes is None:  # a narrow panel of its own
        holder = owner.subplots()
        holder.set_axis_off()
        bar_axes = holder.inset_axes((0.1, 0.1, 0.25, 0.8))
        owner.colorbar(mappable, cax=bar_axes, label=COLOURBAR_LABEL)
        return
    owner.colorbar(mappable, ax=axes, shrink=shrink, pad=0.02, label=COLOURBAR_LABEL)


def _cell_size(image: np.ndarray, inches: float) -> tuple[float, float]:
    """Width and height (inches) of one image, keeping the photo's aspect within reason."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"the image must be a (H, W, 3) array, got {getattr(image, 'shape', image)}"
        )
    aspect = float(np.clip(image.shape[0] / image.shape[1], 0.5, 2.0))
    if aspect <= 1.0:
        return inches, inches * aspect
    return inches / aspect, inches


def _check_style(style: str) -> None:
    if style not in ("overlay", "map"):
        raise ValueError(f"style must be 'overlay' or 'map', got {style!r}")


def _layer_matrix(
    open_fraction: Mapping[str, Sequence[float]] | np.ndarray, layer_names: Sequence[str] | None
) -> tuple[np.ndarray, list[str]]:
    if isinstance(open_fraction, Mapping):
        names = list(open_fraction)
        lengths = {len(values) for values in open_fraction.values()}
        if len(lengths) > 1:
            raise ValueError(f"every layer needs one value per iteration, got lengths {lengths}")
        values = np.array([list(open_fraction[name]) for name in names], dtype=float)
    else:
        values = np.asarray(open_fraction, dtype=float)
        names = list(layer_names) if layer_names is not None else []
        if not names and values.ndim == 2:
            names = [f"layer {i}" for i in range(values.shape[0])]
    if values.ndim != 2 or values.size == 0:
        raise ValueError(
            f"open fractions must form a non-empty (layers, iterations) array, got {values.shape}"
        )
    if len(names) != values.shape[0]:
        raise ValueError(f"got {len(names)} layer names for {values.shape[0]} layers")
    return values, names


def _metric_order(errors: Mapping[str, Mapping[str, float]]) -> list[str]:
    seen: dict[str, None] = {}
    for per_metric in errors.values():
        seen.update(dict.fromkeys(per_metric))
    return list(seen)


def _count(counts: Mapping[str, Mapping[str, int]] | None, method: str, metric: str) -> int:
    if counts is None:
        return 0
    return int(counts.get(method, {}).get(metric) or 0)


def _wilson_bounds(values: np.ndarray, counts: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The 95% Wilson score interval of each proportion from its number of trials (NaN where
    there are none): unlike value +- 1.96 sd it stays inside [0, 1] and is not empty at 0%
    or 100%."""
    n = np.asarray(counts, dtype=float)
    z = 1.959963984540054
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = (values + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(values * (1 - values) / n + z * z / (4 * n * n))
    missing = (n <= 0) | ~np.isfinite(values)
    # the interval holds its value even where rounding would put 0% or 100% just outside it
    low, high = np.minimum(centre - half, values), np.maximum(centre + half, values)
    return np.where(missing, np.nan, low), np.where(missing, np.nan, high)


def _n_text(counts: Sequence[int], metric: str) -> str:
    """ "n = 8 images" under a panel (a range when the methods differ)."""
    unit = "trials" if metric.startswith("pointing") else "images"
    measured = sorted({c for c in counts if c > 0})
    if not measured:
        return ""
    if len(measured) == 1:
        return f"n = {measured[0]:,} {unit}"
    return f"n = {measured[0]:,}-{measured[-1]:,} {unit}"


def _value(per_metric: Mapping[str, float], metric: str) -> float:
    value = per_metric.get(metric)
    return float("nan") if value is None else float(value)


def _wrap(text: str, width: int = 24) -> str:
    """Wrap each line of a title to ``width`` characters."""
    lines = [
        textwrap.fill(line, width, break_on_hyphens=False) or line for line in str(text).split("\n")
    ]
    return "\n".join(lines)


def _layer_labels(names: Sequence[str], limit: int = 48) -> list[str]:
    """Layer names as the trace shows them: without the prefix every one shares (the
    ``network.`` of a Classifier's modules), whole up to ``limit`` characters, and longer
    ones cut in the middle, so both the block and the layer stay readable."""
    prefix = "network."
    if names and all(name.startswith(prefix) for name in names):
        names = [name[len(prefix) :] for name in names]
    return [_middle_cut(name, limit) for name in names]


def _middle_cut(name: str, limit: int) -> str:
    if len(name) <= limit:
        return name
    keep = limit - 1
    return name[: keep // 2] + "\u2026" + name[-(keep - keep // 2) :]
