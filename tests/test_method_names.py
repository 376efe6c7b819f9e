"""Honest names: display names built from the resolved options, file keys that never collide,
the options written beside the maps, the presets and their measured failures."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import thinktwice
from thinktwice import options
from thinktwice.attribution import METHODS, Feedback
from thinktwice.cli.main import main
from thinktwice.evaluation.reporting.html_report import report_data

from .conftest import PROJECT_ROOT, SHARED_IMAGES, require_shared
from .synthetic_run import make_synthetic_run

CLI = [sys.executable, "-m", "thinktwice.cli.main"]


def test_feedback_names_say_what_it_is() -> None:
    assert Feedback.display_name() == "Feedback · gated Grad-CAM × gate gains"
    assert Feedback.display_name({"preset": "relaxed-gradcam"}) == (
        "Feedback · relaxed, top 4 sites, max-iter 2, sparsity 0.1, step 0.2, gated Grad-CAM"
    )
    assert Feedback.display_name({"preset": "paper"}) == "Feedback · FSP, all sites, paper map"
    assert Feedback.display_name({"solver": "fsp", "layers": "all", "saliency": "abs"}) == (
        Feedback.display_name({"preset": "paper"})
    )  # the same variant, however it is spelled
    assert Feedback.display_name({"preset": "recursive"}) == (
        "Feedback · FR, all sites, max-iter 1, paper map"
    )
    assert Feedback.display_name({"layers": "fine", "max_iter": 1}) == Feedback.display_name()
    assert Feedback.variant_key() == "feedback"
    assert Feedback.variant_key({"preset": "paper"}) == "feedback-fsp-all-sites-paper-map"
    assert METHODS["gradcam"].display_name() == "Grad-CAM"
    ebp = METHODS["excitation_backprop"]
    assert ebp.display_name({"layer": "features.12"}) == "Excitation backprop · layer features.12"


def test_different_variants_never_share_a_file_key() -> None:
    """Every combination of a few options: distinct variants (every option they run with,
    solver defaults included) get distinct keys; keys are file-name safe and short."""
    choices = {
        "preset": [None, "paper", "reference", "recursive"],
        "solver": [None, "fsp", "fr"],
        "layers": [None, "all", 8, ["network._head_act", "network._blocks.15._act1"]],
        "saliency": [None, "abs", "positive"],
        "max_iter": [None, 1, 10],
    }
    seen: dict[str, str] = {}
    for values in itertools.product(*choices.values()):
        given = {k: v for k, v in zip(choices, values, strict=True) if v is not None}
        resolved = json.dumps(Feedback.complete_options(**given), sort_keys=True)
        key = Feedback.variant_key(given)
        assert re.fullmatch(r"[a-z0-9-]+", key) and len(key) <= 80, key
        assert seen.setdefault(key, resolved) == resolved, (key, given)
    assert len(seen) > 100


def test_no_method_calls_itself_ours() -> None:
    sources = (PROJECT_ROOT / "src").rglob("*.py")
    assert not [p for p in sources if "(ours)" in p.read_text(encoding="utf-8")]
    assert all("ours" not in cls.label for cls in METHODS.values())


def test_every_preset_is_in_help_and_docs_and_failures_name_a_measurement() -> None:
    done = subprocess.run([*CLI, "explain", "--help"], capture_output=True, text=True)
    helptext = " ".join(done.stdout.split()).replace("- ", "-")  # argparse wraps at hyphens
    docs = (PROJECT_ROOT / "docs" / "feedback.md").read_text(encoding="utf-8")
    for name in options.FEEDBACK_PRESETS:
        assert f"'{name}': " in helptext, name
        assert f"`--preset {name}`" in docs, name
    assert set(options.PRESET_SUMMARIES) == set(options.FEEDBACK_PRESETS)
    assert set(options.PRESET_FAILURES) <= set(options.FEEDBACK_PRESETS)
    paper = options.FEEDBACK_PRESETS["paper"]
    assert paper == {"solver": "fsp", "layers": "all", "saliency": "abs"}


class _Net(nn.Module):
    def __init__(self, batchnorm: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.norm = nn.BatchNorm2d(4) if batchnorm else nn.Identity()
        self.act = nn.ReLU()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.act(self.norm(self.conv(x))).mean(dim=(2, 3)))


@pytest.mark.parametrize("preset", ["paper", "recursive"])
def test_presets_measured_to_fail_on_batchnorm_nets_warn_there_only(preset) -> None:
    with_bn = thinktwice.wrap(_Net(True).eval(), input_size=8, class_names=["a", "b"])
    without = thinktwice.wrap(_Net(False).eval(), input_size=8, class_names=["a", "b"])
    with pytest.warns(UserWarning, match=rf"preset '{preset}' was measured to fail.*BatchNorm"):
        Feedback(with_bn, preset=preset)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Feedback(without, preset=preset)
    with pytest.warns(UserWarning, match="too sparse for GrabCut"):
        Feedback(without, preset="reference")


def test_explain_writes_each_variant_under_its_own_name_with_its_options(tmp_path, capsys):
    """Two explain runs into one folder, the default feedback and --preset paper (one pass, to
    keep it quick): no file of one overwrites the other's, each map has its options beside it."""
    require_shared(SHARED_IMAGES)
    photo = str(SHARED_IMAGES / "cat_dog_1.jpg")
    base = ["explain", photo, "--target", "tiger cat", "--out", str(tmp_path), "--quiet"]
    for extra in ([], ["--preset", "paper", "--max-iter", "1"]):
        assert main([*base, "--methods", "gradcam,feedback", *extra]) == 0, capsys.readouterr()
    names = sorted(p.name for p in tmp_path.iterdir())
    stem = "cat-dog-1__282-tiger-cat"
    paper = "feedback-fsp-all-sites-max-iter-1-paper-map"
    for key in ("feedback", paper, "gradcam"):
        assert f"{stem}__{key}.png" in names and f"{stem}__{key}.npy" in names
        assert f"{key}.options.json" in names
    assert "cat-dog-1__grid.png" in names
    assert f"cat-dog-1__grid__{paper}.png" in names
    default_map = np.load(tmp_path / f"{stem}__feedback.npy")
    assert not np.allclose(default_map, np.load(tmp_path / f"{stem}__{paper}.npy"))
    record = json.loads((tmp_path / f"{paper}.options.json").read_text())
    assert record["label"] == "Feedback · FSP, all sites, max-iter 1, paper map"
    assert record["options"]["solver"] == "fsp" and record["options"]["max_iter"] == 1
    assert record["options"]["decision"] == "gain"  # fsp's own default, filled in
    assert json.loads((tmp_path / "feedback.options.json").read_text())["options"] == (
        Feedback.complete_options()
    )


def test_the_report_names_methods_by_their_options_and_lists_them(tmp_path: Path) -> None:
    run = make_synthetic_run(tmp_path / "run", images=3, methods=("gradcam", "feedback"))
    settings = json.loads((run / "run.json").read_text())
    settings["method_options"] = {"feedback": Feedback.resolved_options(preset="recursive")}
    (run / "run.json").write_text(json.dumps(settings))
    page = report_data(run)
    label = "Feedback · FR, all sites, max-iter 1, paper map"
    assert page.method_labels == {"gradcam": "Grad-CAM", "feedback": label}
    notes = [n for n in page.summary_notes if n.startswith(label)]
    assert notes and "solver fr" in notes[0] and "layers all" in notes[0]
