"""Shared fixtures: the real shipped model, real photos, and where the shared data lives."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

import thinktwice
from thinktwice.io import load_image

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"
SHARED_IMAGES = SHARED / "images"
TINY_IMAGENET = SHARED / "datasets" / "tiny-imagenet-val"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` (each > 15 s on 2 cores) run only with RUN_SLOW=1 (make test-all)."""
    if os.environ.get("RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow test (> 15 s): run with RUN_SLOW=1, i.e. make test-all")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def require_shared(path: Path = SHARED) -> Path:
    """Skip (saying why) only when the shared data folder is absent, as in a user's clone."""
    if not path.exists():
        pytest.skip(f"{path} is absent (a clone without the shared data); this test needs it")
    return path


@pytest.fixture(scope="session", autouse=True)
def _threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def lite0() -> thinktwice.Classifier:
    """The shipped EfficientNet-Lite0 with its ImageNet weights."""
    return thinktwice.load_model("efficientnet_lite0", device="cpu")


@pytest.fixture(scope="session")
def two_object_photos() -> dict:
    """The manifest of the paper's two-object photos (cat+dog, elephant+zebra)."""
    require_shared(SHARED_IMAGES)
    return json.loads((SHARED_IMAGES / "boxes.json").read_text())


@pytest.fixture(scope="session")
def cat_dog(lite0, two_object_photos) -> tuple[torch.Tensor, dict]:
    """cat_dog_1.jpg as model input, with its manifest entry."""
    entry = two_object_photos["images"][0]
    image = load_image(SHARED_IMAGES / entry["file"])
    return lite0.preprocess(image), entry


@pytest.fixture(scope="session")
def eval_run_with_report(tmp_path_factory) -> tuple[Path, str]:
    """A real `thinktwice eval` run (6 Tiny ImageNet dev images, 3 methods) and its stderr."""
    import subprocess
    import sys

    require_shared(TINY_IMAGENET)
    out = tmp_path_factory.mktemp("report-run") / "run"
    command = [sys.executable, "-m", "thinktwice.cli.main", "eval", "tiny-imagenet",
               "--split", "dev", "--limit", "6", "--methods", "gradient,gradcam,feedback",
               "--batch-size", "3", "--quiet", "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return out, done.stderr
