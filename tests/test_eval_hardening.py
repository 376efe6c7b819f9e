"""No result lost, no folder locked by a bad option, no traceback: with real files and processes.

Each test reproduces a failure of issue 12 (a file-size limit, SIGKILL, a second process,
a planted symlink, a garbage run.json) and checks it stays fixed.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image

from thinktwice.errors import ThinkTwiceError
from thinktwice.evaluation.run.results import ResultsFile
from thinktwice.io.files import LOCK_NAME, atomic_write, folder_lock

from .conftest import TINY_IMAGENET, require_shared

EVAL = [sys.executable, "-m", "thinktwice.cli.main", "eval"]
TINY_24 = ["tiny-imagenet", "--split", "dev", "--limit", "24", "--methods", "gradient",
           "--batch-size", "4", "--quiet"]  # fmt: skip
# 64 images of Grad-CAM: results.jsonl grows past RUN_FILE_LIMIT before the run ends
TINY_64 = ["tiny-imagenet", "--split", "dev", "--limit", "64", "--methods", "gradcam",
           "--batch-size", "8", "--quiet"]  # fmt: skip
FILE_LIMIT = 3 * 1024  # `ulimit -f 3` in bash
# `ulimit -f 20` for a whole run: each image's stored maps (maps/*.maps, about 7 KB with one
# method; saliency/*.sal, about 13 KB for a Grad-CAM map) still fit, so results.jsonl (about 400
# bytes a line) is the file that meets it.
RUN_FILE_LIMIT = 20 * 1024


def _limit_file_size() -> None:
    """`ulimit -f 8` for the child; SIGXFSZ ignored (Python ignores it anyway at start-up, so a
    write past the limit is a short write and then EFBIG, not a kill)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (RUN_FILE_LIMIT, RUN_FILE_LIMIT))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("thinktwice: error: "), stderr[-2000:]
    return lines[0]


# --- the results file ----------------------------------------------------------------------------


def test_torn_last_line_is_cut_before_the_next_append(tmp_path):
    results = ResultsFile(tmp_path / "results.jsonl")
    results.append({"image_id": "a", "method": "gradient"})
    with open(results.path, "ab") as handle:
        handle.write(b'{"image_id": "b", "meth')  # a writer killed mid-line
    with pytest.warns(UserWarning, match="cut 23 bytes"):
        assert results.repair() == 23
    results.append({"image_id": "c", "method": "gradient"})
    assert results.done() == {("a", "gradient"), ("c", "gradient")}  # nothing glued, no warning
    assert results.repair() == 0


def test_a_short_write_is_undone_and_reported(tmp_path):
    """A child process under a real file-size limit (SIGXFSZ ignored): the append that does
    not fit fails loudly and leaves the file as it was, whole lines only."""
    path = tmp_path / "results.jsonl"
    child = textwrap.dedent(
        f"""
        import resource, signal, sys
        from thinktwice.errors import ThinkTwiceError
        from thinktwice.evaluation.run.results import ResultsFile
        resource.setrlimit(resource.RLIMIT_FSIZE, ({FILE_LIMIT}, {FILE_LIMIT}))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        results = ResultsFile({str(path)!r})
        for number in range(1000):
            try:
                results.append({{"image_id": f"img{{number}}", "method": "m", "pad": "x" * 300}})
            except ThinkTwiceError as error:
                print(number, error)
                sys.exit(0)
        sys.exit(1)
        """
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    written, message = done.stdout.split(" ", 1)
    assert "cannot append a result" in message and "too large" in message.lower()
    lines = _lines(path)
    assert len(lines) == int(written) and all(line.endswith(b"\n") for line in lines)
    assert path.stat().st_size <= FILE_LIMIT
    assert len(ResultsFile(path).done()) == int(written)


@pytest.mark.parametrize("torn", [False, True], ids=["undone", "torn-by-a-kill"])
def test_a_run_stopped_by_a_file_size_limit_resumes_with_every_pair(tmp_path, torn):
    """The issue's `(ulimit -f 3; eval ...); eval ...` (with `ulimit -f 8`, see
    RUN_FILE_LIMIT, 64 Grad-CAM maps): the resumed summary has n=64.

    ``torn``: the last line is then cut mid-record, as a writer killed during its write
    (SIGKILL) leaves it -- what the old code left after an ignored short write."""
    require_shared(TINY_IMAGENET)
    out = tmp_path / "run"
    limited = subprocess.run(
        EVAL + TINY_64 + ["--out", str(out)],
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size,
    )
    assert limited.returncode == 2
    assert "cannot append a result" in _one_error_line(limited.stderr)
    results = out / "results.jsonl"
    assert _lines(results)[-1].endswith(b"\n")  # the failed append was undone, not left torn
    before = len(ResultsFile(results).done())
    if torn:
        os.truncate(results, results.stat().st_size - 40)
        before -= 1
    assert 0 < before < 64

    resumed = subprocess.run(EVAL + TINY_64 + ["--out", str(out)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())["methods"]["gradcam"]
    assert summary["n"] == 64 and "failed" not in summary
    ids = [r["image_id"] for r in ResultsFile(out / "results.jsonl").records()]
    assert len(ids) == len(set(ids)) == 64


# --- settings, run.json, the lock -------------------------------------------------------------


def _manifest(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (96, 80), (200, 30, 30)).save(folder / "red.png")
    entry = {"file": "red.png", "width": 96, "height": 80,
             "objects": [{"classes": [1], "box": [10, 10, 60, 60]}]}  # fmt: skip
    (folder / "boxes.json").write_text(json.dumps({"images": [entry]}))
    return folder / "boxes.json"


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--methods", "feedback", "--max-iter", "-1"], "max_iter"),
        (["--methods", "feedback", "--layers", "bogus"], "bogus"),
        (["--methods", "feedback", "--step", "0"], "step"),
        (["--methods", "nope"], "nope"),
        (["--metrics", "loc,road"], "road"),
        (["--metric-steps", "0"], "metric steps"),
        (["--max-side", "4"], "max side"),
        (["--limit", "0"], "limit"),
        (["--batch-size", "0"], "batch size"),
    ],
)
def test_invalid_options_do_not_bind_the_folder(tmp_path, options, named):
    manifest = _manifest(tmp_path / "data")
    out = tmp_path / "out"
    refused = subprocess.run(EVAL + [str(manifest), "--out", str(out), "--quiet"] + options,
                             capture_output=True, text=True)  # fmt: skip
    assert refused.returncode == 2

    def words(text: str) -> str:  # "--max-iter", "max_iter" and "max iter" name one option
        return text.replace("-", " ").replace("_", " ")

    assert words(named) in words(_one_error_line(refused.stderr))
    assert not (out / "run.json").exists()
    if options[:2] == ["--methods", "feedback"]:  # the corrected command runs in that folder
        fixed = subprocess.run(
            EVAL + [str(manifest), "--out", str(out), "--quiet", "--methods", "feedback"],
            capture_output=True,
            text=True,
        )
        assert fixed.returncode == 0, fixed.stderr[-2000:]


@pytest.mark.parametrize("content", ["[1, 2]", "{not json", '"text"'])
def test_a_garbage_run_json_is_one_line(tmp_path, content):
    manifest = _manifest(tmp_path / "data")
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text(content)
    command = EVAL + [str(manifest), "--out", str(out), "--quiet", "--methods", "gradient"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 2
    assert "not a thinktwice run record" in _one_error_line(done.stderr)


def test_the_dataset_is_recorded_relative_to_the_working_directory(tmp_path):
    _manifest(tmp_path / "data")
    done = subprocess.run(
        EVAL + ["data/boxes.json", "--out", "out", "--quiet", "--methods", "gradient"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((tmp_path / "out" / "run.json").read_text())["dataset"] == "data/boxes.json"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["dataset"] == "data/boxes.json" and str(tmp_path) not in json.dumps(summary)
    # the absolute spelling of the same path names it the same way: the run resumes
    again = subprocess.run(
        EVAL + [str(tmp_path / "data" / "boxes.json"), "--out", "out", "--quiet",
                "--methods", "gradient"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]


def test_a_second_eval_on_the_same_folder_is_refused_at_once(tmp_path):
    require_shared(TINY_IMAGENET)
    out = tmp_path / "run"
    args = ["tiny-imagenet", "--split", "dev", "--limit", "40", "--methods", "gradient",
            "--batch-size", "2", "--quiet", "--out", str(out)]  # fmt: skip
    first = subprocess.Popen(EVAL + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and first.poll() is None:
            if (out / "results.jsonl").exists():
                break
            time.sleep(0.05)
        assert first.poll() is None, first.stderr.read().decode()[-2000:]
        started = time.monotonic()
        second = subprocess.run(EVAL + args, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        line = _one_error_line(second.stderr)
        assert str(out) in line and f"process {first.pid}" in line
        assert time.monotonic() - started < 60  # refused before any work, not after a wait
    finally:
        first.kill()
        first.wait()
    records = [json.loads(x) for x in _lines(out / "results.jsonl") if x.endswith(b"\n")]
    assert len({r["image_id"] for r in records}) == len(records)  # nothing written twice


def test_the_lock_is_held_for_the_block_and_released_after(tmp_path):
    with folder_lock(tmp_path, "a test"):
        child = subprocess.run(
            [sys.executable, "-c",
             "import sys; from thinktwice.io.files import folder_lock\n"
             f"with folder_lock({str(tmp_path)!r}, 'x'): pass"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert child.returncode != 0
        assert f"is in use by x (process {os.getpid()})" in child.stderr
    with folder_lock(tmp_path):  # released: taken again at once
        assert (tmp_path / LOCK_NAME).read_text().strip() == str(os.getpid())


def test_planted_symlinks_are_never_followed(tmp_path, lite0):
    """A fixed temporary name such as run.json.tmp planted as a symlink to a victim file is
    not used; a lock file planted as a symlink is refused."""
    from thinktwice.evaluation.datasets import ManifestDataset
    from thinktwice.evaluation.pipeline import EvalSettings, evaluate

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    for name in ("run.json.tmp", ".run.json.tmp", "summary.json.tmp", "results.jsonl.tmp"):
        (out / name).symlink_to(victim)
    settings = EvalSettings(methods=("gradient",), model="efficientnet_lite0", dataset="m")
    dataset = ManifestDataset(_manifest(tmp_path / "data"))
    evaluate(lite0, dataset, out, settings, progress=False)
    assert victim.read_text() == "precious"
    assert json.loads((out / "run.json").read_text())["dataset"] == "m"
    assert not any(p.name.endswith(".tmp") and not p.is_symlink() for p in out.iterdir())

    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / LOCK_NAME).symlink_to(victim)
    with pytest.raises(ThinkTwiceError, match="symbolic link"):
        evaluate(lite0, dataset, locked, settings, progress=False)
    assert victim.read_text() == "precious" and not (locked / "run.json").exists()


def test_atomic_write_never_opens_an_existing_name(tmp_path, monkeypatch):
    """Even when the random temporary name is guessed and planted, O_EXCL refuses it."""
    import thinktwice.io.files as files

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: "guessed")
    (tmp_path / ".out.json.guessed.tmp").symlink_to(victim)
    with pytest.raises(OSError, match="cannot write"):
        atomic_write(tmp_path / "out.json", lambda handle: handle.write(b"new"))
    assert victim.read_text() == "precious" and not (tmp_path / "out.json").exists()


def test_eval_help_lists_every_layout_with_its_box_convention():
    done = subprocess.run(EVAL + ["--help"], capture_output=True, text=True)
    assert done.returncode == 0
    text = done.stdout
    for layout in ("imagenet-val-1000", "tiny-imagenet", "FILE.json", "Annotations/*.xml",
                   "JPEGImages", "val_annotations.txt", "<split>.txt"):  # fmt: skip
        assert layout in text, layout
    assert "far edges\n" in text or "EXCLUSIVE" in text
    assert text.count("INCLUSIVE") == 3  # ILSVRC, VOC, Tiny ImageNet
    for option in ("--rescale-boxes", "--max-side", "--metrics", "--metric-steps"):
        assert option in text
