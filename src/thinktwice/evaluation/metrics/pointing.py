"""The pointing game (Zhang et al., ECCV 2016) exactly as TorchRay scores it.

Facts taken from ``facebookresearch/TorchRay`` (commit 6a198ee):

* **Map to image.** ``torchray/attribution/common.py``, ``resize_saliency``: the
  map is resized to the original image size with ``F.interpolate(...,
  mode="bilinear", align_corners=False)`` -- bilinear with half-pixel centres and
  no antialiasing, also when it shrinks the map (``examples/attribution_benchmark.py``
  passes ``resize=image_size``). :func:`map_to_image` does exactly that.
* **Point.** ``examples/attribution_benchmark.py``, ``_saliency_to_point``:
  ``torch.argmax`` of the flattened map, i.e. the *first* maximum in row-major
  order on ties (smallest y, then smallest x); ``numpy.argmax`` does the same.
* **Hit.** ``torchray/benchmark/pointing_game.py``, ``PointingGame.evaluate``:
  default ``tolerance=15``; the point (u, v) hits when some pixel of the class's
  mask satisfies ``(x - u)**2 + (y - v)**2 < tolerance**2`` -- strictly less, so
  a point exactly 15 px away misses.
* **Mask.** ``torchray/benchmark/datasets.py``, ``voc_as_mask``: the union of
  *all* boxes of the class, difficult ones included (VOC 1-based inclusive
  corners shifted by -1: box pixels are inclusive).
* **Trials.** ``PointingGameBenchmark.evaluate``: one trial per class present in
  an image; the pair is skipped when all of the class's boxes are
  PASCAL-``difficult``.
* **Accuracy.** ``PointingGame.accuracy`` is the mean of the per-class accuracies
  ``hits / max(hits + misses, 1)`` over *all* of the dataset's 20 (VOC) or 80
  (COCO) classes. Every class has trials there; on ImageNet data (1000 classes,
  most absent from a subset) :attr:`PointingGame.class_mean_accuracy` averages
  over the classes that had trials. ``accuracy`` (hits over trials) is given too.
* **Difficult subset.** TorchRay does not compute it: it ships the Excitation
  Backprop (EBP) paper's per image/class flags
  (``pointing_game_ebp_voc07_difficult.txt``, COCO likewise) and in difficult
  mode skips the pairs flagged 0 (pairs of images missing from the file are
  kept). :func:`ebp_difficult` implements the EBP criterion for data without
  such files: the class's boxes cover less than a quarter of the image *and*
  a non-difficult object of another class is present (this matches the shipped
  VOC07 flags; see the function). ILSVRC validation images have one class each, so
  no pair of them is EBP-difficult; :func:`small_object` (the first half of the
  criterion alone) gives the subset that is informative there.

Not part of the rules above, and not done here: TorchRay's benchmark script blurs
the gradient, deconvnet and guided-backprop maps (``smooth=0.02``: a Gaussian of
2% of the long side) before taking the point; every method's map is scored raw
here, the same way for all methods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from thinktwice.errors import ThinkTwiceError
from thinktwice.evaluation.datasets.base import GroundTruth
from thinktwice.evaluation.metrics.fields import checked_field
from thinktwice.localization.boxes import Box

POINTING_TOLERANCE = 15
SMALL_AREA_SHARE = 0.25


def map_to_image(saliency: np.ndarray | torch.Tensor, width: int, height: int) -> np.ndarray:
    """The map resized to ``width`` x ``height`` as TorchRay does (bilinear, half-pixel
    centres, no antialiasing), as float32."""
    values = torch.as_tensor(np.asarray(saliency, dtype=np.float32))
    if values.ndim != 2:
        raise ValueError(f"a saliency map must be 2-D, got shape {tuple(values.shape)}")
    if tuple(values.shape) == (height, width):
        return values.numpy()
    resized = F.interpolate(
        values[None, None], size=(height, width), mode="bilinear", align_corners=False
    )
    return resized[0, 0].numpy()


def max_point(saliency: np.ndarray) -> tuple[int, int]:
    """(x, y) of the map's maximum; ties go to the first in row-major order (as TorchRay)."""
    values = np.asarray(saliency)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"a saliency map must be a non-empty 2-D array, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("the saliency map has NaN or infinite values")
    y, x = divmod(int(np.argmax(values)), values.shape[1])
    return x, y


def point_hit(
    point: tuple[float, float], boxes: Sequence[Box], tolerance: float = POINTING_TOLERANCE
) -> bool:
    """Whether (x, y) lies strictly closer than ``tolerance`` px to a pixel of some box."""
    if not boxes:
        raise ValueError("the pointing game needs at least one ground-truth box")
    x, y = point
    return any(box.distance_to(x, y) < tolerance for box in boxes)


def pointing_hit(
    saliency_in_original_pixels: np.ndarray,
    boxes: Sequence[Box],
    tolerance: float = POINTING_TOLERANCE,
) -> bool:
    """TorchRay's pointing game on one map already resized to the original image."""
    return point_hit(max_point(saliency_in_original_pixels), boxes, tolerance)


def pointing_boxes(objects: Sequence[GroundTruth], class_index: int) -> tuple[Box, ...] | None:
    """The boxes a pointing trial of ``class_index`` is scored against, None to skip it.

    As TorchRay: all boxes of the class, difficult ones included; the trial is
    skipped when the class has no box or only ``difficult`` boxes.
    """
    matching = [obj for obj in objects if class_index in obj.classes]
    if not matching or all(obj.difficult for obj in matching):
        return None
    return tuple(obj.box for obj in matching)


def small_object(objects: Sequence[GroundTruth], class_index: int, width: int, height: int) -> bool:
    """Whether the union of the class's boxes covers less than a quarter of the image."""
    boxes = [obj.box for obj in objects if class_index in obj.classes]
    if not boxes:
        return False
    mask = np.zeros((height, width), dtype=bool)
    for box in boxes:
        mask[box.y0 : box.y1 + 1, box.x0 : box.x1 + 1] = True
    return int(mask.sum()) < SMALL_AREA_SHARE * width * height


def ebp_difficult(
    objects: Sequence[GroundTruth], class_index: int, width: int, height: int
) -> bool:
    """The Excitation Backprop "difficult" criterion for one image/class pair.

    True when the class's boxes cover less than a quarter of the image and the
    image also holds a *non-difficult* object of another class (a distractor;
    an object without ImageNet classes, such as a VOC ``person``, counts). This
    is the definition stated in the EBP paper (Zhang et al., ECCV 2016), which
    TorchRay does not compute but ships as precomputed flags
    (``pointing_game_ebp_voc07_difficult.txt``). Checked against those flags on
    the 33 photos of our voc2007 test split among its first 1,320 ids (every
    class with a non-difficult box, person included): this rule agrees on all
    33; counting difficult objects as distractors too disagrees on 5 (for
    instance 000658, a sofa beside a cat marked difficult: flag 0), and leaving
    the class's difficult boxes out of its area disagrees on 000413. The area is
    the union of all the class's boxes in pixels, difficult ones included.
    """
    distractor = any(class_index not in obj.classes and not obj.difficult for obj in objects)
    return distractor and small_object(objects, class_index, width, height)


@dataclass(frozen=True)
class PointingTrial:
    """One pointing-game trial: an image/class pair, hit or miss, and its subsets.

    ``point`` is where the map pointed, (x, y) in the photo's pixels (None when not
    recorded, as in results written before it was); it does not take part in equality.
    ``label`` names the ground-truth label the trial scores (the smallest of its
    accepted classes, see :func:`label_of`); the class mean groups trials by it, so a
    VOC class mapped to several ImageNet classes counts once, as in TorchRay. None:
    the label is ``class_index`` (one accepted class per label, or an older record).
    """

    class_index: int
    hit: bool
    difficult: bool = False  # EBP: small and with a distractor class
    small: bool = False  # the class's boxes cover less than a quarter of the image
    point: tuple[int, int] | None = field(default=None, compare=False)
    label: int | None = field(default=None, compare=False)

    @property
    def label_key(self) -> int:
        """The key the class mean groups by."""
        return self.class_index if self.label is None else self.label

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "class_index": self.class_index,
            "hit": self.hit,
            "difficult": self.difficult,
            "small": self.small,
        }
        if self.point is not None:
            data["point"] = list(self.point)
        if self.label is not None and self.label != self.class_index:
            data["label"] = self.label
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PointingTrial:
        if not isinstance(data, Mapping):
            raise ThinkTwiceError(f"a pointing trial must be a JSON object, got {data!r}")
        point = checked_field(data, "point", list, default=None)
        if point is not None and not (
            len(point) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in point)
        ):
            raise ThinkTwiceError(f"pointing field 'point' must be [x, y] pixels, got {point!r}")
        return cls(
            class_index=checked_field(data, "class_index", int),
            hit=checked_field(data, "hit", bool),
            difficult=checked_field(data, "difficult", bool, default=False),
            small=checked_field(data, "small", bool, default=False),
            point=None if point is None else (point[0], point[1]),
            label=checked_field(data, "label", int, default=None),
        )


def pointing_trial(
    saliency_in_original_pixels: np.ndarray,
    objects: Sequence[GroundTruth],
    class_index: int,
    tolerance: float = POINTING_TOLERANCE,
    difficult: bool = False,
    image_size: tuple[int, int] | None = None,
    small: bool = False,
) -> PointingTrial | None:
    """Score one map for one class, None when TorchRay would skip the pair.

    ``image_size`` (width, height), when given, is checked against the map's
    shape: the game is played in original image pixels.
    """
    values = np.asarray(saliency_in_original_pixels)
    if image_size is not None and values.shape != (image_size[1], image_size[0]):
        raise ValueError(
            f"saliency map of shape {values.shape} does not match the "
            f"{image_size[0]}x{image_size[1]} image; resize it to the original size first"
        )
    boxes = pointing_boxes(objects, class_index)
    if boxes is None:
        return None
    point = max_point(values)
    hit = point_hit(point, boxes, tolerance)
    return PointingTrial(class_index, hit, difficult, small, point, label_of(objects, class_index))


def label_of(objects: Sequence[GroundTruth], class_index: int) -> int:
    """The ground-truth label that accepts ``class_index``, named by its smallest accepted
    class (VOC's `dog` mapped to 118 ImageNet dog classes is one label whichever of them the
    model ranks best)."""
    accepting = [min(obj.classes) for obj in objects if class_index in obj.classes]
    return min(accepting, default=class_index)


def play(
    saliency: np.ndarray, objects: Sequence[GroundTruth], class_index: int, width: int, height: int
) -> PointingTrial | None:
    """One full trial: the map (any size) resized as TorchRay does, flagged for both subsets."""
    return pointing_trial(
        map_to_image(saliency, width, height),
        objects,
        class_index,
        difficult=ebp_difficult(objects, class_index, width, height),
        small=small_object(objects, class_index, width, height),
    )


class PointingGame:
    """Hits and misses per class, with TorchRay's two accuracies."""

    def __init__(self) -> None:
        self._counts: dict[int, list[int]] = {}

    def add(self, class_index: int, hit: bool) -> None:
        counts = self._counts.setdefault(class_index, [0, 0])
        counts[0 if hit else 1] += 1

    @property
    def hits(self) -> int:
        return sum(c[0] for c in self._counts.values())

    @property
    def misses(self) -> int:
        return sum(c[1] for c in self._counts.values())

    @property
    def trials(self) -> int:
        return self.hits + self.misses

    @property
    def accuracy(self) -> float | None:
        """hits / (hits + misses) over all trials; None without trials."""
        return self.hits / self.trials if self.trials else None

    @property
    def class_mean_accuracy(self) -> float | None:
        """Mean of per-class accuracies over the classes that had trials (TorchRay's number,
        which averages over all of its 20/80 classes, each of which has trials)."""
        if not self._counts:
            return None
        return sum(h / (h + m) for h, m in self._counts.values()) / len(self._counts)
