"""Reader for the Tiny ImageNet validation set (Stanford CS231N).

Layout (``../shared/datasets/tiny-imagenet-val``)::

    images/val_N.JPEG       10,000 photos, 64x64 pixels
    val_annotations.txt     file <TAB> synset id <TAB> x0 <TAB> y0 <TAB> x1 <TAB> y1
    wnids.txt               the 200 synset ids (not needed to read the boxes)

Box convention: the four numbers are *inclusive* pixel indices of the 64x64
image (the largest value in the file is 63 and some boxes have ``x0 == x1``, a
one-pixel-wide box), so they are taken as they are.

Splits, by the number N in the file name (see the datasets README): ``dev`` is
N < 5000, ``test`` is N >= 5000; ``split=None`` gives all 10,000 images.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from thinktwice.errors import DatasetError
from thinktwice.evaluation.datasets.base import (
    GroundTruth,
    LoadedDataset,
    Sample,
    check_split,
    imagenet_synsets,
    inclusive_box,
    parse_int,
    read_text_lines,
)

ANNOTATIONS = "val_annotations.txt"
IMAGES = "images"
IMAGE_SIZE = 64
TEST_START = 5000
_FILE_NAME = re.compile(r"val_(\d+)\.JPEG")
_COORDS = ("x0", "y0", "x1", "y1")


def split_of(number: int) -> str:
    """The README split of image ``val_<number>.JPEG``."""
    return "dev" if number < TEST_START else "test"


def is_tiny_imagenet(root: Path) -> bool:
    """Whether ``root`` looks like a tiny-imagenet-val folder."""
    return (root / ANNOTATIONS).is_file() and (root / IMAGES).is_dir()


class TinyImageNetVal(LoadedDataset):
    """The Tiny ImageNet validation photos with their boxes and ImageNet classes."""

    splits = ("dev", "test")

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        synsets: Mapping[str, int] | None = None,
        name: str = "tiny-imagenet-val",
        rescale_boxes: bool = False,
    ):
        self.rescale_boxes = rescale_boxes
        self.root = Path(root)
        self.name = name
        check_split(split, self.splits, name)
        self.split = split
        if not self.root.is_dir():
            raise DatasetError(f"Tiny ImageNet folder not found: {self.root}")
        if not is_tiny_imagenet(self.root):
            raise DatasetError(
                f"{self.root} is not a tiny-imagenet-val folder: expected {ANNOTATIONS} "
                f"and an {IMAGES}/ folder"
            )
        table = synsets if synsets is not None else imagenet_synsets()
        samples = _read_annotations(self.root, table)
        self._samples = tuple(s for n, s in samples if split is None or split_of(n) == split)


def _read_annotations(root: Path, synsets: Mapping[str, int]) -> list[tuple[int, Sample]]:
    """(N, sample) for every line of the annotation file, sorted by N."""
    path = root / ANNOTATIONS
    lines = read_text_lines(path)
    images = root / IMAGES
    samples: dict[int, Sample] = {}
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        number, sample = _parse_line(images, line, f"{path}:{line_number}", synsets)
        if number in samples:
            raise DatasetError(f"{path}:{line_number}: {sample.image_id} is annotated twice")
        samples[number] = sample
    if not samples:
        raise DatasetError(f"{path} has no annotations")
    return sorted(samples.items())


def _parse_line(
    images: Path, line: str, where: str, synsets: Mapping[str, int]
) -> tuple[int, Sample]:
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) != 6:
        raise DatasetError(
            f"{where}: expected 6 tab-separated columns (file, synset, x0, y0, x1, y1), "
            f"found {len(fields)}"
        )
    file_name, wnid = fields[0].strip(), fields[1].strip()
    match = _FILE_NAME.fullmatch(file_name)
    if match is None:
        raise DatasetError(f"{where}: file name {file_name!r} is not of the form val_N.JPEG")
    values = zip(fields[2:], _COORDS, strict=True)
    x0, y0, x1, y1 = (parse_int(text, where, what) for text, what in values)
    if wnid not in synsets:
        raise DatasetError(
            f"{where}: {file_name} box {[x0, y0, x1, y1]}: synset {wnid!r} is not an "
            "ImageNet-1k class"
        )
    box = inclusive_box((x0, y0, x1, y1), IMAGE_SIZE, IMAGE_SIZE, where)
    obj = GroundTruth(classes=frozenset({synsets[wnid]}), box=box, names=(wnid,))
    sample = Sample(
        image_id=file_name.rsplit(".", 1)[0],
        path=images / file_name,
        width=IMAGE_SIZE,
        height=IMAGE_SIZE,
        objects=(obj,),
        annotation=where,
    )
    return int(match.group(1)), sample
