"""Reader for ILSVRC (ImageNet CLS-LOC) validation boxes: one XML file per image.

Each file is PASCAL-VOC-style XML (``<annotation><filename>``, ``<size>``,
``<object><name>nXXXXXXXX</name><bndbox><xmin>..``); the object names are
synset ids, mapped to ImageNet-1k class indices with ``imagenet_classes().ids``.
An image is found in a parallel folder by its ``<filename>`` (or, when that is
missing, the XML file's stem) with the ``.JPEG`` extension.

Box convention (the decision this reader makes, and why):

* *Inclusive* corners. The ILSVRC2012 devkit's ``evaluation/compute_overlap.m``
  measures a box as ``xmax - xmin + 1`` pixels wide (``iw=bi(3)-bi(1)+1``), and
  ``eval_localization_flat.m`` counts a guess as right when that IoU is
  ``>= 0.5`` (``f_j = ( ov_vector < 0.50 )`` marks errors). Our
  :func:`~thinktwice.localization.boxes.iou` is the same formula.
* *0-based*. The devkit readme only says the boxes are "in PASCAL VOC format"
  (which is 1-based), but widely used ImageNet loaders read the values
  unchanged and clip them to ``[0, width - 1]`` (e.g.
  ``msracver/Flow-Guided-Feature-Aggregation``, ``lib/dataset/imagenet_vid.py``,
  whose result writer notes "the imagenet expects 0-based indices"), and the
  devkit itself never subtracts 1. So values are used as they are; a file with
  ``xmin = 0`` stays valid. Predicted and true boxes are compared with the same
  formula, so the choice only matters as a one-pixel shift of the true boxes.
* A far edge equal to the image size (one past the last pixel, which some files
  have) is clipped to the last pixel; anything further outside is an error.

Folder layout accepted by :func:`~thinktwice.evaluation.datasets.open_dataset`::

    ROOT/Annotations/*.xml   and  ROOT/images/*.JPEG
    (or the Kaggle layout ROOT/Annotations/CLS-LOC/val + ROOT/Data/CLS-LOC/val)

Splits: a text file ``ROOT/<split>.txt`` listing image ids (one per line, as
``imagenet-val-1000`` has ``dev.txt`` and ``test.txt``) defines split ``<split>``;
without such files the data has no splits.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from thinktwice.errors import DatasetError
from thinktwice.evaluation.datasets.base import (
    Dataset,
    GroundTruth,
    Sample,
    check_split,
    imagenet_synsets,
    inclusive_box,
    read_text_lines,
)
from thinktwice.evaluation.datasets.voc_xml import RawObject, read_voc_xml

IMAGE_SUFFIX = ".JPEG"
_LAYOUTS = (
    ("Annotations", "images"),
    ("annotations", "images"),
    ("Annotations", "Images"),
    ("Annotations/CLS-LOC/val", "Data/CLS-LOC/val"),
)


def find_split_lists(root: Path) -> dict[str, Path]:
    """Split name -> id list file: every ``ROOT/<name>.txt`` (``dev.txt``, ``test.txt``)."""
    return {path.stem: path for path in sorted(root.glob("*.txt")) if path.is_file()}


def read_split_ids(path: Path) -> tuple[str, ...]:
    """The image ids a split file lists, one per line (blank lines ignored)."""
    lines = read_text_lines(path, what="split list")
    return tuple(line.strip() for line in lines if line.strip())


def find_ilsvrc_dirs(root: Path) -> tuple[Path, Path] | None:
    """(annotations_dir, images_dir) when ``root`` has an ILSVRC layout, else None."""
    for ann_name, img_name in _LAYOUTS:
        ann_dir, img_dir = root / ann_name, root / img_name
        if ann_dir.is_dir() and img_dir.is_dir() and any(ann_dir.glob("*.xml")):
            return ann_dir, img_dir
    return None


class IlsvrcDataset(Dataset):
    """ILSVRC validation images with their boxes; annotations are parsed on access.

    ``split_lists`` maps split names to id list files (see :func:`find_split_lists`).
    """

    def __init__(
        self,
        annotations_dir: str | Path,
        images_dir: str | Path,
        split: str | None = None,
        synsets: Mapping[str, int] | None = None,
        name: str = "ilsvrc-val",
        split_lists: Mapping[str, Path] | None = None,
        rescale_boxes: bool = False,
    ):
        self.rescale_boxes = rescale_boxes
        self.annotations_dir = Path(annotations_dir)
        self.images_dir = Path(images_dir)
        self.name = name
        lists = dict(split_lists or {})
        self.splits = tuple(lists)
        check_split(split, self.splits, name)
        self.split = split
        for folder, what in ((self.annotations_dir, "annotations"), (self.images_dir, "images")):
            if not folder.is_dir():
                raise DatasetError(f"ILSVRC {what} folder not found: {folder}")
        self._files = tuple(sorted(self.annotations_dir.glob("*.xml")))
        if not self._files:
            raise DatasetError(f"no .xml annotation files in {self.annotations_dir}")
        if split is not None:
            self._files = self._split_files(read_split_ids(lists[split]), lists[split])
        self._synsets = synsets if synsets is not None else imagenet_synsets()

    def _split_files(self, ids: tuple[str, ...], listed_in: Path) -> tuple[Path, ...]:
        """The annotation files of ``ids``, in list order; an id without one is an error."""
        by_stem = {path.stem: path for path in self._files}
        missing = [image_id for image_id in ids if image_id not in by_stem]
        if missing:
            raise DatasetError(
                f"{listed_in}: {len(missing)} listed image(s) have no annotation in "
                f"{self.annotations_dir} (e.g. {missing[0]})"
            )
        return tuple(by_stem[image_id] for image_id in ids)

    def __len__(self) -> int:
        return len(self._files)

    @property
    def image_ids(self) -> tuple[str, ...]:
        return tuple(path.stem for path in self._files)

    def _load(self, index: int) -> Sample:
        path = self._files[index]
        raw = read_voc_xml(path)
        stem = Path(raw.filename).stem if raw.filename else path.stem
        image = self.images_dir / f"{stem}{IMAGE_SUFFIX}"
        if not image.is_file():
            raise DatasetError(f"{path}: image {image} not found")
        objects = tuple(
            self._object(obj, raw.width, raw.height, f"{path}: object {i + 1} ({obj.name})")
            for i, obj in enumerate(raw.objects)
        )
        return Sample(path.stem, image, raw.width, raw.height, objects, annotation=str(path))

    def _object(self, obj: RawObject, width: int, height: int, where: str) -> GroundTruth:
        if obj.name not in self._synsets:
            raise DatasetError(
                f"{where}: box {list(obj.coords)}: synset {obj.name!r} is not an ImageNet-1k class"
            )
        xmin, ymin, xmax, ymax = obj.coords
        # A far edge one past the last pixel is tolerated (clipped), nothing beyond it.
        xmax = width - 1 if xmax == width else xmax
        ymax = height - 1 if ymax == height else ymax
        box = inclusive_box((xmin, ymin, xmax, ymax), width, height, where)
        return GroundTruth(
            classes=frozenset({self._synsets[obj.name]}),
            box=box,
            difficult=obj.difficult,
            names=(obj.name,),
        )
