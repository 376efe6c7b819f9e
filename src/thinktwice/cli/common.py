"""What every command shares: model and feedback options, targets, photos, output folders.

Errors a user causes are reported as one line, ``thinktwice: error: <what>``;
per-image problems are reported and the other images still processed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from thinktwice.attribution import METHODS
from thinktwice.errors import ThinkTwiceError
from thinktwice.io.images import image_to_array, iter_images
from thinktwice.models.classifier import Classifier
from thinktwice.models.zoo import DEFAULT_MODEL, list_models, load_model

PROGRAM = "thinktwice"
TOP_SPECS = ("top1", "top5")
FEEDBACK_FLAGS = ("solver", "layers", "max_iter", "step", "sparsity")


def report(message: str) -> None:
    """One line on stderr, in the program's error format."""
    print(f"{PROGRAM}: error: {message}", file=sys.stderr)


# --- options ------------------------------------------------------------------------------------


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"model zoo name: {', '.join(list_models())}"
    )
    parser.add_argument("--weights", help="weights file (needed for vgg16, alexnet, googlenet)")


def model_from_args(args: argparse.Namespace) -> Classifier:
    return load_model(args.model, weights=args.weights)


def add_feedback_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("feedback options (library defaults when omitted)")
    group.add_argument("--solver", choices=("fsp", "fr", "relaxed"))
    group.add_argument("--layers", help="'all', the top k gate sites, or comma-separated names")
    group.add_argument("--max-iter", type=int, help="feedback passes after the first")
    group.add_argument("--step", type=float, help="relaxed solver: ascent step")
    group.add_argument("--sparsity", type=float, help="relaxed solver: price per open gate")


def feedback_options(args: argparse.Namespace) -> dict[str, Any]:
    """Only the feedback options the user set, so the library defaults apply otherwise."""
    options: dict[str, Any] = {}
    for flag in FEEDBACK_FLAGS:
        value = getattr(args, flag, None)
        if value is not None:
            options[flag] = parse_layers(value) if flag == "layers" else value
    return options


def method_options(method: str, args: argparse.Namespace) -> dict[str, Any]:
    return feedback_options(args) if method == "feedback" else {}


def parse_layers(text: str) -> int | str | list[str]:
    if text == "all":
        return text
    if text.isdigit():
        return int(text)
    return [name.strip() for name in text.split(",") if name.strip()]


def add_target_argument(parser: argparse.ArgumentParser, repeat: bool = True) -> None:
    parser.add_argument(
        "--target",
        action="append" if repeat else "store",
        help="class index, name ('tabby'), top1 or top5"
        + (" (repeat for several classes)" if repeat else "")
        + "; default top1",
    )


def check_methods(methods: Sequence[str]) -> list[str]:
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ThinkTwiceError(
            f"unknown method {', '.join(unknown)}; choose from: {', '.join(METHODS)}"
        )
    return list(dict.fromkeys(methods))


def target_specs(model: Classifier, targets: Sequence[str] | str | None) -> list[int | str]:
    """The targets as explain() takes them; names are checked now, before any work."""
    raw = [targets] if isinstance(targets, str) else list(targets or ["top1"])
    specs: list[int | str] = []
    for text in raw:
        spec: int | str = int(text) if text.strip().lstrip("-").isdigit() else text.strip()
        if not (isinstance(spec, str) and spec.lower() in TOP_SPECS):
            model.classes.lookup(spec)  # raises UnknownClassError with close names
        specs.append(spec)
    return specs


# --- photos and outputs ---------------------------------------------------------------------------


@dataclass
class Photo:
    """A readable input image: where it came from, the PIL image, its pixels, a file stem."""

    path: Path
    image: Image.Image
    pixels: np.ndarray
    stem: str


def read_photos(paths: Iterable[str | Path]) -> tuple[list[Photo], int]:
    """Every readable image, and how many could not be read (each reported on one line)."""
    photos: list[Photo] = []
    failures = 0
    stems: set[str] = set()
    for path, loaded in iter_images([Path(p) for p in paths]):
        if isinstance(loaded, Exception):
            report(str(loaded))
            failures += 1
            continue
        stem = unique_stem(Path(path).stem, stems)
        photos.append(Photo(Path(path), loaded, image_to_array(loaded), stem))
    return photos, failures


def unique_stem(stem: str, taken: set[str]) -> str:
    candidate, number = slug(stem), 2
    while candidate in taken:
        candidate, number = f"{slug(stem)}-{number}", number + 1
    taken.add(candidate)
    return candidate


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "image"


def output_folder(path: str | Path) -> Path:
    """The output folder, created if needed; a clear error when it cannot be written."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ThinkTwiceError(
            f"{folder}: cannot create the output folder ({error.strerror})"
        ) from error
    if not folder.is_dir():
        raise ThinkTwiceError(f"{folder}: the output path exists and is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ThinkTwiceError(f"{folder}: the output folder is not writable")
    return folder


def probabilities(model: Classifier, inputs: torch.Tensor) -> torch.Tensor:
    """Softmax class probabilities [N, classes] of a batch of model inputs."""
    model.eval()
    with torch.no_grad():
        return model(inputs).softmax(dim=1)


def pair_title(model: Classifier, class_index: int, probability: float) -> str:
    return f"{model.classes.name(class_index)} ({class_index})  p={probability:.2f}"


def pair_stem(photo: Photo, class_index: int, model: Classifier) -> str:
    return f"{photo.stem}__{class_index}-{slug(model.classes.name(class_index))}"


DISPLAY_QUANTILE = 0.995


def for_display(saliency: np.ndarray) -> np.ndarray:
    """The map clipped at its 99.5% quantile, so a few extreme pixels do not hide the rest
    (gradient maps are sparse); only pictures use it, the saved .npy stays raw."""
    values = np.asarray(saliency, dtype=np.float32)
    ceiling = float(np.quantile(values, DISPLAY_QUANTILE))
    return np.minimum(values, ceiling) if ceiling > 0 else values
