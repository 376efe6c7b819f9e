"""PASCAL VOC runs: voc2007 by name, its class map by default, and the scene headline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from thinktwice.evaluation.reporting.html_report import report_data
from thinktwice.evaluation.reporting.summary_files import (
    SCENE_HEADLINE,
    headline_for,
    markdown_summary,
)

EVAL = [sys.executable, "-m", "thinktwice.cli.main", "eval"]


def _voc_object(name: str, box: tuple[int, int, int, int], difficult: bool = False) -> str:
    x0, y0, x1, y1 = box
    return (
        f"<object><name>{name}</name><difficult>{int(difficult)}</difficult><bndbox>"
        f"<xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
    )


def write_voc_photos(root: Path) -> Path:
    """Three 120 x 90 photos: a cat and a dog beside a person; a lone dog; persons only."""
    photos = {
        "000001": [
            ("cat", (5, 5, 40, 40)),
            ("dog", (60, 30, 115, 85)),
            ("person", (45, 1, 60, 90)),
        ],
        "000002": [("dog", (10, 10, 100, 80))],
        "000003": [("person", (10, 10, 100, 80))],
    }
    for folder in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / folder).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for stem, objects in photos.items():
        body = "".join(_voc_object(*o) for o in objects)
        xml = f"<annotation><size><width>120</width><height>90</height></size>{body}</annotation>"
        (root / "Annotations" / f"{stem}.xml").write_text(xml, encoding="utf-8")
        pixels = rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "JPEGImages" / f"{stem}.jpg")
    (root / "ImageSets/Main/test.txt").write_text("000001\n000002\n000003\n", encoding="utf-8")
    class_map = {"cat": [281, 282, 283, 284, 285], "dog": list(range(151, 269))}
    (root / "imagenet_class_map.json").write_text(json.dumps(class_map), encoding="utf-8")
    return root


def test_headline_columns_lead_the_table_only_for_scenes() -> None:
    summary = {
        "n": 2,
        "loc_error_gt": 0.25,
        "loc_error_pairs": 1 / 3,
        "pointing": 0.5,
        "pointing_class_mean": 0.5,
        "pointing_difficult": 1.0,
        "pointing_difficult_class_mean": 1.0,
        "pointing_difficult_trials": 1,
    }
    scene = markdown_summary({"gradient": summary}, "t", headline_for(True))
    header = next(line for line in scene.splitlines() if line.startswith("| method"))
    assert header.split(" | ")[2:5] == [
        "pointing (class mean)",
        "pointing, difficult (class mean)",
        "loc. error per (photo, class)",
    ]
    assert "| gradient | 2 | 50.0% | 100.0% (1) | 33.3% | 25.0% |" in scene
    plain = markdown_summary({"gradient": summary}, "t", headline_for(False))
    assert "per (photo, class)" not in plain and "difficult (class mean)" not in plain
    assert plain.splitlines()[2].startswith("| method | images | loc. error (GT label)")


def test_eval_voc2007_by_name_uses_its_class_map_and_the_scene_headline(tmp_path, monkeypatch):
    """A real `thinktwice eval voc2007` on a VOC folder found through $THINKTWICE_DATASETS."""
    write_voc_photos(tmp_path / "datasets" / "voc2007")
    out = tmp_path / "run"
    command = [*EVAL, "voc2007", "--split", "test", "--methods", "gradient",
               "--metrics", "pointing", "--quiet", "--out", str(out)]  # fmt: skip
    env = {**__import__("os").environ, "THINKTWICE_DATASETS": str(tmp_path / "datasets")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "note: 1 of 3 photos have no object of a class the class map names" in done.stderr
    assert "warning" not in done.stderr  # the persons-only photo is not an error
    run = json.loads((out / "run.json").read_text())
    assert run["dataset"] == "voc2007" and sorted(run["class_map"]) == ["cat", "dog"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["headline"] == list(SCENE_HEADLINE)
    gradient = summary["methods"]["gradient"]
    assert gradient["n"] == 2 and "failed" not in gradient
    assert gradient["pointing_trials"] == 3  # cat and dog of photo 1, the dog of photo 2
    # the cat is small beside the dog and the person: difficult; the big dog is not
    assert gradient["pointing_difficult_trials"] == 1
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {r["image_id"] for r in records} == {"000001", "000002"}
    page = report_data(out)
    assert [c.key for c in page.columns][:2] == list(SCENE_HEADLINE[:2])
    assert page.headline == list(SCENE_HEADLINE)
    assert (out / "summary.md").read_text().count("Headline") == 1
    assert "pointing (class mean)" in done.stdout.splitlines()[4]
