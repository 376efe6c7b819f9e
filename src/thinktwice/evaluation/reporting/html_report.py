"""The HTML report of an evaluation run: what the run folder holds, gathered for one page.

``thinktwice eval ... --out RUN_DIR`` leaves ``run.json``, ``results.jsonl``
(one line per image and method) and ``maps/`` (photos, ground truth and display
maps, see :mod:`~thinktwice.evaluation.run.maps_store`). This module reads them,
scores every (image, method) once more for display -- the box of each
ground-truth label with its IoU, hit or miss per criterion, the pointing
trial -- into a :class:`~thinktwice.evaluation.reporting.page.data.ReportPage`, drawn by
:func:`~thinktwice.evaluation.reporting.page.render.render_page`, which knows nothing of
runs. Gathering lives here because it is about evaluation files and metrics; the page (its
data, template, style and script) lives in :mod:`~thinktwice.evaluation.reporting.page`.

The summary -- per-method metrics with the columns of ``summary.md`` (pointing
subsets and deletion/insertion AUCs when measured) and the paired comparisons of
feedback with each method (McNemar, Wilcoxon) -- is the run's one summary
(:func:`~thinktwice.evaluation.reporting.run_summary.summarise_run`), the one
``summary.json`` holds, computed from the same records; it also covers a run that was
interrupted before writing its summary.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import matplotlib
import numpy as np

from thinktwice.attribution import METHODS
from thinktwice.errors import ThinkTwiceError, UnknownClassError
from thinktwice.evaluation.datasets.base import GroundTruth
from thinktwice.evaluation.metrics.localization import (
    IOU_THRESHOLD,
    POINTING_TOLERANCE,
    gt_labels,
    representative,
)
from thinktwice.evaluation.reporting.page.data import (
    Column,
    GroundTruthBox,
    ImageEntry,
    LabelResult,
    MethodError,
    MethodResult,
    ReportPage,
)
from thinktwice.evaluation.reporting.page.render import render_page
from thinktwice.evaluation.reporting.run_summary import (
    RunSummary,
    method_labels,
    method_order,
    summarise_run,
)
from thinktwice.evaluation.reporting.summary_files import (
    AUC_COLUMNS,
    HIGHER_IS_BETTER,
    PERCENT_COLUMNS,
    POINTING_SUBSETS_NOTE,
    SCENE_NOTE,
    TRIAL_COUNTS,
    chart_metrics,
    measured_columns,
)
from thinktwice.evaluation.run.maps_store import MapsStore, StoredImage, StoredMaps
from thinktwice.io.files import PathLike, atomic_write
from thinktwice.localization.boxes import Box, iou
from thinktwice.models.classes import imagenet_classes
from thinktwice.options import method_label, model_label

REPORT_NAME = "report.html"
HTML_SUFFIXES = (".html", ".htm")
COLORMAP = "inferno"
#: Embedded maps may take this many bytes in all (before base64); past it they are shrunk.
MAP_BUDGET = 32 * 2**20
MAP_SIDES = (64, 48, 32, 24, 16)

Record = dict[str, Any]


def write_html_report(
    run_dir: PathLike, out: PathLike | None = None, summary: RunSummary | None = None
) -> Path:
    """Write the run's self-contained report (``RUN_DIR/report.html`` by default; ``out``
    must name an .html file, so a slip such as ``--out RUN/results.jsonl`` cannot replace
    the run's results with the page). ``summary``: the run already summarised (by
    :func:`~thinktwice.evaluation.reporting.write.write_reports`), else summarised here."""
    run = Path(run_dir)
    target = html_target(run, out)
    page = report_data(run, summary)
    html = render_page(page).encode("utf-8", "backslashreplace")  # names that are not UTF-8
    return atomic_write(target, lambda handle: handle.write(html))


def html_target(run_dir: Path, out: PathLike | None = None) -> Path:
    """Where the page goes: ``out``, which must name an .html file, else RUN_DIR/report.html."""
    target = Path(out) if out is not None else Path(run_dir) / REPORT_NAME
    if target.suffix.lower() not in HTML_SUFFIXES:
        raise ThinkTwiceError(
            f"{target}: the report is an HTML page; give --out a file name ending in .html "
            "(it would replace that file)"
        )
    return target


def report_data(run_dir: Path, summary: RunSummary | None = None) -> ReportPage:
    """Everything the page shows (see :mod:`~thinktwice.evaluation.reporting.page.data`):
    the records, numbers and title of the run's one summary
    (:func:`~thinktwice.evaluation.reporting.run_summary.summarise_run`)."""
    summary = summary or summarise_run(Path(run_dir))
    settings = summary.settings
    records, errors = summary.records.scored, summary.records.errors
    methods = method_order(summary.records.methods())
    stored = {image.image_id: image for image in MapsStore(run_dir)}
    image_ids = sorted(summary.records.image_ids(), key=natural_key)
    map_side = embedded_map_side(sum(_map_count(s) for s in stored.values()))
    labels = LabelNames()
    images = [
        _image_entry(image_id, stored.get(image_id), records, errors, methods, labels, map_side)
        for image_id in image_ids
    ]
    summaries, paired, headline = summary.summaries, summary.paired_json(), summary.headline
    columns = summary_columns(summaries, headline)
    shown = {column.key for column in columns}
    return ReportPage(
        title=summary.title,
        settings=settings_shown(settings),
        methods=methods,
        method_labels=method_labels(methods, settings),
        summary=summaries,
        columns=columns,
        headline=list(headline),
        chart_metrics=[k for k in chart_metrics(headline) if k in shown],
        summary_notes=([SCENE_NOTE] if headline else [])
        + ([POINTING_SUBSETS_NOTE] if shown & set(TRIAL_COUNTS) else [])
        + option_notes(methods, settings),
        paired=paired,
        labels=labels.names,
        class_names=labels.class_names_used(),
        images=images,
        map_side=map_side,
        colormap=colormap_table(COLORMAP),
        iou_threshold=IOU_THRESHOLD,
        pointing_tolerance=POINTING_TOLERANCE,
        missing_maps=sum(1 for i in image_ids if i not in stored),
    )


# --- reading the run folder ----------------------------------------------------------------------


def option_notes(methods: Sequence[str], settings: Mapping[str, Any]) -> list[str]:
    """One line per method that ran with options: its display name and every option."""
    recorded = settings.get("method_options") or {}
    labels = method_labels(methods, settings)
    notes = []
    for method in methods:
        options = recorded.get(method)
        if options and method in METHODS:
            options = METHODS[method].complete_options(**options)
        if options:
            words = ", ".join(f"{k} {_option_text(v)}" for k, v in options.items())
            notes.append(f"{labels[method]}: {words}.")
    return notes


def _option_text(value: Any) -> str:
    return "+".join(map(str, value)) if isinstance(value, list) else str(value)


def natural_key(text: str) -> list[Any]:
    """Sort key putting val_2 before val_10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def settings_shown(settings: Mapping[str, Any]) -> dict[str, str]:
    """run.json in a few words for the page's header: the class map as counts (not a
    dozen lines of ImageNet indices), method options as "name value" lists, nothing
    internal (the results format)."""
    shown: dict[str, str] = {}
    for key, value in settings.items():
        if key in _HIDDEN_SETTINGS or value in (None, {}, [], ""):
            continue
        name = _SETTING_NAMES.get(key, key)
        if key == "class_map" and isinstance(value, Mapping):
            shown[name] = _class_map_words(value)
        elif key == "method_options" and isinstance(value, Mapping):
            for method, options in value.items():
                shown[f"{method_label(str(method))} options"] = _options_words(options)
        elif key == "model":
            shown[name] = model_label(str(value))
        else:
            shown[name] = _option_value(value)
    return shown


_HIDDEN_SETTINGS = frozenset({"format"})
_SETTING_NAMES = {
    "class_map": "class map",
    "max_side": "GrabCut side",
    "box_smooth": "map blur",
    "rescale_boxes": "boxes rescaled",
    "metric_steps": "curve steps",
}


def _class_map_words(class_map: Mapping[str, Any]) -> str:
    indices = {i for v in class_map.values() if isinstance(v, list) for i in v}
    names = ", ".join(sorted(map(str, class_map))[:6]) + (", ..." if len(class_map) > 6 else "")
    return f"{len(class_map)} dataset classes ({names}) scored as {len(indices)} ImageNet classes"


def _options_words(options: Any) -> str:
    if not isinstance(options, Mapping):
        return str(options)
    words = (f"{key} {_option_value(value).replace(', ', '+')}" for key, value in options.items())
    return ", ".join(words)


def _option_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# --- summary -------------------------------------------------------------------------------------


def summary_columns(
    summaries: Mapping[str, Mapping[str, Any]], headline: Sequence[str] = ()
) -> list[Column]:
    """The summary table's measured columns, as ``summary.md`` has them (``headline``
    first)."""
    percent, aucs = measured_columns(summaries, headline)
    return [
        Column(
            key=key,
            name=PERCENT_COLUMNS.get(key) or AUC_COLUMNS[key],
            format="percent" if key in PERCENT_COLUMNS else "fraction",
            trials=TRIAL_COUNTS.get(key),
            higher=key in HIGHER_IS_BETTER,
        )
        for key in [*percent, *aucs]
    ]


# --- one image ---------------------------------------------------------------------------------


class LabelNames:
    """Display names of ground-truth labels, numbered in order of first use."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}
        self._classes: dict[int, str] = {}

    def of(self, label: frozenset[int], objects: Sequence[GroundTruth]) -> int:
        """The number of the label's name (one class: its ImageNet name; else the dataset's)."""
        names = next((o.names for o in objects if o.classes == label and o.names), ())
        if len(label) == 1:
            name = self.class_name(next(iter(label)))
        elif names:
            name = names[0]
        else:
            name = " / ".join(self.class_name(c) for c in sorted(label)[:2]) + " ..."
        if name not in self._index:
            self._index[name] = len(self.names)
            self.names.append(name)
        return self._index[name]

    def class_name(self, class_index: int) -> str:
        """The ImageNet name of a class (``class N`` outside ImageNet-1k)."""
        if class_index not in self._classes:
            try:
                name = imagenet_classes().name(class_index)
            except UnknownClassError:
                name = f"class {class_index}"
            self._classes[class_index] = name
        return self._classes[class_index]

    def class_names_used(self) -> dict[str, str]:
        return {str(c): name for c, name in self._classes.items()}


def _image_entry(
    image_id: str,
    stored: StoredImage | None,
    records: Mapping[tuple[str, str], Record],
    errors: Mapping[tuple[str, str], str],
    methods: Sequence[str],
    labels: LabelNames,
    map_side: int,
) -> ImageEntry:
    """One image: photo, ground truth, and per method the box, IoU and map of each label."""
    objects = stored.objects if stored else ()
    label_sets = gt_labels(objects)
    photo = _photo_fields(stored, label_sets, labels) if stored is not None else {}
    results: dict[str, MethodResult | MethodError] = {}
    for method in methods:
        record = records.get((method, image_id))
        if record is not None:
            maps = stored.methods.get(method) if stored else None
            results[method] = _method_result(record, objects, label_sets, maps, map_side)
        elif (method, image_id) in errors:
            results[method] = MethodError(errors[(method, image_id)])
    scored = [records[(m, image_id)] for m in methods if (m, image_id) in records]
    ranked_first = scored[0]["top5"][:1] if scored else []
    return ImageEntry(
        id=image_id,
        results=results,
        top1_name=labels.class_name(ranked_first[0]) if ranked_first else None,
        top1_correct=scored[-1].get("cls_top1") if scored else None,
        **photo,
    )


def _photo_fields(
    stored: StoredImage, label_sets: Sequence[frozenset[int]], labels: LabelNames
) -> dict[str, Any]:
    """The image's fields from its maps file: photo, size, ground truth and labels."""
    objects = stored.objects
    return {
        "width": stored.width,
        "height": stored.height,
        "photo": base64.b64encode(stored.photo_jpeg).decode("ascii"),
        "ground_truth": [
            GroundTruthBox(o.box.as_list(), labels.of(o.classes, objects) if o.classes else -1)
            for o in objects
        ],
        "labels": [labels.of(label, objects) for label in label_sets],
    }


def _method_result(
    record: Record,
    objects: Sequence[GroundTruth],
    label_sets: Sequence[frozenset[int]],
    maps: StoredMaps | None,
    map_side: int,
) -> MethodResult:
    ranked = [int(c) for c in record["top5"]]
    trials = {int(t["class_index"]): bool(t["hit"]) for t in record.get("pointing", [])}
    points = {int(t["class_index"]): t.get("point") for t in record.get("pointing", [])}
    per_label = []
    for label in label_sets:
        c = representative(label, ranked)
        raw = record.get("boxes", {}).get(str(c))
        box = Box(*raw) if isinstance(raw, list) else None
        overlap = (
            max((iou(box, o.box) for o in objects if c in o.classes), default=0.0)
            if box is not None
            else None
        )
        smap = maps.of(c) if maps is not None else None
        per_label.append(
            LabelResult(
                class_index=c,
                box=box.as_list() if box else None,
                no_box_reason=raw if isinstance(raw, str) else None,
                iou=round(overlap, 3) if overlap is not None else None,
                point_hit=trials.get(c),
                point=points.get(c),
                map=_encode_map(smap, map_side) if smap is not None else None,
            )
        )
    return MethodResult(
        gt_localized=record.get("loc_gt"),
        top1_localized=record.get("loc_top1"),
        top5_localized=record.get("loc_top5"),
        deletion_auc=_rounded(record.get("deletion_auc")),
        insertion_auc=_rounded(record.get("insertion_auc")),
        per_label=per_label,
    )


def _rounded(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


# --- maps and colours --------------------------------------------------------------------------


def _map_count(stored: StoredImage) -> int:
    return sum(len(maps.classes) for maps in stored.methods.values())


def embedded_map_side(count: int) -> int:
    """The largest side at which ``count`` maps fit in :data:`MAP_BUDGET` bytes."""
    return next((s for s in MAP_SIDES if count * s * s <= MAP_BUDGET), MAP_SIDES[-1])


def _encode_map(smap: np.ndarray, side: int) -> str:
    values = np.asarray(smap, dtype=np.uint8)
    if values.shape != (side, side):
        values = cv2.resize(values, (side, side), interpolation=cv2.INTER_AREA)
    return base64.b64encode(np.ascontiguousarray(values).tobytes()).decode("ascii")


def colormap_table(name: str) -> str:
    """A matplotlib colormap as 256 RGB triples, base64 (768 bytes), for the page's canvas."""
    rgba = matplotlib.colormaps[name](np.linspace(0.0, 1.0, 256), bytes=True)
    return base64.b64encode(np.ascontiguousarray(rgba[:, :3]).tobytes()).decode("ascii")
