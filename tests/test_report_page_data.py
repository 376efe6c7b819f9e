"""The report page's data: its types, their JSON for the page, and the keys report.js reads."""

from __future__ import annotations

import dataclasses
import json
import re
from importlib import resources

from thinktwice.evaluation.reporting.page.data import (
    Column,
    GroundTruthBox,
    ImageEntry,
    LabelResult,
    MethodError,
    MethodResult,
    ReportPage,
    page_json,
)


def _page(images: list[ImageEntry]) -> ReportPage:
    return ReportPage(
        title="model on data </script>",
        settings={"model": "m"},
        methods=["gradient", "feedback"],
        method_labels={"gradient": "Gradient", "feedback": "Feedback"},
        summary={"gradient": {"n": 1}},
        columns=[Column("loc_error_gt", "GT label", "percent", None, False)],
        headline=[],
        chart_metrics=["loc_error_gt"],
        summary_notes=[],
        paired={"reference": "feedback", "localization": [], "faithfulness": []},
        labels=["cat"],
        class_names={"282": "tiger cat"},
        images=images,
        map_side=16,
        colormap="AAAA",
        iou_threshold=0.5,
        pointing_tolerance=15,
        missing_maps=0,
    )


def _image() -> ImageEntry:
    shown = LabelResult(282, [0, 0, 9, 9], None, 0.75, True, [4, 5], "AAAA")
    result = MethodResult(1.0, True, True, None, 0.5, [shown])
    return ImageEntry(
        id="a",
        results={"gradient": result, "feedback": MethodError("unreadable photo")},
        width=10,
        height=10,
        photo="/9j/",
        ground_truth=[GroundTruthBox([0, 0, 9, 9], 0)],
        labels=[0],
        top1_name="tiger cat",
        top1_correct=True,
    )


def test_every_field_is_in_the_json_under_its_own_name():
    text = page_json(_page([_image(), ImageEntry("bare", {})]), {"gradient": "#1f77b4"})
    assert "</script>" not in text and "\\u003c/script>" in text  # cannot close the element
    data = json.loads(text)
    assert set(data) == {f.name for f in dataclasses.fields(ReportPage)} | {"colours"}
    assert data["colours"] == {"gradient": "#1f77b4"}
    assert data["columns"][0] == {
        "key": "loc_error_gt", "name": "GT label", "format": "percent", "trials": None,
        "higher": False,
    }  # fmt: skip
    image, bare = data["images"]
    assert image["ground_truth"] == [{"box": [0, 0, 9, 9], "label": 0}]
    assert image["results"]["feedback"] == {"error": "unreadable photo"}
    assert image["results"]["gradient"]["per_label"][0] == {
        "class_index": 282, "box": [0, 0, 9, 9], "no_box_reason": None, "iou": 0.75,
        "point_hit": True, "point": [4, 5], "map": "AAAA",
    }  # fmt: skip
    # an image without its maps file: every field there, null
    assert set(bare) == {f.name for f in dataclasses.fields(ImageEntry)}
    assert bare["photo"] is None and bare["labels"] is None and bare["results"] == {}


def test_report_js_reads_only_fields_the_types_have():
    script = (
        resources.files("thinktwice.evaluation.reporting.page")
        .joinpath("report.js")
        .read_text("utf-8")
    )
    names = {f.name for f in dataclasses.fields(MethodResult)} | {"error"}
    types = {
        "DATA": {f.name for f in dataclasses.fields(ReportPage)} | {"colours"},
        "img": {f.name for f in dataclasses.fields(ImageEntry)},
        "r": names,
        "entry": names,
        "k": {f.name for f in dataclasses.fields(LabelResult)},
        "gt": {f.name for f in dataclasses.fields(GroundTruthBox)},
    }
    read = re.findall(r"\b(DATA|img|r|entry|k|gt)\.(\w+)", script)
    assert {variable for variable, _ in read} == set(types)
    unknown = {f"{variable}.{key}" for variable, key in read if key not in types[variable]}
    assert unknown == set()
