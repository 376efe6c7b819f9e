"""The evaluation harness: records, resume after SIGKILL, torchrun = one process, the report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from thinktwice.errors import ThinkTwiceError
from thinktwice.evaluation.datasets import ManifestDataset, TinyImageNetVal
from thinktwice.evaluation.datasets.base import GroundTruth, Sample
from thinktwice.evaluation.metrics.localization import SUMMARY_KEYS
from thinktwice.evaluation.metrics.summary import ScoredRecords, compare_with_reference
from thinktwice.evaluation.pipeline import EvalSettings, evaluate
from thinktwice.evaluation.run.results import ResultsFile, check_run_settings
from thinktwice.evaluation.run.runner import classes_to_explain
from thinktwice.localization.boxes import Box

from .conftest import TINY_IMAGENET, require_shared

EVAL = [sys.executable, "-m", "thinktwice.cli.main", "eval"]


def _box(*coords: int):
    from thinktwice.localization import Box

    return Box(*coords)


def _records(out: Path) -> list[dict]:
    return list(ResultsFile(out / "results.jsonl").records())


def _without_timing(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("seconds", "finished_at")}


# --- pieces ------------------------------------------------------------------------------------


def test_maps_only_for_classes_that_can_score():
    sample = Sample(
        "x",
        Path("x.jpg"),
        64,
        64,
        (
            GroundTruth(frozenset({5, 7}), _box(0, 0, 9, 9)),
            GroundTruth(frozenset({3}), _box(1, 1, 5, 5)),
        ),
    )
    needed, representatives = classes_to_explain(sample, [9, 7, 1, 5, 2])
    assert representatives == [7, 3]  # best-ranked accepted class; smallest when none ranked
    assert needed == [7, 3, 5]  # predicted non-ground-truth classes (9, 1, 2) get no map


def test_a_label_takes_its_best_scored_class_also_outside_the_top_5():
    """A VOC label maps to many ImageNet classes: its target is the one the model scores
    highest over the whole ranking, not its smallest index, and only top-5 predictions
    that are ground truth get extra maps."""
    dog = GroundTruth(frozenset({151, 200, 260}), _box(0, 0, 9, 9))
    sample = Sample("x", Path("x.jpg"), 64, 64, (dog,))
    ranking = [9, 8, 1, 5, 2, 4, 260, 151, 200, 0]
    needed, representatives = classes_to_explain(sample, ranking)
    assert representatives == [260]
    assert needed == [260]
    assert classes_to_explain(sample, ranking[:5]) == ([151], [151])  # none ranked: smallest


def test_torn_last_line_is_skipped_and_finished_lines_kept(tmp_path):
    results = ResultsFile(tmp_path / "results.jsonl")
    results.append({"image_id": "a", "method": "gradient", "loc_gt": 1.0})
    with open(results.path, "ab") as handle:
        handle.write(b'{"image_id": "b", "meth')  # a writer killed mid-line
    with pytest.warns(UserWarning, match="incomplete line"):
        assert results.done() == {("a", "gradient")}


def test_resume_with_other_settings_is_refused(tmp_path):
    check_run_settings(tmp_path, {"model": "efficientnet_lite0", "box": "grabcut"})
    check_run_settings(tmp_path, {"model": "efficientnet_lite0", "box": "grabcut"})
    with pytest.raises(ThinkTwiceError, match="box"):
        check_run_settings(tmp_path, {"model": "efficientnet_lite0", "box": "threshold"})


def test_resume_notices_a_changed_library_default(tmp_path, monkeypatch):
    """run.json holds the options feedback really used, defaults included."""
    import thinktwice.attribution.feedback as feedback

    def settings(**options):
        return EvalSettings(
            methods=("gradient",),  # feedback's options count even before it is evaluated
            model="efficientnet_lite0",
            dataset="tiny-imagenet",
            method_options={"feedback": options},
        ).recorded()

    check_run_settings(tmp_path, settings())
    check_run_settings(tmp_path, settings(solver=feedback.DEFAULT_SOLVER))  # the same run
    monkeypatch.setattr(feedback, "DEFAULT_OPTIONS", {**feedback.DEFAULT_OPTIONS, "step": 0.5})
    with pytest.raises(ThinkTwiceError, match="method_options"):
        check_run_settings(tmp_path, settings())


def test_unreadable_image_is_reported_and_the_rest_scored(lite0, tmp_path):
    Image.new("RGB", (96, 80), (200, 30, 30)).save(tmp_path / "red.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    obj = {"classes": [1], "box": [10, 10, 60, 60]}
    manifest = {
        "images": [
            {"file": "broken.jpg", "width": 96, "height": 80, "objects": [obj]},
            {"file": "red.png", "width": 96, "height": 80, "objects": [obj]},
        ]
    }
    (tmp_path / "boxes.json").write_text(json.dumps(manifest))
    dataset = ManifestDataset(tmp_path / "boxes.json")
    settings = EvalSettings(methods=("gradient",), model="efficientnet_lite0", dataset="m")
    with pytest.warns(UserWarning, match="broken.jpg"):
        summary = evaluate(lite0, dataset, tmp_path / "out", settings, progress=False)
    assert summary["gradient"]["n"] == 1
    assert summary["gradient"]["failed"] == 1
    assert set(SUMMARY_KEYS) <= set(summary["gradient"])


# --- on real data ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_run(lite0, tmp_path_factory):
    """Every method on 12 Tiny ImageNet dev images."""
    require_shared(TINY_IMAGENET)
    dataset = TinyImageNetVal(TINY_IMAGENET, split="dev")
    out = tmp_path_factory.mktemp("eval")
    settings = EvalSettings(
        methods=("gradient", "deconvnet", "guided_backprop", "gradcam", "feedback"),
        model="efficientnet_lite0",
        dataset="tiny-imagenet",
        split="dev",
        batch_size=6,
        limit=12,
    )
    return evaluate(lite0, dataset, out, settings, progress=False), out


def test_summary_is_consistent(small_run):
    summaries, out = small_run
    document = json.loads((out / "summary.json").read_text())
    assert document["methods"] == summaries
    assert document["dataset"] == "tiny-imagenet" and document["split"] == "dev"
    localization = document["paired"]["localization"]
    assert {c["other"] for c in localization} == set(summaries) - {"feedback"}
    assert all(0.0 <= c["p_value"] <= 1.0 for c in localization)
    for method, summary in summaries.items():
        assert summary["n"] == 12, method
        for key in SUMMARY_KEYS[1:]:
            assert 0.0 <= summary[key] <= 1.0, (method, key)
        # a top-1 hit needs the right class and the right box for it
        assert summary["loc_error_top1"] >= summary["cls_error_top1"]
        assert summary["loc_error_top1"] >= summary["loc_error_gt"]
        assert summary["loc_error_top5"] <= summary["loc_error_top1"]
    classification = {(s["cls_error_top1"], s["cls_error_top5"]) for s in summaries.values()}
    assert len(classification) == 1  # one ranking, whatever the method
    assert (out / "errors.png").stat().st_size > 0
    assert "| Feedback · gated Grad-CAM × gate gains | 12 |" in (out / "summary.md").read_text()


def test_records_hold_boxes_inside_the_image(small_run):
    _, out = small_run
    records = _records(out)
    assert len(records) == 12 * 5
    for record in records:
        assert len(record["top5"]) == 5
        for box in record["boxes"].values():
            if isinstance(box, list):
                x0, y0, x1, y1 = box
                assert 0 <= x0 <= x1 < 64 and 0 <= y0 <= y1 < 64


def test_a_finished_run_resumes_with_nothing_to_do(lite0, small_run):
    summaries, out = small_run
    settings = EvalSettings(
        methods=("gradient", "deconvnet", "guided_backprop", "gradcam", "feedback"),
        model="efficientnet_lite0",
        dataset="tiny-imagenet",
        split="dev",
        batch_size=6,
        limit=12,
    )
    before = (out / "results.jsonl").read_bytes()
    dataset = TinyImageNetVal(TINY_IMAGENET, split="dev")
    assert evaluate(lite0, dataset, out, settings, progress=False) == summaries
    assert (out / "results.jsonl").read_bytes() == before


def test_resume_after_sigkill_loses_nothing(tmp_path):
    require_shared(TINY_IMAGENET)
    out = tmp_path / "run"
    command = EVAL + [
        "tiny-imagenet", "--split", "dev", "--limit", "24", "--methods", "gradient",
        "--batch-size", "2", "--quiet", "--out", str(out),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if results.exists() and results.read_bytes().count(b"\n") >= 4:
            break
        time.sleep(0.05)
    assert process.poll() is None, process.stderr.read().decode()[-2000:]
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed = [json.loads(line) for line in results.read_bytes().splitlines(keepends=True)
              if line.endswith(b"\n")]  # fmt: skip
    assert 4 <= len(killed) < 24

    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-2000:]
    records = _records(out)
    assert records[: len(killed)] == killed  # every finished line kept as it was
    ids = [r["image_id"] for r in records]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 24  # each image scored once
    assert json.loads((out / "summary.json").read_text())["methods"]["gradient"]["n"] == 24


def test_torchrun_two_workers_equal_one_process(tmp_path):
    require_shared(TINY_IMAGENET)
    args = [
        "tiny-imagenet", "--split", "dev", "--limit", "12", "--methods", "gradient,gradcam",
        "--batch-size", "3", "--threads", "1", "--quiet",
    ]  # fmt: skip
    single = subprocess.run(
        EVAL + args + ["--out", str(tmp_path / "one")], capture_output=True, text=True
    )
    assert single.returncode == 0, single.stderr[-2000:]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    sharded = subprocess.run(
        torchrun + ["-m", "thinktwice.cli.main", "eval"] + args + ["--out", str(tmp_path / "two")],
        capture_output=True,
        text=True,
    )
    assert sharded.returncode == 0, sharded.stderr[-2000:]

    def summary(name: str) -> dict:
        data = json.loads((tmp_path / name / "summary.json").read_text())["methods"]
        return {
            m: {k: v for k, v in s.items() if k != "seconds_per_image"} for m, s in data.items()
        }

    assert summary("one") == summary("two")
    one = sorted(map(json.dumps, map(_without_timing, _records(tmp_path / "one"))))
    two = sorted(map(json.dumps, map(_without_timing, _records(tmp_path / "two"))))
    assert one == two and len(one) == 24


@pytest.mark.slow
def test_two_nodes_sharing_one_folder_equal_one_process(tmp_path):
    """docs/benchmarks.md's multi-node command, with two local launchers standing for two
    nodes (static rendezvous on 127.0.0.1, one process each, one shared --out folder)."""
    import socket

    require_shared(TINY_IMAGENET)
    args = ["tiny-imagenet", "--split", "dev", "--limit", "8", "--methods", "gradcam",
            "--batch-size", "2", "--threads", "1", "--quiet"]  # fmt: skip
    single = subprocess.run(EVAL + args + ["--out", str(tmp_path / "one")], capture_output=True,
                            text=True, timeout=600)  # fmt: skip
    assert single.returncode == 0, single.stderr[-2000:]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nodes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes=2",
                f"--node-rank={rank}",
                "--nproc-per-node=1",
                "--master-addr=127.0.0.1",
                f"--master-port={port}",
                "-m",
                "thinktwice.cli.main",
                "eval",
                *args,
                "--out",
                str(tmp_path / "shared"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for rank in (0, 1)
    ]
    for node in nodes:
        _, err = node.communicate(timeout=600)
        assert node.returncode == 0, err[-2000:]
    one = sorted(map(json.dumps, map(_without_timing, _records(tmp_path / "one"))))
    two = sorted(map(json.dumps, map(_without_timing, _records(tmp_path / "shared"))))
    assert one == two and len(one) == 8


def test_shards_take_whole_batches_and_cover_all():
    """Sharding by whole batches: each image keeps the batch it has in a one-process run."""
    from thinktwice.evaluation.run.distributed import Shard

    batches = [[1, 2], [3, 4], [5, 6], [7]]
    assert Shard(0, 2).take(batches) + Shard(1, 2).take(batches) == [[1, 2], [5, 6], [3, 4], [7]]
    assert np.array_equal(sorted(sum(Shard(0, 2).take(batches) + Shard(1, 2).take(batches), [])),
                          list(range(1, 8)))  # fmt: skip


def test_paired_comparison_agrees_with_the_error_rates(small_run):
    """Per method pair, the error difference is the discordant-count difference over n."""
    summaries, out = small_run
    results = ResultsFile(out / "results.jsonl")
    ids = TinyImageNetVal(TINY_IMAGENET, split="dev").image_ids[:12]
    comparisons = compare_with_reference(ScoredRecords(results, ids, list(summaries)), "feedback")
    assert {c.other for c in comparisons} == set(summaries) - {"feedback"}
    keys = {"GT label": "loc_error_gt", "top-1": "loc_error_top1", "top-5": "loc_error_top5"}
    for c in comparisons:
        assert c.images == 12  # one pointing trial per Tiny ImageNet photo, none difficult
        if c.criterion == "pointing":  # an accuracy: higher is better
            difference = summaries["feedback"]["pointing"] - summaries[c.other]["pointing"]
        else:
            key = keys[c.criterion]
            difference = summaries[c.other][key] - summaries["feedback"][key]
        assert difference == pytest.approx((c.only_method - c.only_other) / 12)
    assert {c.criterion for c in comparisons} == {*keys, "pointing"}
    assert "feedback against each method" in (out / "summary.md").read_text()


# --- faithfulness, metric choice, sizes, progress ------------------------------------------------


def _red_manifest(folder: Path, recorded: tuple[int, int] = (96, 80)) -> Path:
    """Two generated photos (96 x 80) in a manifest whose boxes were drawn for ``recorded``."""
    Image.new("RGB", (96, 80), (200, 30, 30)).save(folder / "red.png")
    Image.new("RGB", (96, 80), (30, 200, 30)).save(folder / "green.png")
    width, height = recorded
    obj = {"classes": [1], "box": [0, 0, width // 2, height // 2]}
    entries = [
        {"file": name, "width": width, "height": height, "objects": [obj]}
        for name in ("red.png", "green.png")
    ]
    (folder / "boxes.json").write_text(json.dumps({"images": entries}))
    return folder / "boxes.json"


def test_faithfulness_metrics_in_records_summary_and_paired_tables(lite0, tmp_path):
    dataset = ManifestDataset(_red_manifest(tmp_path))
    settings = EvalSettings(
        methods=("gradient", "feedback"),
        model="efficientnet_lite0",
        dataset="m",
        metrics=("pointing", "deletion", "insertion"),
        metric_steps=4,
    )
    summaries = evaluate(lite0, dataset, tmp_path / "out", settings, progress=False)
    for record in _records(tmp_path / "out"):
        assert 0.0 <= record["deletion_auc"] <= 1.0 and 0.0 <= record["insertion_auc"] <= 1.0
        assert "boxes" not in record and record["loc_gt"] is None  # no "loc": no GrabCut
        assert record["cls_top5"] is not None and record["seconds"]["faithfulness"] > 0
    for summary in summaries.values():
        assert summary["n"] == 2 and summary["loc_error_gt"] is None
        assert summary["deletion_auc"] is not None and summary["pointing"] is not None
    document = json.loads((tmp_path / "out" / "summary.json").read_text())
    scores = {(c["other"], c["score"]) for c in document["paired"]["faithfulness"]}
    assert scores == {("gradient", "deletion AUC"), ("gradient", "insertion AUC")}
    table = (tmp_path / "out" / "summary.md").read_text()
    assert "Wilcoxon" in table and "deletion AUC" in table and "loc. error" not in table
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["metric_steps"] == 4 and run["max_side"] is None  # no GrabCut: no max_side


def test_annotation_for_another_size_is_one_error_line_or_rescaled(lite0, tmp_path):
    """Boxes drawn for 500 x 400 given with 96 x 80 photos: refused per sample, never scored
    in the wrong coordinates; with rescale_boxes they are scaled to the photo."""
    manifest = _red_manifest(tmp_path, recorded=(500, 400))
    settings = EvalSettings(methods=("gradient",), model="efficientnet_lite0", dataset="m")
    lines: list[str] = []
    summary = evaluate(lite0, ManifestDataset(manifest), tmp_path / "refused", settings,
                       progress=False, report=lines.append)  # fmt: skip
    assert summary["gradient"]["n"] == 0 and summary["gradient"]["failed"] == 2
    assert len(lines) == 2 and all("\n" not in line for line in lines)
    assert "500x400" in lines[0] and "96x80" in lines[0] and "--rescale-boxes" in lines[0]

    rescaled = ManifestDataset(manifest, rescale_boxes=True)
    sample, image = rescaled.with_photo(0)
    assert image.size == (96, 80) and (sample.width, sample.height) == (96, 80)
    assert sample.objects[0].box == Box(0, 0, 47, 39)  # [0, 0, 250, 200) scaled by 96/500
    settings = EvalSettings(methods=("gradient",), model="efficientnet_lite0", dataset="m",
                            rescale_boxes=True)  # fmt: skip
    summary = evaluate(lite0, rescaled, tmp_path / "rescaled", settings, progress=False)
    assert summary["gradient"]["n"] == 2 and "failed" not in summary["gradient"]


def test_max_side_and_box_smooth_reach_grabcut_and_run_json(lite0, tmp_path, monkeypatch):
    import thinktwice.evaluation.run.box_pool as box_pool

    seen = []
    real = box_pool.localize

    def spy(photo, smap, method="grabcut", **options):
        seen.append(options)
        return real(photo, smap, method=method, **options)

    monkeypatch.setattr(box_pool, "localize", spy)  # boxes in this process: box_workers=0
    dataset = ManifestDataset(_red_manifest(tmp_path))
    settings = EvalSettings(methods=("gradient",), model="efficientnet_lite0", dataset="m",
                            max_side=48, box_smooth=0.02, box_workers=0)  # fmt: skip
    evaluate(lite0, dataset, tmp_path / "out", settings, progress=False)
    assert seen and all(options == {"max_side": 48, "smooth": 0.02} for options in seen)
    recorded = json.loads((tmp_path / "out" / "run.json").read_text())
    assert (recorded["max_side"], recorded["box_smooth"]) == (48, 0.02)


def test_progress_moves_image_by_image(lite0, tmp_path, monkeypatch):
    """With a batch of 4 images and 2 methods the bar moves after every record, by half an
    image, and reaches the number of images."""
    import thinktwice.evaluation.run.runner as runner

    updates: list[float] = []

    class Bar:
        def __init__(self, *args, **kwargs):
            self.total = kwargs["total"]

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, amount):
            updates.append(amount)

    monkeypatch.setattr(runner, "tqdm", Bar)
    for colour in range(4):
        Image.new("RGB", (64, 64), (60 * colour, 90, 30)).save(tmp_path / f"p{colour}.png")
    obj = {"classes": [1], "box": [0, 0, 32, 32]}
    entries = [{"file": f"p{c}.png", "width": 64, "height": 64, "objects": [obj]} for c in range(4)]
    (tmp_path / "boxes.json").write_text(json.dumps({"images": entries}))
    settings = EvalSettings(methods=("gradient", "gradcam"), model="efficientnet_lite0",
                            dataset="m", batch_size=4)  # fmt: skip
    evaluate(lite0, ManifestDataset(tmp_path / "boxes.json"), tmp_path / "out", settings)
    assert updates == [0.5] * 8 and sum(updates) == 4


def test_a_run_folder_of_an_older_version_is_refused_with_a_clear_message(tmp_path):
    """run.json written before results format 2 (no "format" key): resuming would mix pointing
    trials scored two ways, so it is refused, saying why."""
    old = tmp_path / "old"
    old.mkdir()
    (old / "run.json").write_text(json.dumps({"dataset": "imagenet-val-1000", "box": "grabcut"}))
    settings = EvalSettings(methods=("gradient",), model="efficientnet_lite0",
                            dataset="imagenet-val-1000", max_side=256)  # fmt: skip
    with pytest.raises(ThinkTwiceError, match="another version of thinktwice.*another --out"):
        check_run_settings(old, settings.recorded())
    check_run_settings(tmp_path, settings.recorded())
    with pytest.raises(ThinkTwiceError, match=r"max_side: 256 there, null now"):
        check_run_settings(tmp_path, {**settings.recorded(), "max_side": None})
