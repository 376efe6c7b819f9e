"""What the report page shows, as types: the one contract between the Python that gathers a
run (:mod:`~thinktwice.evaluation.reporting.html_report`), the HTML drawn here
(:mod:`.render`) and the gallery's script (``report.js``, beside this file).

The page embeds :func:`page_json` of a :class:`ReportPage`: every field under its own name
(the names below are the keys ``report.js`` reads), every field present (``null`` when
absent). Spelled-out keys cost about 2% of a page with photos and maps (500 images x 5
methods: 14.80 MB with one- and two-letter keys, 15.07 MB spelled out), so the page's
script reads like this file. Photos and maps are base64 text; the summary and the paired
comparisons are the dictionaries of ``summary.json`` (same keys, same numbers).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Column",
    "GroundTruthBox",
    "ImageEntry",
    "LabelResult",
    "MethodError",
    "MethodResult",
    "ReportPage",
    "page_json",
]


@dataclass(frozen=True)
class Column:
    """One measured column of the summary table, as ``summary.md`` has it."""

    key: str  # the summary's key (``loc_error_gt``, ``pointing_small``, ...)
    name: str  # its heading
    format: str  # "percent" or "fraction"
    trials: str | None  # the key of its trial count (pointing subsets), shown beside it
    higher: bool  # whether higher is better (the best value is bold)


@dataclass(frozen=True)
class GroundTruthBox:
    """One ground-truth object of a photo."""

    box: list[int]  # x0, y0, x1, y1 in photo pixels, inclusive
    label: int  # its label's number in :attr:`ReportPage.labels`, -1 without classes


@dataclass(frozen=True)
class LabelResult:
    """One ground-truth label of an image as one method explained it."""

    class_index: int  # the class explained: the label's representative class
    box: list[int] | None  # the method's box, photo pixels; None: no box
    no_box_reason: str | None  # why there is no box ("no box: empty map"), when recorded
    iou: float | None  # the box's best IoU with the label's objects (3 decimals)
    point_hit: bool | None  # the pointing trial; None: not measured
    point: list[int] | None  # where the map pointed, photo pixels; None: not kept
    map: str | None  # the display map: map_side x map_side uint8, base64; None: not stored


@dataclass(frozen=True)
class MethodResult:
    """One method on one image: the record's scores and each label's box and map."""

    gt_localized: float | None  # the fraction of ground-truth labels localized (loc_gt)
    top1_localized: bool | None
    top5_localized: bool | None
    deletion_auc: float | None
    insertion_auc: float | None
    per_label: list[LabelResult]  # in the order of :attr:`ImageEntry.labels`


@dataclass(frozen=True)
class MethodError:
    """A method that could not score the image (an unreadable photo)."""

    error: str


@dataclass(frozen=True)
class ImageEntry:
    """One image of the gallery: photo, ground truth and each method's result."""

    id: str
    results: dict[str, MethodResult | MethodError]  # by method; absent: not evaluated
    width: int | None = None  # photo and ground truth: None when no maps file is stored
    height: int | None = None
    photo: str | None = None  # JPEG, base64
    ground_truth: list[GroundTruthBox] | None = None
    labels: list[int] | None = None  # the ground-truth labels, numbers in ReportPage.labels
    top1_name: str | None = None  # the model's top-1 class, by name
    top1_correct: bool | None = None  # whether it is a ground-truth class


@dataclass(frozen=True)
class ReportPage:
    """Everything the page shows."""

    title: str
    settings: dict[str, str]  # run.json in a few words, for the header
    methods: list[str]  # in the page's order
    method_labels: dict[str, str]  # display names
    summary: dict[str, dict[str, Any]]  # summary.json's "methods"
    columns: list[Column]
    headline: list[str]  # the columns shown first
    chart_metrics: list[str]  # the columns charted
    summary_notes: list[str]
    paired: dict[str, Any]  # summary.json's "paired"
    labels: list[str]  # ground-truth label names, numbered in order of first use
    class_names: dict[str, str]  # ImageNet index -> name, of the classes named on the page
    images: list[ImageEntry]
    map_side: int  # the side of every embedded map
    colormap: str  # 256 RGB triples, base64, colouring the maps
    iou_threshold: float
    pointing_tolerance: int  # pixels of the photo
    missing_maps: int  # images listed with scores only (no maps file)


def page_json(page: ReportPage, colours: Mapping[str, str]) -> str:
    """The page's data for its ``<script type="application/json">``: the fields of
    ``page`` by name, with each method's colour (``colours``), and no ``<`` that could close
    the script element."""
    data = {**_fields(page), "colours": dict(colours)}
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, default=_fields)
    return text.replace("<", "\\u003c")


def _fields(value: Any) -> dict[str, Any]:
    """A dataclass's fields by name, for the JSON encoder (which recurses into them; faster
    than :func:`dataclasses.asdict`, which copies every value first)."""
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
