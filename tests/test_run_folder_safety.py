"""Issue 18's ways to lose data, write outside --out, hang or crash, each reproduced with real
files and processes: symbolic links, FIFOs and devices in a run folder, edited and crafted
results, run.json and manifests, empty datasets, killed writers, bad thread counts.

A refusal is one line ``thinktwice: error: ...``, exit code 2, and leaves every file as it was.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from thinktwice.cli.main import main
from thinktwice.errors import DatasetError, ThinkTwiceError
from thinktwice.evaluation.datasets import ManifestDataset, open_dataset
from thinktwice.evaluation.datasets.manifest import repeated_ids
from thinktwice.evaluation.run.results import ResultsFile
from thinktwice.io.files import remove_stale_temporaries

from .synthetic_run import make_synthetic_run
from .tiny_eval import manifest, run, tiny_imagenet_model

CLI = [sys.executable, "-m", "thinktwice.cli.main"]
DEEP = "[" * 100_000 + "]" * 100_000


def _cli(*args: object, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kwargs)  # fmt: skip


def _main(capsys, *args: object) -> subprocess.CompletedProcess:
    """The program run in this process (for cases that cannot hang), as _cli returns it."""
    capsys.readouterr()
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, status, out, err)


def _one_error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("thinktwice: error: "), done.stderr[-2000:]
    return lines[0]


@pytest.fixture(scope="module")
def model():
    return tiny_imagenet_model()


@pytest.fixture
def data(tmp_path) -> Path:
    return manifest(tmp_path / "data", ["a.png", "b.png", "c.png"])


# --- 2. symbolic links are never written through -------------------------------------------------


def test_a_symlink_at_results_jsonl_is_refused_and_its_target_untouched(tmp_path, data):
    """The issue's repro: `printf 'a\\nb' > victim; ln -s victim OUT/results.jsonl; eval`."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"a\nb")
    out = tmp_path / "OUT"
    out.mkdir()
    (out / "results.jsonl").symlink_to(victim)
    done = _cli("eval", data, "--methods", "gradient", "--out", out, "--quiet")
    assert "symbolic link" in _one_error_line(done)
    assert victim.read_bytes() == b"a\nb"
    assert sorted(p.name for p in out.iterdir()) == ["results.jsonl"]


def test_a_symlink_at_maps_is_refused_nothing_written_outside(tmp_path, data, model):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "OUT"
    out.mkdir()
    (out / "maps").symlink_to(elsewhere, target_is_directory=True)
    done = _cli("eval", data, "--methods", "gradient", "--out", out, "--quiet")
    assert "symbolic link" in _one_error_line(done)
    with pytest.raises(ThinkTwiceError, match="symbolic link"):  # the library refuses too
        run(model, data, out)
    assert list(elsewhere.iterdir()) == []
    assert not (out / "run.json").exists()


def test_the_library_refuses_a_symlink_planted_at_results_after_the_check(tmp_path, data, model):
    """Even past the early check (a link planted between two runs), the append itself
    never follows a link."""
    out = tmp_path / "out"
    run(model, data, out, methods=("gradient",))
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (out / "results.jsonl").unlink()
    (out / "results.jsonl").symlink_to(victim)
    with pytest.raises(ThinkTwiceError, match="symbolic link"):
        ResultsFile(out / "results.jsonl").append({"image_id": "x", "method": "gradient"})
    assert victim.read_text() == "precious\n"


# --- 13. FIFOs and devices: refused before reading, no hang ------------------------------------


def _plant(path: Path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")


@pytest.mark.parametrize(("name", "kind"), [("results.jsonl", "fifo"), ("run.json", "dev-zero")])
def test_a_fifo_or_a_device_in_the_run_folder_is_refused_at_once(tmp_path, data, name, kind):
    """A real process with a timeout: it would hang (FIFO) or fill its memory (/dev/zero)."""
    out = tmp_path / "out"
    out.mkdir()
    _plant(out / name, kind)
    done = _cli("eval", data, "--methods", "gradient", "--out", out, "--quiet", timeout=60)
    line = _one_error_line(done)
    assert "symbolic link" in line or "not a regular file" in line
    report = _cli("report", out, timeout=60)
    assert report.returncode == 2 and "Traceback" not in report.stderr


@pytest.mark.parametrize(("name", "kind"), [("results.jsonl", "dev-zero"), ("run.json", "fifo")])
def test_the_other_plantings_are_refused_too(capsys, tmp_path, data, name, kind):
    out = tmp_path / "out"
    out.mkdir()
    _plant(out / name, kind)
    line = _one_error_line(_main(capsys, "eval", data, "--methods", "gradient", "--out", out))
    assert "symbolic link" in line or "not a regular file" in line
    if name == "results.jsonl":
        (out / "run.json").write_text('{"dataset": "m", "model": "efficientnet_lite0"}')
    report = _main(capsys, "report", out)
    assert report.returncode == 2 and "Traceback" not in report.stderr


def test_a_fifo_class_map_and_a_fifo_manifest_are_refused(tmp_path):
    os.mkfifo(tmp_path / "map.json")
    os.mkfifo(tmp_path / "boxes.json")
    voc = tmp_path / "voc"
    (voc / "Annotations").mkdir(parents=True)
    (voc / "JPEGImages").mkdir()
    done = _cli("eval", voc, "--class-map", tmp_path / "map.json", "--out", tmp_path / "o",
                timeout=60)  # fmt: skip
    assert "named pipe" in _one_error_line(done)
    with pytest.raises(DatasetError, match="named pipe"):
        ManifestDataset(tmp_path / "boxes.json")
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    with pytest.raises(DatasetError, match="character device"):
        ManifestDataset(tmp_path / "zero.json")


def test_a_fifo_at_a_stored_maps_file_is_replaced_and_the_report_skips_it(tmp_path, data, model):
    out = tmp_path / "out"
    (out / "maps").mkdir(parents=True)
    os.mkfifo(out / "maps" / "a.maps")
    with pytest.warns(UserWarning, match="named pipe"):
        summaries = run(model, data, out, methods=("gradient",))
    assert summaries["gradient"]["n"] == 3
    assert (out / "maps" / "a.maps").is_file()  # rewritten as a regular file
    os.unlink(out / "maps" / "b.maps")
    os.mkfifo(out / "maps" / "b.maps")
    report = _cli("report", out, timeout=60)  # a real process: a FIFO read would hang it
    assert report.returncode == 0, report.stderr[-2000:]
    assert "named pipe" in report.stderr and "Traceback" not in report.stderr


# --- 3. file names that are not UTF-8 ------------------------------------------------------------


def test_file_names_that_are_not_utf8_are_evaluated_resumed_and_reported(capsys, tmp_path, model):
    """An ILSVRC folder with `img_\\xff\\xfe.JPEG`: scored, resumed, in the report."""
    from .tiny_eval import photo

    root = tmp_path / "ilsvrc"
    (root / "Annotations").mkdir(parents=True)
    (root / "images").mkdir()
    for stem in (b"img_\xff\xfe", b"plain"):
        name = os.fsdecode(stem)
        photo(root / "images" / f"{name}.JPEG", 1)
        (root / "Annotations" / f"{name}.xml").write_text(
            "<annotation><size><width>48</width><height>48</height></size><object>"
            "<name>n01443537</name><bndbox><xmin>12</xmin><ymin>10</ymin><xmax>33</xmax>"
            "<ymax>29</ymax></bndbox></object></annotation>"
        )
    out = tmp_path / "out"
    assert run(model, root, out)["gradient"]["n"] == 2
    assert run(model, root, out)["gradient"]["n"] == 2  # resumed: nothing to do, no crash
    assert len(list((out / "maps").glob("*.maps"))) == 2
    report = _main(capsys, "report", out)
    assert report.returncode == 0, report.stderr[-2000:]
    assert "img_\\udcff\\udcfe" in (out / "report.html").read_text(encoding="utf-8")


def test_manifest_names_with_surrogates_are_one_error_each(capsys, tmp_path, model):
    folder = tmp_path / "data"
    path = manifest(folder, ["good.png"])
    entries = json.loads(path.read_text())["images"]
    for name in ("y\udcff.jpg", "\ud800.jpg"):
        entries.append({**entries[0], "file": name})
    path.write_text(json.dumps({"images": entries}))
    summaries = run(model, path, tmp_path / "out", methods=("gradient",))
    assert summaries["gradient"]["n"] == 1 and summaries["gradient"]["failed"] == 2
    errors = [r["error"] for r in ResultsFile(tmp_path / "out" / "results.jsonl").records()
              if "error" in r]  # fmt: skip
    assert any("not a file name this system can hold" in e for e in errors)
    report = _main(capsys, "report", tmp_path / "out")
    assert report.returncode == 0, report.stderr[-2000:]


# --- 5. report --out never replaces a run's files -------------------------------------------------


def test_report_out_must_be_an_html_file(capsys, tmp_path):
    out = make_synthetic_run(tmp_path / "run", 3, methods=("gradient", "feedback"))
    before = (out / "results.jsonl").read_bytes()
    done = _cli("report", out, "--out", out / "results.jsonl", timeout=120)
    assert ".html" in _one_error_line(done)
    assert (out / "results.jsonl").read_bytes() == before
    fine = _main(capsys, "report", out, "--out", tmp_path / "page.html")
    assert fine.returncode == 0 and (tmp_path / "page.html").stat().st_size > 1000


# --- 6, 7. edited, crafted and deeply nested files -----------------------------------------------


EDITS = {
    "top5 of text": {"top5": ["a"]},
    "a box of two numbers": {"boxes": {"300": [1, 2]}},
    "loc_gt 1e400": "1e400",
    "seconds of text": {"seconds": "x"},
    "nested brackets": DEEP,
}


def _edit_first_line(results: Path, edit) -> None:
    lines = results.read_text().splitlines(keepends=True)
    record = json.loads(lines[0])
    if edit == "1e400":
        text = json.dumps(record).replace('"loc_gt": 1.0', '"loc_gt": 1e400').replace(
            '"loc_gt": 0.0', '"loc_gt": 1e400')  # fmt: skip
        assert "1e400" in text
    elif edit == DEEP:
        text = DEEP
    else:
        text = json.dumps({**record, **edit})
    results.write_text(text + "\n" + "".join(lines[1:]))


@pytest.mark.parametrize("name", list(EDITS))
def test_an_edited_results_line_is_reported_then_computed_again(
    capsys, tmp_path, data, model, name
):
    out = tmp_path / "out"
    run(model, data, out, methods=("gradient",))
    _edit_first_line(out / "results.jsonl", EDITS[name])
    report = _main(capsys, "report", out)
    if name in ("loc_gt 1e400", "nested brackets"):  # not a record at all: skipped, warned
        assert report.returncode == 0 and "Traceback" not in report.stderr, report.stderr[-2000:]
        assert "warning" in report.stderr
    else:
        assert "the line for" in _one_error_line(report)
    with pytest.warns(UserWarning):
        summaries = run(model, data, out, methods=("gradient",))  # resumes: the pair again
    assert summaries["gradient"]["n"] == 3
    assert _main(capsys, "report", out).returncode == 0


def test_deeply_nested_json_is_one_line_everywhere(capsys, tmp_path, data):
    nested = tmp_path / "nested.json"
    nested.write_text(DEEP)
    assert "nested too deeply" in _one_error_line(_cli("eval", nested, "--out", tmp_path / "a"))
    done = _main(capsys, "eval", data, "--class-map", nested, "--out", tmp_path / "b")
    assert "nested too deeply" in _one_error_line(done)
    out = tmp_path / "c"
    out.mkdir()
    (out / "run.json").write_text(DEEP)
    done = _main(capsys, "eval", data, "--out", out, "--methods", "gradient")
    assert "not a thinktwice run record" in _one_error_line(done)
    assert (out / "run.json").read_text() == DEEP


def test_non_finite_numbers_in_a_manifest_are_refused(tmp_path, data):
    text = data.read_text().replace("[12, 10, 34, 30]", "[12, 10, NaN, 30]", 1)
    data.write_text(text)
    with pytest.raises(DatasetError, match="not finite"):
        ManifestDataset(data)


# --- 8, 9. a run.json deleted, an empty dataset --------------------------------------------------


def test_results_without_run_json_are_not_resumed_with_another_model(tmp_path, data, model):
    out = tmp_path / "out"
    run(model, data, out, methods=("gradient",))
    (out / "run.json").unlink()
    before = (out / "results.jsonl").read_bytes()
    done = _cli("eval", data, "--model", "efficientnet_lite1", "--methods", "gradient",
                "--out", out, "--quiet")  # fmt: skip
    assert "no run.json" in _one_error_line(done)
    assert (out / "results.jsonl").read_bytes() == before and not (out / "run.json").exists()


def test_an_empty_dataset_or_split_writes_nothing(capsys, tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text('{"images": []}')
    out = tmp_path / "out"
    assert "holds no image" in _one_error_line(_cli("eval", empty, "--out", out))
    assert not out.exists()
    root = tmp_path / "ilsvrc"
    (root / "Annotations").mkdir(parents=True)
    (root / "images").mkdir()
    (root / "Annotations" / "x.xml").write_text("<annotation/>")
    (root / "dev.txt").write_text("\n")
    done = _main(capsys, "eval", root, "--split", "dev", "--out", out)
    assert "split 'dev'" in _one_error_line(done) and not out.exists()


# --- 10, 11, 12, 15 -------------------------------------------------------------------------------


def test_bad_thread_counts_are_usage_errors(capsys, tmp_path, data):
    """`--threads 0` was a RuntimeError traceback, `--threads 100000` a segmentation fault."""
    done = _cli("eval", data, "--threads", "100000", "--out", tmp_path / "o")
    assert "number of threads" in _one_error_line(done) and not (tmp_path / "o").exists()
    for threads in ("0", "-1", "many"):
        for command in (["eval", data, "--out", tmp_path / "o"], ["predict", "x.png"]):
            line = _one_error_line(_main(capsys, *command, "--threads", threads))
            assert "number of threads" in line
    assert not (tmp_path / "o").exists()


def test_difficult_as_text_is_refused_not_read_as_difficult(tmp_path):
    path = manifest(tmp_path / "data", ["a.png"], difficult="false")
    with pytest.raises(DatasetError, match="'difficult' must be true or false, got 'false'"):
        ManifestDataset(path)
    flagged = manifest(tmp_path / "flagged", ["a.png"], difficult=True)
    assert ManifestDataset(flagged)[0].objects[0].difficult


class _CountedId(str):
    """An image id that counts how often it is compared for equality."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        type(self).comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_the_duplicate_check_compares_each_id_a_bounded_number_of_times():
    """The duplicate check counted each id in the whole list (50,000 images: 27 s of a 31 s
    load): n ids took n * n comparisons. Counted, not timed: at most a couple per id."""
    repeated = range(0, 3000, 3)
    ids = [_CountedId(f"{n}") for n in range(3000)] + [_CountedId(f"{n}") for n in repeated]
    _CountedId.comparisons = 0
    assert repeated_ids(ids) == sorted(f"{n}" for n in repeated)
    assert _CountedId.comparisons <= 2 * len(ids), _CountedId.comparisons


def test_an_image_listed_twice_is_refused(tmp_path):
    images = [{"file": "a.png", "width": 4, "height": 4, "objects": []}] * 2
    (tmp_path / "dup.json").write_text(json.dumps({"images": images}))
    with pytest.raises(DatasetError, match="more than once: a"):
        ManifestDataset(tmp_path / "dup.json")


def test_temporary_files_of_a_killed_writer_are_removed_by_the_next_run(tmp_path, data, model):
    """SIGKILL during an atomic write leaves `.errors.png.<random>.tmp`; the next eval on
    the folder (holding its lock) removes it, and leaves other files alone."""
    out = tmp_path / "out"
    out.mkdir()
    child = textwrap.dedent(f"""
        import time
        from thinktwice.io.files import atomic_write
        def write(handle):
            handle.write(b"half a picture")
            handle.flush()
            print("writing", flush=True)
            time.sleep(60)
        atomic_write({str(out / "errors.png")!r}, write)
    """)
    writer = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    left = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1 and left[0].startswith(".errors.png.")
    (out / ".my-notes.tmp").write_text("mine")
    run(model, data, out, methods=("gradient",))
    assert sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp")) == [".my-notes.tmp"]
    assert remove_stale_temporaries(tmp_path / "nowhere") == []


def test_a_byte_order_mark_in_a_split_list_is_not_part_of_the_first_id(tmp_path, model):
    from .tiny_eval import photo

    root = tmp_path / "ilsvrc"
    (root / "Annotations").mkdir(parents=True)
    (root / "images").mkdir()
    photo(root / "images" / "one.JPEG", 0)
    (root / "Annotations" / "one.xml").write_text("<annotation/>")
    (root / "dev.txt").write_bytes("\ufeffone\n".encode())
    assert open_dataset(root, split="dev").image_ids == ("one",)
    (root / "test.txt").write_bytes("\ufeffmissing\n".encode())
    with pytest.raises(DatasetError) as raised:
        open_dataset(root, split="test")
    assert "\ufeff" not in str(raised.value) and "missing" in str(raised.value)


def test_eval_out_naming_a_file_is_one_clear_line(tmp_path, data):
    (tmp_path / "file").write_text("x")
    line = _one_error_line(_cli("eval", data, "--out", tmp_path / "file"))
    assert "Errno" not in line and "is not a folder" in line
