"""Boxes in worker processes, maps kept, runs rescored: the same records as a serial run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED, require_shared
from thinktwice.evaluation.datasets import open_dataset
from thinktwice.evaluation.pipeline import EvalSettings, evaluate, rescore
from thinktwice.evaluation.run.results import RESULTS_NAME
from thinktwice.evaluation.run.saliency_store import SaliencyStore, decode, encode_map, stored_form

IMAGENET = SHARED / "datasets" / "imagenet-val-1000"
TIMING = ("seconds", "finished_at")


def _records(run: Path) -> list[dict]:
    lines = (run / RESULTS_NAME).read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def _settings(**changes) -> EvalSettings:
    base = dict(methods=("gradcam", "feedback"), model="efficientnet_lite0",
                dataset="imagenet-val-1000", split="dev", batch_size=2, limit=4,
                metrics=("loc", "pointing", "maxboxacc"), box_workers=0)  # fmt: skip
    return EvalSettings(**{**base, **changes})


@pytest.fixture(scope="module")
def serial_run(lite0, tmp_path_factory) -> Path:
    require_shared(IMAGENET)
    out = tmp_path_factory.mktemp("serial") / "run"
    dataset = open_dataset("imagenet-val-1000", split="dev")
    evaluate(lite0, dataset, out, _settings(), progress=False)
    return out


def test_a_pooled_and_resumed_run_writes_the_serial_records_in_the_serial_order(
    lite0, serial_run, tmp_path
):
    dataset = open_dataset("imagenet-val-1000", split="dev")
    out = tmp_path / "pooled"
    evaluate(lite0, dataset, out, _settings(limit=2, box_workers=2), progress=False)  # stopped
    evaluate(lite0, dataset, out, _settings(box_workers=2), progress=False)  # resumed
    assert _records(out) == _records(serial_run)
    records = _records(serial_run)
    assert len(records) == 8 and all("maxboxacc" in r and "boxes" in r for r in records)
    assert [r["image_id"] for r in records[:4]] == [r["image_id"] for r in records[:2]] * 2


def test_rescore_with_the_same_settings_gives_the_same_records(serial_run, tmp_path):
    out = tmp_path / "again"
    rescore(serial_run, out, box_workers=0, progress=False)
    key = lambda r: (r["image_id"], r["method"])  # noqa: E731 -- rescore goes image by image
    assert sorted(_records(out), key=key) == sorted(_records(serial_run), key=key)
    run = json.loads((out / "run.json").read_text())
    assert run["maps_from"] == str(serial_run.resolve())


def test_rescore_under_another_box_rule_is_resumable(serial_run, tmp_path):
    out = tmp_path / "threshold"
    summaries = rescore(serial_run, out, box="threshold", metrics=["loc"], progress=False)
    complete = _records(out)
    assert len(complete) == 8 and all("maxboxacc" not in r and "pointing" in r for r in complete)
    assert summaries["gradcam"]["n"] == 4 and "maxboxacc_v2" not in summaries["gradcam"]
    lines = (out / RESULTS_NAME).read_text().splitlines(keepends=True)
    (out / RESULTS_NAME).write_text("".join(lines[:3]) + lines[3][:10])  # killed mid-line
    with pytest.warns(UserWarning, match="incomplete last line"):
        rescore(serial_run, out, box="threshold", metrics=["loc"], progress=False)
    assert _records(out) == complete
    with pytest.raises(Exception, match="different settings"):
        rescore(serial_run, out, box="grabcut", metrics=["loc"], progress=False)


def test_maps_are_stored_once_per_image_and_scored_as_stored(serial_run):
    store = SaliencyStore(serial_run)
    record = _records(serial_run)[0]
    stored = store.read(record["image_id"])
    assert set(stored) == {"gradcam", "feedback"}
    maps = stored[record["method"]].decoded()
    assert all(m.shape == (224, 224) and m.dtype == np.float32 for m in maps.values())
    assert sorted(int(c) for c in record["boxes"]) == sorted(maps)


def test_the_stored_form_keeps_11_bits_and_decodes_to_itself():
    rng = np.random.default_rng(0)
    smap = (rng.random((224, 224)) ** 4 * 3e-3).astype(np.float32)
    smap[0, 0] = np.nan
    encoded, decoded = stored_form(smap)
    finite = np.isfinite(smap)
    normal = finite & (smap >= 2**-14 * np.nanmax(smap))  # float16's normal range
    relative = np.abs(decoded - smap)[normal] / smap[normal]
    assert relative.max() < 2**-11 and np.isnan(decoded[0, 0])
    again, redecoded = stored_form(decoded)
    np.testing.assert_array_equal(redecoded, decoded)  # storing a stored map changes nothing
    smooth = np.outer(np.hanning(224), np.hanning(224)).astype(np.float32)
    assert len(encode_map(smooth).blob) < len(again.blob) / 3  # smooth maps pack small
    from thinktwice.evaluation.run.saliency_store import StoredSaliency, encode

    data = encode("x", {"m": StoredSaliency((3,), (3,), (encoded,))})
    assert decode(data)[1]["m"].classes == (3,)
    with pytest.raises(ValueError, match="checksum"):
        decode(data[:-1] + bytes([data[-1] ^ 1]))


_POOL_THEN_SLEEP = """
import os, time
from thinktwice.evaluation.run.box_pool import BoxPool
pool = BoxPool(2).__enter__()
for job in [pool._executor.submit(time.sleep, 0.3) for _ in range(4)]:
    job.result()  # the workers are up
print(" ".join(str(pid) for pid in pool._executor._processes), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for an absent reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_box_workers_exit_when_their_eval_is_killed():
    """Found while benchmarking: ``kill -9`` of an eval (a user's, or the OOM killer) left its
    box workers sleeping forever, each holding its own end of the pool's queue open."""
    import signal
    import subprocess
    import sys
    import time

    process = subprocess.Popen([sys.executable, "-c", _POOL_THEN_SLEEP], stdout=subprocess.PIPE,
                               text=True)  # fmt: skip
    try:
        workers = [int(pid) for pid in process.stdout.readline().split()]
        assert workers and all(_alive(pid) for pid in workers)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.1)
    left = [pid for pid in workers if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)  # leave nothing behind, whatever the verdict
    assert not left, f"box workers {left} outlived their killed eval"
