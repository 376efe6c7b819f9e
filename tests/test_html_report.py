"""`thinktwice report`: what the page is built from, that eval writes it, and clear errors."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from thinktwice.cli.main import main
from thinktwice.evaluation.metrics.localization import (
    IOU_THRESHOLD,
    SUMMARY_KEYS,
    gt_labels,
    representative,
)
from thinktwice.evaluation.reporting.html_report import (
    MAP_BUDGET,
    embedded_map_side,
    report_data,
    write_html_report,
)
from thinktwice.evaluation.run.maps_store import MapsStore
from thinktwice.evaluation.run.results import ResultsFile

from .synthetic_run import make_synthetic_run


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    return make_synthetic_run(tmp_path_factory.mktemp("synthetic") / "run", images=30)


def _run(capsys, *argv) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# --- a real run ----------------------------------------------------------------------------------


def test_eval_writes_the_report_and_prints_its_path(eval_run_with_report):
    out, stderr = eval_run_with_report
    assert f"report: {out / 'report.html'}" in stderr
    page = (out / "report.html").read_text()
    assert "<h1>EfficientNet-Lite0 on tiny-imagenet (dev)</h1>" in page  # display names


def test_every_result_has_its_maps_stored(eval_run_with_report):
    """For each (image, method) line, the store holds that method's map of every class that
    stands for a ground-truth label."""
    out, _ = eval_run_with_report
    stored = {s.image_id: s for s in MapsStore(out)}
    records = list(ResultsFile(out / "results.jsonl").records())
    assert len(records) == 6 * 3 and len(stored) == 6
    for record in records:
        image = stored[record["image_id"]]
        maps = image.methods[record["method"]]
        for label in gt_labels(image.objects):
            c = representative(label, record["top5"])
            assert c in maps.representatives
            assert maps.of(c) is not None and maps.of(c).max() == 255
            assert str(c) in record["boxes"]


def test_page_data_agrees_with_the_summary_and_the_boxes(eval_run_with_report):
    out, _ = eval_run_with_report
    data = report_data(out)
    summary = json.loads((out / "summary.json").read_text())
    assert data.methods == list(summary["methods"])
    assert data.summary == summary["methods"]  # the same numbers, every key
    assert data.paired == summary["paired"] and data.paired["localization"]
    for row in data.summary.values():
        assert set(SUMMARY_KEYS) <= set(row)
    side = data.map_side
    for image in data.images:
        assert len(image.labels) == 1  # Tiny ImageNet: one label per image
        for method, entry in image.results.items():
            shown = entry.per_label[0]
            hit = shown.iou is not None and shown.iou >= IOU_THRESHOLD
            assert hit == (entry.gt_localized == 1.0), (image.id, method)
            assert len(base64.b64decode(shown.map)) == side * side


def test_the_page_needs_nothing_from_outside(eval_run_with_report):
    page = (eval_run_with_report[0] / "report.html").read_text()
    outside = r"""(src|href)\s*=\s*["']?(https?:|//|[\w./-]+\.(js|css|png|jpe?g))"""
    assert not re.search(outside, page)
    assert "<link" not in page and "@import" not in page and "<script src" not in page


# --- synthetic runs ------------------------------------------------------------------------------


def test_report_command_writes_where_asked(capsys, synthetic, tmp_path):
    status, out, err = _run(capsys, "report", synthetic, "--out", tmp_path / "elsewhere.html")
    assert status == 0, err
    assert out.strip() == str(tmp_path / "elsewhere.html")
    assert (tmp_path / "elsewhere.html").stat().st_size > 30 * 1000  # 30 photos embedded
    assert not (synthetic / "report.html").exists()


def test_images_without_stored_maps_are_listed_with_scores(synthetic, tmp_path):
    run = tmp_path / "run"
    make_synthetic_run(run, images=5)
    MapsStore(run).path_of("synthetic_2").unlink()
    data = report_data(run)
    assert data.missing_maps == 1
    bare = next(i for i in data.images if i.id == "synthetic_2")
    assert bare.photo is None and set(bare.results) == set(data.methods)
    assert "have no stored photo or maps" in write_html_report(run).read_text()


def test_summary_shows_what_summary_md_shows(synthetic):
    """Measured columns only (pointing subsets with their trial counts, the AUCs as
    fractions), display names, and feedback against each method (McNemar, Wilcoxon)."""
    data = report_data(synthetic)
    keys = [c.key for c in data.columns]
    assert keys[:3] == ["loc_error_gt", "loc_error_top1", "loc_error_top5"]
    assert {"pointing_small", "pointing_difficult", "deletion_auc", "insertion_auc"} <= set(keys)
    assert data.paired["reference"] == "feedback"
    assert [c["other"] for c in data.paired["faithfulness"]][:2] == ["gradient", "gradient"]
    page = write_html_report(synthetic, synthetic.parent / "summary-check.html").read_text()
    summary = page[page.index('id="summary"') : page.index('id="gallery-section"')]
    shown = ["pointing, small objects", "deletion AUC", "insertion AUC", "Pointing subsets"]
    shown += ["(McNemar)", "(Wilcoxon signed-rank)", "Guided backprop"]
    shown += ["Feedback · gated Grad-CAM × gate gains"]
    for text in shown:
        assert text in summary, text
    small = data.summary["gradient"]
    assert f"{100 * small['pointing_small']:.1f}% ({small['pointing_small_trials']})" in summary
    assert f"{small['deletion_auc']:.3f}" in summary


def test_a_run_without_boxes_still_has_its_page(tmp_path):
    """--metrics pointing: no boxes, no localization columns, the pointing game to filter by."""
    methods = ("gradient", "feedback")
    run = make_synthetic_run(tmp_path / "run", images=4, methods=methods, metrics=["pointing"])
    data = report_data(run)
    keys = [c.key for c in data.columns]
    assert keys[:3] == ["cls_error_top1", "cls_error_top5", "pointing"]
    assert data.chart_metrics == ["cls_error_top1", "pointing"]
    criteria = {c["criterion"] for c in data.paired["localization"]}
    assert criteria == {"pointing"}  # no box was measured: only pointing, trial by trial
    assert data.paired["faithfulness"] == []
    label = data.images[0].results["feedback"].per_label[0]
    assert label.box is None and label.no_box_reason is None and label.point_hit is not None
    page = write_html_report(run).read_text()
    assert "(McNemar)" in page and "<td>GT label</td>" not in page  # pointing trials only


def test_map_side_shrinks_to_fit_the_budget():
    sides = [embedded_map_side(count) for count in (1, 1000, 5000, 25_000, 100_000)]
    assert sides == sorted(sides, reverse=True) and sides[0] == 64
    for count, side in zip((1, 1000, 5000, 25_000), sides, strict=False):
        assert count * side * side <= MAP_BUDGET


# --- errors --------------------------------------------------------------------------------------


def _broken_runs(root: Path, synthetic: Path) -> dict[str, tuple[Path, str]]:
    """Folders that are not usable runs, each with a word its error must contain."""

    def copy_of(name: str) -> Path:
        folder = root / name
        folder.mkdir()
        for item in ("run.json", "results.jsonl"):
            (folder / item).write_bytes((synthetic / item).read_bytes())
        return folder

    cases = {"missing": (root / "nowhere", "no such folder")}
    a_file = root / "file.txt"
    a_file.write_text("x")
    cases["a file"] = (a_file, "not a folder")
    (root / "empty").mkdir()
    cases["no run.json"] = (root / "empty", "not an evaluation run")
    bad_settings = copy_of("bad-settings")
    (bad_settings / "run.json").write_text("{not json")
    cases["corrupt run.json"] = (bad_settings, "not a thinktwice run record")
    no_results = copy_of("no-results")
    (no_results / "results.jsonl").unlink()
    cases["no results"] = (no_results, "results.jsonl is missing")
    garbage = copy_of("garbage")
    (garbage / "results.jsonl").write_bytes(b"\x00\x01 binary junk\n{half a line")
    cases["garbage results"] = (garbage, "no readable result line")
    foreign = copy_of("foreign")
    (foreign / "results.jsonl").write_text('{"image_id": "a", "method": "gradient"}\n')
    cases["foreign lines"] = (foreign, "lacks 'top5'")
    bad_field = copy_of("bad-field")
    line = json.loads((synthetic / "results.jsonl").read_text().splitlines()[0])
    (bad_field / "results.jsonl").write_text(json.dumps({**line, "loc_gt": "high"}) + "\n")
    cases["bad field"] = (bad_field, "loc_gt")
    return cases


def test_folders_that_are_not_runs_give_one_clear_line(capsys, synthetic, tmp_path):
    for name, (folder, word) in _broken_runs(tmp_path, synthetic).items():
        status, out, err = _run(capsys, "report", folder)
        assert status == 2, name
        *warned, last = err.splitlines()
        if name == "garbage results":  # each skipped line is a one-line warning first
            assert len(warned) == 2 and all(w.startswith("thinktwice: warning: ") for w in warned)
        else:
            assert warned == [], (name, err)
        assert last.startswith("thinktwice: error: ") and word in last, (name, err)
        assert "Traceback" not in err and out == ""


def test_each_ground_truth_label_gets_its_own_box_and_map(tmp_path):
    """Two labels (a cat accepted as 281 or 282, a dog as 207): per label, the representative
    class's box scored against that label's boxes, or the reason it has none."""
    from thinktwice.evaluation.datasets.base import GroundTruth, Sample
    from thinktwice.localization.boxes import Box

    cat, dog = Box(0, 0, 49, 49), Box(50, 50, 99, 99)
    objects = (
        GroundTruth(frozenset({281, 282}), cat, names=("cat",)),
        GroundTruth(frozenset({207}), dog, names=("dog",)),
    )
    sample = Sample("two", Path("two.jpg"), 100, 100, objects)
    (tmp_path / "run.json").write_text('{"dataset": "m", "model": "efficientnet_lite0"}')
    ranked = [282, 5, 6, 7, 8]  # the cat's label is represented by 282, the dog's by 207
    MapsStore(tmp_path).record(
        "gradient",
        sample,
        np.zeros((100, 100, 3), np.uint8),
        {282: np.ones((224, 224)), 207: np.eye(224)},
        [282, 207],
    )
    record = {
        "image_id": "two", "method": "gradient", "cls_top1": True, "cls_top5": True,
        "loc_top1": True, "loc_top5": True, "loc_gt": 0.5,
        "pointing": [{"class_index": 282, "hit": True}, {"class_index": 207, "hit": False}],
        "top5": ranked, "boxes": {"282": [0, 0, 49, 49], "207": "no box: empty map"},
    }  # fmt: skip
    ResultsFile(tmp_path / "results.jsonl").append(record)
    image = report_data(tmp_path).images[0]
    labels = report_data(tmp_path).labels
    # a label of several classes takes the dataset's name, a one-class label the ImageNet name
    assert [labels[i] for i in image.labels] == ["cat", "golden retriever"]
    first, second = image.results["gradient"].per_label
    assert (first.class_index, first.iou, first.point_hit) == (282, 1.0, True)
    assert (second.class_index, second.box, second.no_box_reason, second.point_hit) == (
        207, None, "no box: empty map", False,
    )  # fmt: skip
    assert first.map and second.map and first.map != second.map
