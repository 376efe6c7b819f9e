"""A real evaluation in a second: a small ImageNet-shaped network and a folder of small photos.

Runs through the same code as ``thinktwice eval`` (datasets, runner, results, maps,
summary, report) with a network small enough that a test can evaluate, resume and
report a few images many times over.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

import thinktwice
from thinktwice.evaluation.datasets import open_dataset
from thinktwice.evaluation.pipeline import EvalSettings, evaluate

SIDE = 48


def tiny_imagenet_model() -> thinktwice.Classifier:
    """Conv / ReLU / max-pool layers and 1000 scores, as the ImageNet classes need."""
    torch.manual_seed(0)
    network = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 1000),
    )  # fmt: skip
    return thinktwice.wrap(network, input_size=32)


def photo(path: Path, seed: int) -> Path:
    """A photo with a bright square on a dark, noisy background."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 60, (SIDE, SIDE, 3), dtype=np.uint8)
    pixels[10:30, 12:34] = rng.integers(150, 256, 3, dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def manifest(folder: Path, names: Sequence[str], **object_fields: Any) -> Path:
    """A box manifest of one photo per name (each with one object of class 1) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for seed, name in enumerate(names):
        photo(folder / name, seed)
        obj = {"classes": [1], "box": [12, 10, 34, 30], **object_fields}
        entries.append({"file": name, "width": SIDE, "height": SIDE, "objects": [obj]})
    path = folder / "boxes.json"
    path.write_text(json.dumps({"images": entries}))
    return path


def run(
    model: thinktwice.Classifier,
    data: Path,
    out: Path,
    methods: Sequence[str] = ("gradient", "gradcam"),
    **settings: Any,
) -> dict:
    """``thinktwice eval DATA --out OUT`` in this process; the summaries."""
    chosen = EvalSettings(
        methods=tuple(methods), model="efficientnet_lite0", dataset=str(data), **settings
    )
    dataset = open_dataset(data, split=chosen.split)
    return evaluate(model, dataset, out, chosen, progress=False, report=lambda line: None)
