"""The record every dataset reader yields, and the small base class they share.

All readers turn their own annotation format into :class:`Sample` records whose
boxes are :class:`~thinktwice.localization.boxes.Box` objects in the library's
convention: *inclusive*, 0-based pixel indices of the original image file.
Each reader's module docstring says how it converts its format.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image

from thinktwice.errors import DatasetError
from thinktwice.io.files import read_regular_file
from thinktwice.io.images import load_image
from thinktwice.localization.boxes import Box
from thinktwice.models.classes import imagenet_classes


@dataclass(frozen=True)
class GroundTruth:
    """One annotated object.

    ``classes`` holds the ImageNet-1k indices accepted as a correct label for the
    object (empty when the dataset's labels are not ImageNet classes and no
    mapping was given); ``names`` keeps the dataset's own label(s) for display
    and for mapping later (a synset id, a VOC class name, ...).
    """

    classes: frozenset[int]
    box: Box
    difficult: bool = False
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sample:
    """One image with its ground-truth objects.

    ``width`` x ``height`` is the photo size the annotation was made for (its
    boxes lie inside it); ``annotation`` says where the annotation came from, for
    messages (a file, or a file and an entry).
    """

    image_id: str
    path: Path
    width: int
    height: int
    objects: tuple[GroundTruth, ...] = field(default=())
    annotation: str | None = None

    @property
    def classes(self) -> frozenset[int]:
        """Every ImageNet index accepted for some object of the image."""
        return frozenset().union(*(obj.classes for obj in self.objects))

    def boxes_of(self, class_index: int) -> tuple[Box, ...]:
        """The boxes of the objects that accept ``class_index``."""
        return tuple(obj.box for obj in self.objects if class_index in obj.classes)


class Dataset(ABC):
    """A finite, indexable collection of :class:`Sample` records.

    ``splits`` lists the named subsets the data defines (empty when it has
    none); ``split`` is the one this instance holds, None meaning all images.
    """

    name: str
    splits: tuple[str, ...] = ()
    split: str | None = None
    rescale_boxes: bool = False

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def _load(self, index: int) -> Sample:
        """The sample at a valid, non-negative ``index``."""

    @property
    @abstractmethod
    def image_ids(self) -> tuple[str, ...]:
        """The ids of the samples in order, known without parsing annotations."""

    def __getitem__(self, index: int) -> Sample:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"dataset indices are integers, not {type(index).__name__}")
        size = len(self)
        if not -size <= index < size:
            raise IndexError(f"index {index} out of range for {self.name} ({size} images)")
        return self._load(index % size)

    def with_photo(self, index: int) -> tuple[Sample, Image.Image]:
        """The sample and its decoded photo, its boxes in the photo's pixels.

        The annotation's recorded size is checked against the photo: a photo of
        another size is an error (DatasetError, one line), or, with
        ``rescale_boxes``, the boxes are scaled to the photo.
        """
        sample = self[index]
        image = load_image(sample.path)
        return fit_to_photo(sample, image.width, image.height, self.rescale_boxes), image

    def __iter__(self) -> Iterator[Sample]:
        for index in range(len(self)):
            yield self._load(index)

    def __repr__(self) -> str:
        split = f", split={self.split!r}" if self.split is not None else ""
        return f"{type(self).__name__}(name={self.name!r}{split}, images={len(self)})"


def fit_to_photo(sample: Sample, width: int, height: int, rescale: bool = False) -> Sample:
    """``sample`` for a decoded photo of ``width`` x ``height`` pixels.

    Unchanged when the annotation was made for that size; otherwise, with
    ``rescale``, every box scaled by the size ratio (pixel x covers [x, x + 1),
    see :meth:`Box.scale`), and without it a DatasetError naming both sizes --
    boxes drawn for another size would be scored in the wrong coordinates.
    """
    if (sample.width, sample.height) == (width, height):
        return sample
    where = sample.annotation or sample.image_id
    if not rescale:
        raise DatasetError(
            f"{where}: annotated for a {sample.width}x{sample.height} photo but "
            f"{sample.path.name} is {width}x{height}; pass --rescale-boxes "
            "(rescale_boxes=True) to scale its boxes to the photo"
        )
    sx, sy = width / sample.width, height / sample.height
    objects = tuple(
        replace(obj, box=obj.box.scale(sx, sy).clip(width, height)) for obj in sample.objects
    )
    return replace(sample, width=width, height=height, objects=objects)


def check_split(split: str | None, splits: tuple[str, ...], name: str) -> None:
    """Raise DatasetError when ``split`` is not one of the dataset's splits."""
    if split is None or split in splits:
        return
    if not splits:
        raise DatasetError(f"{name} has no splits; got split={split!r} (use split=None)")
    raise DatasetError(f"{name} has no split {split!r}; it has: {', '.join(splits)}")


def synset_index(ids: Iterable[str] | None) -> Mapping[str, int]:
    """Synset id -> class index, from ``ClassNames.ids`` in class-index order."""
    if ids is None:
        raise DatasetError("the class list has no synset ids to map dataset labels with")
    return {wnid: index for index, wnid in enumerate(ids)}


def imagenet_synsets() -> Mapping[str, int]:
    """Synset id -> ImageNet-1k class index (the standard order)."""
    return synset_index(imagenet_classes().ids)


def parse_int(text: str | None, where: str, what: str) -> int:
    """An integer annotation value; DatasetError naming ``where`` when it is not one.

    Integral decimals such as ``"12.0"`` are accepted (some XML exporters write
    them); anything else is an error, never silently rounded.
    """
    if text is None or not text.strip():
        raise DatasetError(f"{where}: missing {what}")
    raw = text.strip()
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        value = float(raw)
    except ValueError:
        raise DatasetError(f"{where}: {what} {raw!r} is not a number") from None
    if not value.is_integer():
        raise DatasetError(f"{where}: {what} {raw!r} is not a whole pixel index")
    return int(value)


def inclusive_box(coords: tuple[int, int, int, int], width: int, height: int, where: str) -> Box:
    """An inclusive 0-based box that must lie inside a ``width`` x ``height`` image."""
    x0, y0, x1, y1 = coords
    if not (0 <= x0 <= x1 < width and 0 <= y0 <= y1 < height):
        raise DatasetError(
            f"{where}: box {list(coords)} (inclusive pixels) is empty or outside the "
            f"{width}x{height} image"
        )
    return Box(x0, y0, x1, y1)


#: The largest annotation file (XML, id list, annotation table) a reader takes.
ANNOTATION_LIMIT = 64 * 2**20


def read_annotation(path: Path, what: str = "annotation file") -> bytes:
    """The bytes of an annotation file: a regular file of bounded size (a FIFO or a device
    planted there is refused before reading; DatasetError naming the file)."""
    return read_regular_file(path, limit=ANNOTATION_LIMIT, what=what, error=DatasetError)


def read_text_lines(path: Path, what: str = "annotation file") -> list[str]:
    """The lines of a UTF-8 text annotation file (a byte-order mark is not part of the first
    line); DatasetError naming the file when it is not such a file."""
    try:
        text = read_annotation(path, what).decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not UTF-8 text (byte {error.start}: {error.reason})") from None
    return text.splitlines()


class LoadedDataset(Dataset):
    """A dataset whose samples are all parsed up front into ``_samples`` (small annotation
    files: a manifest, Tiny ImageNet's table)."""

    _samples: tuple[Sample, ...] = ()

    def __len__(self) -> int:
        return len(self._samples)

    def _load(self, index: int) -> Sample:
        return self._samples[index]

    @property
    def image_ids(self) -> tuple[str, ...]:
        return tuple(sample.image_id for sample in self._samples)
