"""The commands' work on photos: reading them, their maps, class probabilities, titles.

Imports torch and numpy, so commands import it inside ``run`` (the parser and
``--help`` stay fast).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from thinktwice.cli.common import method_options, report, slug, unique_stem
from thinktwice.io.images import image_to_array, iter_images
from thinktwice.models.classifier import Classifier
from thinktwice.models.state import eval_mode
from thinktwice.visualization.labels import class_title

if TYPE_CHECKING:
    from thinktwice import Explanation


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


def probabilities(model: Classifier, inputs: torch.Tensor) -> torch.Tensor:
    """Softmax class probabilities [N, classes] (on the CPU) of a batch of model inputs."""
    with eval_mode(model), torch.no_grad():
        return model(inputs).softmax(dim=1).cpu()


def pair_title(model: Classifier, class_index: int, probability: float) -> str:
    """The row title of a figure: class name and index, then the probability."""
    return class_title(model.classes.name(class_index), class_index, probability)


def pair_stem(photo: Photo, class_index: int, model: Classifier) -> str:
    return f"{photo.stem}__{class_index}-{slug(model.classes.name(class_index))}"


def photo_maps(
    model: Classifier,
    photos: Sequence[Photo],
    specs: Sequence[int | str],
    method: str,
    args: argparse.Namespace,
    **settings: Any,
) -> Explanation:
    """explain() of ``method`` for every class of ``specs`` on each photo, with the options
    ``args`` set for the method and a progress bar unless ``--quiet``; ``settings`` go to
    explain() as they are (``batch_size``)."""
    from thinktwice import explain

    images, targets = [photo.image for photo in photos], [list(specs)] * len(photos)
    progress = False if getattr(args, "quiet", False) else None
    options = method_options(method, args)
    return explain(model, images, targets, method=method, progress=progress, **settings, **options)


def photo_pairs(result: Explanation, photos: Sequence[Photo]) -> Iterator[tuple[int, Photo, int]]:
    """(pair index, its photo, its class) for each (image, class) pair of ``result``."""
    rows, classes = result.image_index.tolist(), result.targets.tolist()
    for pair, (row, target) in enumerate(zip(rows, classes, strict=True)):
        yield pair, photos[row], target
