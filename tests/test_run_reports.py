"""One call writes every report of a run folder, from the folder alone; results.jsonl is read
one way; (image, class) pairs have a type; settings and method names are checked once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import thinktwice
from thinktwice.errors import OptionError, ThinkTwiceError
from thinktwice.evaluation.metrics.summary import LatestRecords
from thinktwice.evaluation.reporting import write_reports
from thinktwice.evaluation.reporting.html_report import report_data
from thinktwice.evaluation.run.run_records import RunScope
from thinktwice.evaluation.run.runner import EvalSettings
from thinktwice.options import METHOD_NAMES, check_methods
from thinktwice.pairs import Pair, PairBatch, ranked_classes

from .synthetic_run import make_synthetic_run


@pytest.fixture
def synthetic(tmp_path) -> Path:
    return make_synthetic_run(tmp_path / "run", images=4, methods=("gradient", "feedback"))


# --- one call, every report ----------------------------------------------------------------------


def test_write_reports_writes_every_file_and_they_agree(synthetic):
    reports = write_reports(synthetic)
    assert set(reports.paths) == {"summary", "table", "chart", "report"}
    assert all(path.parent == synthetic and path.stat().st_size for path in reports.paths.values())
    document = json.loads((synthetic / "summary.json").read_text())
    assert document["methods"] == reports.summaries
    assert document["title"] == "EfficientNet-Lite0 on synthetic (dev)" == reports.summary.title
    page = report_data(synthetic)
    assert page.summary == document["methods"] and page.paired == document["paired"]
    assert page.title == document["title"]
    assert (synthetic / "summary.md").read_text().startswith(reports.table())  # + paired tests


def test_a_page_elsewhere_must_be_html_and_a_refusal_writes_nothing(synthetic, tmp_path):
    with pytest.raises(ThinkTwiceError, match="HTML page"):
        write_reports(synthetic, tmp_path / "results.jsonl")
    assert not (synthetic / "summary.json").exists()
    reports = write_reports(synthetic, tmp_path / "page.html")
    assert reports.paths["report"] == tmp_path / "page.html"
    assert not (synthetic / "report.html").exists()


def test_the_recorded_scope_is_what_every_report_summarises(synthetic):
    """A resume with a smaller --limit or fewer methods: its reports cover what it asked."""
    RunScope(image_ids=("synthetic_0", "synthetic_1"), methods=("gradient",)).write(synthetic)
    assert RunScope.read(synthetic).methods == ("gradient",)
    reports = write_reports(synthetic)
    assert list(reports.summaries) == ["gradient"] and reports.summaries["gradient"]["n"] == 2
    page = report_data(synthetic)
    assert [image.id for image in page.images] == ["synthetic_0", "synthetic_1"]
    assert page.methods == ["gradient"]


def test_a_broken_scope_file_is_one_line(synthetic):
    (synthetic / "scope.json").write_text('{"methods": "gradient"}')
    with pytest.raises(ThinkTwiceError, match="not a thinktwice run scope"):
        write_reports(synthetic)


# --- results.jsonl, read one way -----------------------------------------------------------------


def test_the_last_line_of_a_pair_counts_and_an_error_only_without_a_scored_line():
    lines = [
        {"image_id": "a", "method": "gradient", "loc_gt": 0.0},
        {"image_id": "b", "method": "gradient", "error": "unreadable"},
        {"image_id": "a", "method": "gradient", "loc_gt": 1.0},  # computed again on resume
        {"image_id": "c", "method": "gradient", "error": "first"},
        {"image_id": "c", "method": "gradient", "loc_gt": 1.0},
        {"image_id": "a", "method": "gradcam", "loc_gt": 0.0},
    ]
    latest = LatestRecords.of(lines)
    assert list(latest.scored) == [("gradient", "a"), ("gradient", "c"), ("gradcam", "a")]
    assert latest.scored[("gradient", "a")]["loc_gt"] == 1.0
    assert latest.errors == {("gradient", "b"): "unreadable"}
    only = LatestRecords.of(lines, image_ids={"a"}, methods={"gradcam"})
    assert list(only.scored) == [("gradcam", "a")] and not only.errors


# --- (image, class) pairs ------------------------------------------------------------------------


def test_a_pair_batch_finds_each_map_by_image_and_class():
    batch = PairBatch.explaining({0: [5, 7], 2: [7]}, {0: [5], 2: [7]})
    assert batch.pairs == (Pair(0, 5, True), Pair(0, 7, False), Pair(2, 7, True))
    assert batch.rows().tolist() == [0, 0, 2] and batch.targets().tolist() == [5, 7, 7]
    maps = np.arange(3, dtype=np.float32)[:, None, None] * np.ones((3, 2, 2), np.float32)
    explained = batch.with_maps(maps)
    assert explained.index(2, 7) == 2 and explained.map_of(0, 7)[0, 0] == 1.0
    assert [len(chunk) for chunk in batch.chunks(2)] == [2, 1]
    assert len(PairBatch.of([Pair(1, 3), Pair(1, 3, True), Pair(0, 3)])) == 2
    with pytest.raises(ValueError, match="2 maps for 3 pairs"):
        batch.with_maps(maps[:2])


def test_top_k_is_one_rule_capped_by_the_class_count():
    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                            nn.Flatten(), nn.Linear(4, 3))  # fmt: skip
    model = thinktwice.wrap(network, input_size=16, class_names=["a", "b", "c"])
    image = torch.rand(3, 16, 16)
    ranked = ranked_classes(model, image[None])
    assert sorted(ranked[0]) == [0, 1, 2]
    result = thinktwice.explain(model, image, "top5", method="gradient")
    assert result.targets.tolist() == ranked[0]  # all three classes, best first


# --- checked once --------------------------------------------------------------------------------


def test_method_names_are_checked_in_one_place():
    assert check_methods(["gradcam", "gradient", "gradcam"]) == ["gradcam", "gradient"]
    with pytest.raises(OptionError, match=f"unknown method 'nope'; choose from: {METHOD_NAMES[0]}"):
        check_methods(["gradient", "nope"])
    with pytest.raises(OptionError, match="no method given; choose from"):
        check_methods([])


def test_settings_are_checked_when_they_are_made():
    with pytest.raises(OptionError, match="unknown method 'nope'"):
        EvalSettings(methods=("nope",), model="efficientnet_lite0", dataset="x")
    with pytest.raises(OptionError, match="batch size must be an integer of at least 1"):
        EvalSettings(methods=("gradient",), model="efficientnet_lite0", dataset="x", batch_size=0)
