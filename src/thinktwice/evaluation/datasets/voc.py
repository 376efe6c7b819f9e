"""Reader for PASCAL VOC style data (a ``VOCdevkit/VOC2007``-like folder).

Layout::

    ROOT/Annotations/<id>.xml
    ROOT/JPEGImages/<id>.jpg
    ROOT/ImageSets/Main/<split>.txt     optional: one image id per line

Splits are the ``ImageSets/Main/*.txt`` files whose name has no underscore
(``train``, ``val``, ``trainval``, ``test``; the per-class lists such as
``cat_train.txt`` are not splits). ``split=None`` reads every annotation file.

Box convention: VOC corners are *1-based inclusive* pixel indices (the VOC
devkit is MATLAB code; ``xmin = 1`` is the first column), so every corner is
shifted by -1 to the library's 0-based inclusive boxes. A box outside
``1..width`` x ``1..height`` is an error. The ``<difficult>`` flag is kept.

VOC classes are not ImageNet classes: pass ``class_map`` (VOC name -> the
ImageNet-1k indices that count as that class) to fill ``GroundTruth.classes``;
objects whose name is not in the map, or every object when there is no map,
get empty ``classes``. The VOC name is always kept in ``GroundTruth.names``.
An object without classes (``person``: ImageNet has no such class) is never a
target, but it stays in its photo: it is a distractor for the pointing game's
difficult subset (:func:`~thinktwice.evaluation.metrics.pointing.ebp_difficult`).

With a class map, a photo none of whose objects has a class (only persons,
say) has nothing to score: it is left out of :attr:`VocDataset.image_ids` and
listed in :attr:`VocDataset.untargeted`, so a run neither fails on it nor
counts it.

A VOC folder may ship its own map as ``imagenet_class_map.json`` (the shared
``voc2007`` does): :func:`folder_class_map` reads it, and
:func:`~thinktwice.evaluation.datasets.open_dataset` applies it by default.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from thinktwice.errors import DatasetError
from thinktwice.evaluation.datasets.base import (
    Dataset,
    GroundTruth,
    Sample,
    check_split,
    inclusive_box,
    read_text_lines,
)
from thinktwice.evaluation.datasets.voc_xml import RawObject, read_voc_xml

ANNOTATIONS = "Annotations"
IMAGES = "JPEGImages"
SPLITS_DIR = Path("ImageSets") / "Main"
IMAGE_SUFFIX = ".jpg"
NUM_CLASSES = 1000
#: The ImageNet class map a VOC folder may ship beside its annotations.
CLASS_MAP_FILE = "imagenet_class_map.json"


def is_voc_root(root: Path) -> bool:
    """Whether ``root`` has the VOC Annotations/ and JPEGImages/ folders."""
    return (root / ANNOTATIONS).is_dir() and (root / IMAGES).is_dir()


def voc_splits(root: Path) -> tuple[str, ...]:
    """The split names listed under ImageSets/Main (per-class lists excluded)."""
    folder = root / SPLITS_DIR
    if not folder.is_dir():
        return ()
    return tuple(sorted(p.stem for p in folder.glob("*.txt") if "_" not in p.stem))


class VocDataset(Dataset):
    """PASCAL VOC images with boxes, ``difficult`` flags and optional ImageNet classes."""

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        class_map: Mapping[str, Iterable[int]] | None = None,
        name: str | None = None,
        rescale_boxes: bool = False,
    ):
        self.rescale_boxes = rescale_boxes
        self.root = Path(root)
        self.name = name or self.root.name
        if not self.root.is_dir():
            raise DatasetError(f"VOC folder not found: {self.root}")
        if not is_voc_root(self.root):
            raise DatasetError(
                f"{self.root} is not a VOC folder: expected {ANNOTATIONS}/ and {IMAGES}/"
            )
        self.splits = voc_splits(self.root)
        check_split(split, self.splits, self.name)
        self.split = split
        self._class_map = _check_class_map(class_map or {})
        ids = _split_ids(self.root, split) if split else _all_ids(self.root)
        #: Photos left out because no object has a class of the map (empty without a map).
        self.untargeted: tuple[str, ...] = self._untargeted(ids) if self._class_map else ()
        left_out = set(self.untargeted)
        self._ids = tuple(i for i in ids if i not in left_out)

    @property
    def class_map(self) -> dict[str, list[int]] | None:
        """The class map in use (VOC name -> sorted ImageNet indices), None without one."""
        if not self._class_map:
            return None
        return {name: sorted(indices) for name, indices in sorted(self._class_map.items())}

    def _untargeted(self, ids: Iterable[str]) -> tuple[str, ...]:
        """The photos none of whose objects is in the class map. A file that cannot be read
        stays in: its error is reported when its sample is loaded."""
        left_out = []
        for image_id in ids:
            try:
                raw = read_voc_xml(self.root / ANNOTATIONS / f"{image_id}.xml")
            except DatasetError:
                continue
            if not any(obj.name in self._class_map for obj in raw.objects):
                left_out.append(image_id)
        return tuple(left_out)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def image_ids(self) -> tuple[str, ...]:
        return self._ids

    def _load(self, index: int) -> Sample:
        image_id = self._ids[index]
        path = self.root / ANNOTATIONS / f"{image_id}.xml"
        raw = read_voc_xml(path)
        image = self.root / IMAGES / f"{image_id}{IMAGE_SUFFIX}"
        if not image.is_file():
            raise DatasetError(f"{path}: image {image} not found")
        objects = tuple(
            self._object(obj, raw.width, raw.height, f"{path}: object {i + 1} ({obj.name})")
            for i, obj in enumerate(raw.objects)
        )
        return Sample(image_id, image, raw.width, raw.height, objects, annotation=str(path))

    def _object(self, obj: RawObject, width: int, height: int, where: str) -> GroundTruth:
        xmin, ymin, xmax, ymax = (v - 1 for v in obj.coords)  # 1-based -> 0-based
        box = inclusive_box((xmin, ymin, xmax, ymax), width, height, where)
        return GroundTruth(
            classes=self._class_map.get(obj.name, frozenset()),
            box=box,
            difficult=obj.difficult,
            names=(obj.name,),
        )


def folder_class_map(root: str | Path) -> dict[str, list[int]] | None:
    """The ImageNet class map a VOC folder ships (:data:`CLASS_MAP_FILE`), None when it
    has none; a DatasetError naming the file when it is not a name -> indices object."""
    path = Path(root) / CLASS_MAP_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise DatasetError(f"{path}: unreadable class map ({error})") from error
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise DatasetError(f"{path}: expected an object of VOC name -> list of ImageNet indices")
    try:
        checked = _check_class_map(data)
    except DatasetError as error:
        raise DatasetError(f"{path}: {error}") from error
    return {name: sorted(indices) for name, indices in checked.items()}


def _check_class_map(class_map: Mapping[str, Iterable[int]]) -> dict[str, frozenset[int]]:
    checked: dict[str, frozenset[int]] = {}
    for voc_name, indices in class_map.items():
        values = frozenset(indices)
        bad = sorted(
            v
            for v in values
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < NUM_CLASSES
        )
        if bad:
            raise DatasetError(
                f"class_map[{voc_name!r}]: {bad} are not ImageNet class indices 0..999"
            )
        checked[voc_name] = values
    return checked


def _all_ids(root: Path) -> tuple[str, ...]:
    ids = tuple(sorted(p.stem for p in (root / ANNOTATIONS).glob("*.xml")))
    if not ids:
        raise DatasetError(f"no .xml annotation files in {root / ANNOTATIONS}")
    return ids


def _split_ids(root: Path, split: str) -> tuple[str, ...]:
    path = root / SPLITS_DIR / f"{split}.txt"
    lines = read_text_lines(path, what="split list")
    ids: list[str] = []
    for line_number, line in enumerate(lines, start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 1:
            raise DatasetError(f"{path}:{line_number}: expected one image id, got {line!r}")
        if not (root / ANNOTATIONS / f"{tokens[0]}.xml").is_file():
            raise DatasetError(f"{path}:{line_number}: no annotation {ANNOTATIONS}/{tokens[0]}.xml")
        ids.append(tokens[0])
    return tuple(ids)
