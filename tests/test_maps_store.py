"""The maps store: what an evaluation keeps for the report, complete after any interruption."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from thinktwice.evaluation.datasets.base import GroundTruth, Sample
from thinktwice.evaluation.run.maps_store import (
    MAP_SIDE,
    PHOTO_SIDE,
    MapsStore,
    decode,
    display_map,
    encode,
    file_key,
)
from thinktwice.localization.boxes import Box

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _sample(image_id: str = "img_1", width: int = 300, height: int = 200) -> Sample:
    objects = (
        GroundTruth(frozenset({281, 282}), Box(10, 20, 150, 180), names=("cat",)),
        GroundTruth(frozenset({207}), Box(160, 30, 290, 190), difficult=True, names=("dog",)),
    )
    return Sample(image_id, Path("x.jpg"), width, height, objects)


def _photo(width: int = 300, height: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def _maps(seed: int = 0, *classes: int) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {c: rng.normal(size=(224, 224)).astype(np.float32) for c in classes or (281, 207)}


def test_round_trip_keeps_ground_truth_photo_and_maps(tmp_path):
    store = MapsStore(tmp_path)
    sample, photo, maps = _sample(), _photo(), _maps(0)
    store.record("gradient", sample, photo, maps, [281, 207])
    stored = store.read("img_1")
    assert stored is not None
    assert (stored.image_id, stored.width, stored.height) == ("img_1", 300, 200)
    assert stored.objects == sample.objects
    thumbnail = Image.open(io.BytesIO(stored.photo_jpeg))
    assert thumbnail.format == "JPEG" and max(thumbnail.size) == PHOTO_SIDE
    assert abs(thumbnail.size[0] / thumbnail.size[1] - 1.5) < 0.02  # aspect kept
    entry = stored.methods["gradient"]
    assert entry.classes == (281, 207) and entry.representatives == (281, 207)
    assert entry.maps.shape == (2, MAP_SIDE, MAP_SIDE) and entry.maps.dtype == np.uint8
    for c in (281, 207):
        assert np.array_equal(entry.of(c), display_map(maps[c]))
    assert entry.of(5) is None


def test_methods_accumulate_and_a_rerun_replaces(tmp_path):
    store = MapsStore(tmp_path)
    sample = _sample()
    store.record("gradient", sample, _photo(seed=1), _maps(1), [281, 207])
    first = store.read("img_1")
    store.record("feedback", sample, _photo(seed=2), _maps(2, 282), [282])
    store.record("gradient", sample, _photo(seed=3), _maps(3), [281, 207])
    stored = store.read("img_1")
    assert set(stored.methods) == {"gradient", "feedback"}
    assert stored.photo_jpeg == first.photo_jpeg  # the photo is stored once, by the first method
    assert np.array_equal(stored.methods["gradient"].of(281), display_map(_maps(3)[281]))
    assert stored.methods["feedback"].classes == (282,)
    assert len(list(tmp_path.joinpath("maps").iterdir())) == 1


def test_display_map_cuts_negatives_and_outliers():
    smap = np.ones((224, 224), np.float32)
    smap[:, :112] = -5.0  # left half negative
    smap[200, 200] = 1e6  # one extreme pixel
    smap[0, 0] = np.nan
    shown = display_map(smap)
    assert shown.max() == 255
    assert shown[:, : MAP_SIDE // 2 - 1].max() == 0
    assert np.median(shown[:, MAP_SIDE // 2 + 1 :]) >= 250  # not crushed by the outlier
    assert not display_map(np.full((10, 10), -1.0)).any()


def test_file_keys_are_safe_and_distinct():
    ids = ["val_1", "a/b", "a%2Fb", "../up", ".hidden", "x" * 400, "x" * 401, "élan vital"]
    keys = [file_key(i) for i in ids]
    assert len(set(keys)) == len(ids)
    for key in keys:
        assert "/" not in key and not key.startswith(".") and 0 < len(key) <= 150
    assert file_key("ILSVRC2012_val_00000001") == "ILSVRC2012_val_00000001"


def test_odd_image_ids_round_trip(tmp_path):
    store = MapsStore(tmp_path)
    for image_id in ("dir/sub/img.jpg", "..", "y" * 500):
        store.record("gradcam", _sample(image_id), _photo(), _maps(4), [281, 207])
    assert sorted(s.image_id for s in store) == sorted(["dir/sub/img.jpg", "..", "y" * 500])
    assert [p.parent for p in (tmp_path / "maps").iterdir()] == [tmp_path / "maps"] * 3


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_damaged_files_are_detected_skipped_and_rewritten(tmp_path, damage):
    store = MapsStore(tmp_path)
    store.record("gradient", _sample("a"), _photo(), _maps(5), [281, 207])
    store.record("gradient", _sample("b"), _photo(), _maps(6), [281, 207])
    path = store.path_of("a")
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[-10] ^= 0xFF
    else:
        data = bytearray(b"not a maps file at all")
    path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="unreadable stored maps"):
        assert [s.image_id for s in store] == ["b"]
    with pytest.warns(UserWarning, match="rewritten"):
        store.record("feedback", _sample("a"), _photo(), _maps(7), [281, 207])
    assert set(store.read("a").methods) == {"feedback"}


def test_encode_decode_is_exact(tmp_path):
    store = MapsStore(tmp_path)
    store.record("gradient", _sample(), _photo(), _maps(8), [281, 207])
    stored = store.read("img_1")
    again = decode(encode(stored))
    assert again.objects == stored.objects and again.photo_jpeg == stored.photo_jpeg
    assert np.array_equal(again.methods["gradient"].maps, stored.methods["gradient"].maps)


_WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_maps_store import _sample, _photo, _maps
    from thinktwice.evaluation.run.maps_store import MapsStore
    store = MapsStore(Path({run!r}))
    number = 0
    while True:  # rewrite a few images over and over, one method at a time
        image = f"img_{{number % 7}}"
        method = ("gradient", "feedback", "gradcam")[number % 3]
        store.record(method, _sample(image), _photo(seed=number), _maps(number), [281, 207])
        number += 1
    """
)


def test_a_writer_killed_at_any_moment_leaves_no_corrupt_file(tmp_path):
    """SIGKILL a process that keeps rewriting image files; every file left reads back whole."""
    script = _WRITER.format(tests=str(PROJECT_ROOT / "tests"), run=str(tmp_path))
    for attempt in range(4):
        process = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        folder = tmp_path / "maps"
        while time.monotonic() < deadline and process.poll() is None:
            if folder.is_dir() and len(list(folder.glob("*.maps"))) >= 7:
                break
            time.sleep(0.01)
        time.sleep(0.05 * attempt)  # kill at different points of a rewrite
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an unreadable file would warn
            stored = list(MapsStore(tmp_path))
        assert len(stored) == 7
        assert all(s.methods for s in stored)
    # leftovers of killed writes are hidden temporary files, never taken for images
    assert all(p.name.startswith(".") for p in folder.iterdir() if p.suffix != ".maps")


def test_eval_killed_and_resumed_ends_with_every_map_stored(tmp_path):
    """A result line is appended only after its maps are stored, so after SIGKILL every
    finished line has its maps; the resumed run completes the store, nothing corrupt."""
    from thinktwice.evaluation.run.results import ResultsFile

    from .conftest import TINY_IMAGENET, require_shared

    require_shared(TINY_IMAGENET)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "thinktwice.cli.main", "eval", "tiny-imagenet",
               "--split", "dev", "--limit", "10", "--methods", "gradcam,gradient",
               "--batch-size", "1", "--threads", "1", "--quiet", "--out", str(out)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if results.exists() and results.read_bytes().count(b"\n") >= 5:
            break
        time.sleep(0.02)
    assert process.poll() is None, process.stderr.read().decode()[-2000:]
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    def check(expected_lines: int | None) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            stored = {s.image_id: s for s in MapsStore(out)}
        records = [r for r in ResultsFile(results).records()]
        assert expected_lines is None or len(records) == expected_lines
        for record in records:
            assert record["method"] in stored[record["image_id"]].methods

    check(None)
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-2000:]
    check(20)
    assert (out / "report.html").exists()
