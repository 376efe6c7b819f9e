"""The commands' work on photos: reading them, class probabilities, titles.

Imports torch and numpy, so commands import it inside ``run`` (the parser and
``--help`` stay fast).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from thinktwice.cli.common import report, slug, unique_stem
from thinktwice.io.images import image_to_array, iter_images
from thinktwice.models.classifier import Classifier
from thinktwice.models.state import eval_mode
from thinktwice.visualization.labels import class_title


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
