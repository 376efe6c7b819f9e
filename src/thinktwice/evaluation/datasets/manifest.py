"""Reader for a JSON box manifest such as ``../shared/images/boxes.json``.

Format::

    {"images": [
        {"file": "cat_dog_1.jpg", "width": 500, "height": 313,
         "objects": [{"name": "kitten", "classes": [281, 282, 285],
                      "box": [80, 70, 245, 305]}, ...]},
        ...]}

``file`` is relative to the manifest's folder; ``width``/``height`` the size of
the photo the boxes were drawn on (checked against the decoded photo when it is
read); ``classes`` the classes accepted for the object, each an ImageNet-1k
index (``285``) or a WordNet synset id (``"n02124075"``); ``name`` is optional
(shown, not used for scoring); ``difficult`` optional (true or false, default false).

Box convention: the boxes were drawn by hand and their far edges reach the
image size (``x1 = 640`` on a 640-pixel-wide image), so ``x1``/``y1`` are read
as *exclusive* far edges (one past the last pixel) with
:meth:`Box.from_exclusive`, then clipped to the image. A box that starts
outside the image, ends beyond its size or is empty is an error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from thinktwice.errors import DatasetError
from thinktwice.evaluation.datasets.base import (
    GroundTruth,
    LoadedDataset,
    Sample,
    check_split,
    imagenet_synsets,
)
from thinktwice.io.checked_json import read_json
from thinktwice.localization.boxes import Box

NUM_CLASSES = 1000


def is_manifest(path: Path) -> bool:
    """Whether ``path`` is a JSON file (a candidate manifest)."""
    return path.is_file() and path.suffix.lower() == ".json"


class ManifestDataset(LoadedDataset):
    """Images and boxes listed in a JSON manifest; no splits."""

    splits = ()

    def __init__(
        self,
        path: str | Path,
        split: str | None = None,
        name: str | None = None,
        num_classes: int = NUM_CLASSES,
        rescale_boxes: bool = False,
    ):
        self.rescale_boxes = rescale_boxes
        self.path = Path(path)
        self.name = name or f"{self.path.parent.name}/{self.path.name}"
        check_split(split, self.splits, self.name)
        self.split = None
        self._samples = tuple(_read_manifest(self.path, num_classes))


def _read_manifest(path: Path, num_classes: int) -> list[Sample]:
    if not path.exists():
        raise DatasetError(f"box manifest not found: {path}")
    data = read_json(path, what="box manifest", error=DatasetError)
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise DatasetError(f"{path}: expected an object with an 'images' list")
    samples = [_parse_image(path, entry, i, num_classes) for i, entry in enumerate(images)]
    duplicates = repeated_ids(sample.image_id for sample in samples)
    if duplicates:
        raise DatasetError(f"{path}: images listed more than once: {', '.join(duplicates)}")
    return samples


def repeated_ids(ids: Iterable[str]) -> list[str]:
    """The ids that occur more than once, sorted; one pass over a hash table, so a
    50,000-image manifest is checked in linear time (counting each id in the whole list
    took 27 s of a 31 s load)."""
    return sorted(i for i, count in Counter(ids).items() if count > 1)


def _parse_image(path: Path, entry: Any, index: int, num_classes: int) -> Sample:
    where = f"{path}: images[{index}]"
    if not isinstance(entry, dict):
        raise DatasetError(f"{where} is not an object")
    file_name = entry.get("file")
    if not isinstance(file_name, str) or not file_name:
        raise DatasetError(f"{where}: missing 'file'")
    where = f"{path}: image {file_name!r}"
    width = _positive_int(entry.get("width"), where, "width")
    height = _positive_int(entry.get("height"), where, "height")
    objects = entry.get("objects")
    if not isinstance(objects, list):
        raise DatasetError(f"{where}: missing 'objects' list")
    parsed = tuple(
        _parse_object(obj, f"{where} objects[{i}]", width, height, num_classes)
        for i, obj in enumerate(objects)
    )
    return Sample(
        image_id=Path(file_name).stem,
        path=path.parent / file_name,
        width=width,
        height=height,
        objects=parsed,
        annotation=where,
    )


def _parse_object(obj: Any, where: str, width: int, height: int, num_classes: int) -> GroundTruth:
    if not isinstance(obj, Mapping):
        raise DatasetError(f"{where} is not an object")
    raw_classes = obj.get("classes")
    if not isinstance(raw_classes, list) or not all(
        _is_int(c) or isinstance(c, str) for c in raw_classes
    ):
        raise DatasetError(
            f"{where}: 'classes' must be a list of class indices or synset ids (\"n02124075\")"
        )
    box = _exclusive_box(obj.get("box"), where, width, height)
    where = f"{where} box {obj.get('box')}"
    bad = [c for c in raw_classes if _is_int(c) and not 0 <= c < num_classes]
    if bad:
        raise DatasetError(f"{where}: class indices {bad} outside 0..{num_classes - 1}")
    classes = [c if _is_int(c) else _synset_class(c, where) for c in raw_classes]
    name = obj.get("name")
    return GroundTruth(
        classes=frozenset(classes),
        box=box,
        difficult=_difficult(obj.get("difficult", False), where),
        names=(name,) if isinstance(name, str) else (),
    )


def _difficult(value: Any, where: str) -> bool:
    """The ``difficult`` flag: a JSON boolean (0 and 1 are taken too); the text "false"
    is not false to ``bool()``, so text is refused rather than read as difficult."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if _is_int(value) and value in (0, 1):
        return bool(value)
    raise DatasetError(f"{where}: 'difficult' must be true or false, got {value!r}")


def _synset_class(wnid: str, where: str) -> int:
    synsets = imagenet_synsets()
    if wnid not in synsets:
        raise DatasetError(f"{where}: synset {wnid!r} is not an ImageNet-1k class")
    return synsets[wnid]


def _exclusive_box(raw: Any, where: str, width: int, height: int) -> Box:
    """A manifest box [x0, y0, x1, y1] with exclusive far edges, checked and clipped."""
    if not isinstance(raw, list) or len(raw) != 4 or not all(_is_number(v) for v in raw):
        raise DatasetError(f"{where}: 'box' must be four numbers [x0, y0, x1, y1]")
    x0, y0, x1, y1 = raw
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise DatasetError(
            f"{where}: box {raw} (exclusive far edges) is empty or outside the "
            f"{width}x{height} image"
        )
    return Box.from_exclusive(x0, y0, x1, y1).clip(width, height)


def _positive_int(value: Any, where: str, what: str) -> int:
    if not _is_int(value) or value <= 0:
        raise DatasetError(f"{where}: {what} must be a positive integer, got {value!r}")
    return int(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
