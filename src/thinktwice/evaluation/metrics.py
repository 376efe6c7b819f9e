"""Localization, classification and pointing-game metrics, as pure functions over plain data.

Ground truth comes as :class:`~thinktwice.evaluation.datasets.GroundTruth`
objects (ImageNet class sets + inclusive boxes); predictions as a ranked list of
``(class_index, box or None)`` guesses. Per-image results are collected in an
:class:`ImageOutcome` (JSON-serialisable, one line per image in a results file)
and summarised by :class:`MetricsAccumulator`.

**Localization (ILSVRC).** A guess is right when its class is accepted by a
ground-truth object and its box has IoU >= 0.5 with a box of an object of that
class; an image is right at k when any of the first k guesses is (the ILSVRC2012
devkit, ``evaluation/eval_localization_flat.m``, marks an error with
``ov_vector < 0.50``, so IoU exactly 0.5 counts as right; its IoU,
``compute_overlap.m``, uses inclusive ``+1`` widths like
:func:`~thinktwice.localization.boxes.iou`). Boxes flagged ``difficult`` count
like any other (the devkit ignores the flag). For images with several
ground-truth labels the devkit averages the error over labels; ILSVRC2012 val
has one label per image, where both agree, and :func:`loc_correct` uses the
simpler "any guess" rule. *With ground-truth labels* (:func:`loc_gt_score`) one
guess is given per ground-truth label and the score is the fraction of labels
whose guess localizes an object of that label -- 1 or 0 for single-label images,
the devkit's per-label average otherwise.

**Pointing game (TorchRay).** Facts taken from ``facebookresearch/TorchRay``:

* ``torchray/benchmark/pointing_game.py``, ``PointingGame``: default
  ``tolerance=15``; a point (u, v) hits when some pixel of the class's
  ground-truth mask satisfies ``(dv)**2 + (du)**2 < tolerance**2`` -- strictly
  less, so a point exactly 15 px away misses (the docs page,
  ``_sources/benchmark.rst.txt``, writes ``<=``; the code is what ran). Accuracy
  is ``hits / (hits + misses)`` per class, and the reported number is the mean
  of the per-class accuracies (over all 20/80 classes there).
* ``torchray/benchmark/datasets.py``, ``voc_as_mask``: the mask is the union of
  *all* boxes of the class (VOC 1-based inclusive corners shifted by -1, so box
  pixels are inclusive).
* ``PointingGameBenchmark.evaluate``: an image/class pair is skipped when all of
  the class's boxes are PASCAL-``difficult``; each class present in an image is
  one trial.
* ``examples/attribution_benchmark.py``, ``_saliency_to_point``: the point is
  ``torch.argmax`` of the flattened map (resized to the original image size),
  i.e. the *first* maximum in row-major order when there are ties -- the
  smallest y, then the smallest x. ``numpy.argmax`` does the same.
* The "difficult" subset (from the Excitation Backprop paper, EBP) is not
  computed by TorchRay: it ships per image/class flags
  (``pointing_game_ebp_voc07_difficult.txt``, COCO likewise) and, in difficult
  mode, skips pairs flagged 0. Here each :class:`PointingTrial` carries a
  ``difficult`` flag set by the caller; :func:`ebp_difficult` implements the
  EBP criterion for data without such files (see its docstring).

Summary values are fractions in [0, 1]; a value is None when nothing was
measured for it (for example pointing on a run that only localized).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thinktwice.errors import ThinkTwiceError
from thinktwice.evaluation.datasets.base import GroundTruth
from thinktwice.localization.boxes import Box, iou

IOU_THRESHOLD = 0.5
POINTING_TOLERANCE = 15
TOP_K = 5
SUMMARY_KEYS = (
    "n",
    "loc_error_gt",
    "loc_error_top1",
    "loc_error_top5",
    "cls_error_top1",
    "cls_error_top5",
    "pointing",
)

Guess = tuple[int, Box | None]


# --- classification and localization -------------------------------------------------------


def class_boxes(objects: Iterable[GroundTruth], class_index: int) -> list[Box]:
    """The boxes of the objects that accept ``class_index``."""
    return [obj.box for obj in objects if class_index in obj.classes]


def cls_correct(classes: Sequence[int], objects: Sequence[GroundTruth], k: int = 1) -> bool:
    """Whether any of the first ``k`` ranked classes is accepted by some object."""
    _check_k(k)
    accepted = frozenset().union(*(obj.classes for obj in objects))
    return any(c in accepted for c in classes[:k])


def guess_correct(
    guess: Guess, objects: Sequence[GroundTruth], threshold: float = IOU_THRESHOLD
) -> bool:
    """Whether one guess's class is accepted and its box overlaps a box of that class enough."""
    class_index, box = guess
    if box is None:
        return False
    return any(iou(box, truth) >= threshold for truth in class_boxes(objects, class_index))


def loc_correct(
    guesses: Sequence[Guess],
    objects: Sequence[GroundTruth],
    k: int = TOP_K,
    threshold: float = IOU_THRESHOLD,
) -> bool:
    """ILSVRC localization at ``k``: any of the first ``k`` guesses is right."""
    _check_k(k)
    return any(guess_correct(guess, objects, threshold) for guess in guesses[:k])


def gt_labels(objects: Iterable[GroundTruth]) -> list[frozenset[int]]:
    """The distinct ground-truth labels (class sets) of an image, in order of appearance."""
    labels: list[frozenset[int]] = []
    for obj in objects:
        if obj.classes and obj.classes not in labels:
            labels.append(obj.classes)
    return labels


def loc_gt_score(
    guesses: Sequence[Guess],
    objects: Sequence[GroundTruth],
    threshold: float = IOU_THRESHOLD,
) -> float:
    """Localization with ground-truth labels: the fraction of labels localized.

    ``guesses`` holds one ``(class, box)`` per ground-truth label (its class one
    of the label's accepted classes). A label counts as localized when a guess
    with one of its classes is right (see :func:`guess_correct`).
    """
    labels = gt_labels(objects)
    if not labels:
        raise ValueError("no ground-truth object has an ImageNet class to localize")
    right = [g for g in guesses if guess_correct(g, objects, threshold)]
    found = sum(1 for label in labels if any(c in label for c, _ in right))
    return found / len(labels)


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


# --- pointing game ---------------------------------------------------------------------------


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


def ebp_difficult(
    objects: Sequence[GroundTruth], class_index: int, width: int, height: int
) -> bool:
    """The Excitation Backprop "difficult" criterion for one image/class pair.

    True when the class's boxes cover less than a quarter of the image and the
    image also holds an object of another class (a distractor). This is the
    definition stated in the EBP paper (Zhang et al., ECCV 2016), which TorchRay
    does not compute but ships as precomputed flags; it is consistent with those
    flags on VOC07 test image 000001 (a small dog before a large person: dog
    flagged 1, person 0). The area is the union of the class's boxes in pixels.
    """
    boxes = class_boxes(objects, class_index)
    if not boxes:
        return False
    mask = np.zeros((height, width), dtype=bool)
    for box in boxes:
        mask[box.y0 : box.y1 + 1, box.x0 : box.x1 + 1] = True
    small = 4 * int(mask.sum()) < width * height
    distractor = any(class_index not in obj.classes for obj in objects)
    return small and distractor


@dataclass(frozen=True)
class PointingTrial:
    """One pointing-game trial: an image/class pair, hit or miss."""

    class_index: int
    hit: bool
    difficult: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"class_index": self.class_index, "hit": self.hit, "difficult": self.difficult}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PointingTrial:
        if not isinstance(data, Mapping):
            raise ThinkTwiceError(f"a pointing trial must be a JSON object, got {data!r}")
        return cls(
            class_index=_field(data, "class_index", int),
            hit=_field(data, "hit", bool),
            difficult=_field(data, "difficult", bool, default=False),
        )


def pointing_trial(
    saliency_in_original_pixels: np.ndarray,
    objects: Sequence[GroundTruth],
    class_index: int,
    tolerance: float = POINTING_TOLERANCE,
    difficult: bool = False,
    image_size: tuple[int, int] | None = None,
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
    return PointingTrial(class_index, pointing_hit(values, boxes, tolerance), difficult)


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
    def accuracy(self) -> float | None:
        """hits / (hits + misses) over all trials; None without trials."""
        total = self.hits + self.misses
        return self.hits / total if total else None

    @property
    def class_mean_accuracy(self) -> float | None:
        """Mean of per-class accuracies over the classes that had trials (TorchRay's number,
        which averages over all of its 20/80 classes)."""
        if not self._counts:
            return None
        return sum(h / (h + m) for h, m in self._counts.values()) / len(self._counts)


# --- per-image outcomes and the summary ------------------------------------------------------


@dataclass(frozen=True)
class ImageOutcome:
    """Everything one method scored on one image; None marks a quantity not measured."""

    image_id: str
    cls_top1: bool | None = None
    cls_top5: bool | None = None
    loc_top1: bool | None = None
    loc_top5: bool | None = None
    loc_gt: float | None = None
    pointing: tuple[PointingTrial, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict (one line of a results file)."""
        return {
            "image_id": self.image_id,
            "cls_top1": self.cls_top1,
            "cls_top5": self.cls_top5,
            "loc_top1": self.loc_top1,
            "loc_top5": self.loc_top5,
            "loc_gt": self.loc_gt,
            "pointing": [trial.to_json() for trial in self.pointing],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImageOutcome:
        """The outcome :meth:`to_json` wrote; ThinkTwiceError naming the bad field otherwise."""
        if not isinstance(data, Mapping):
            raise ThinkTwiceError(f"an image outcome must be a JSON object, got {data!r}")
        trials = data.get("pointing", [])
        if not isinstance(trials, list):
            raise ThinkTwiceError(f"outcome field 'pointing' must be a list, got {trials!r}")
        loc_gt = _field(data, "loc_gt", float, default=None)
        if loc_gt is not None and not 0.0 <= loc_gt <= 1.0:
            raise ThinkTwiceError(f"outcome field 'loc_gt' must lie in [0, 1], got {loc_gt}")
        return cls(
            image_id=_field(data, "image_id", str),
            cls_top1=_field(data, "cls_top1", bool, default=None),
            cls_top5=_field(data, "cls_top5", bool, default=None),
            loc_top1=_field(data, "loc_top1", bool, default=None),
            loc_top5=_field(data, "loc_top5", bool, default=None),
            loc_gt=loc_gt,
            pointing=tuple(PointingTrial.from_json(t) for t in trials),
        )


def evaluate_image(
    image_id: str,
    objects: Sequence[GroundTruth],
    guesses: Sequence[Guess] | None = None,
    gt_guesses: Sequence[Guess] | None = None,
    pointing: Iterable[PointingTrial | None] = (),
    k: int = TOP_K,
) -> ImageOutcome:
    """Score one image: ranked ``guesses`` (top-k), ``gt_guesses`` (one per ground-truth
    label) and pointing trials (None entries, skipped pairs, are dropped)."""
    outcome: dict[str, Any] = {}
    if guesses is not None:
        classes = [c for c, _ in guesses]
        outcome.update(
            cls_top1=cls_correct(classes, objects, 1),
            cls_top5=cls_correct(classes, objects, k),
            loc_top1=loc_correct(guesses, objects, 1),
            loc_top5=loc_correct(guesses, objects, k),
        )
    if gt_guesses is not None:
        outcome["loc_gt"] = loc_gt_score(gt_guesses, objects)
    trials = tuple(t for t in pointing if t is not None)
    return ImageOutcome(image_id=image_id, pointing=trials, **outcome)


class MetricsAccumulator:
    """Per-image outcomes of one method, and their summary.

    Adding an outcome for an image already present replaces it, so rebuilding
    from a results file that repeats an image after a resume counts it once.
    """

    def __init__(self, outcomes: Iterable[ImageOutcome] = (), difficult_subset: bool = False):
        self.difficult_subset = difficult_subset
        self._outcomes: dict[str, ImageOutcome] = {}
        for outcome in outcomes:
            self.add(outcome)

    @classmethod
    def from_json_lines(
        cls, lines: Iterable[str | Mapping[str, Any]], difficult_subset: bool = False
    ) -> MetricsAccumulator:
        """Rebuild from a results file's lines (JSON text or already-parsed dicts)."""
        return cls((_outcome_from_line(line) for line in lines), difficult_subset)

    def add(self, outcome: ImageOutcome) -> None:
        self._outcomes[outcome.image_id] = outcome

    def __len__(self) -> int:
        return len(self._outcomes)

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._outcomes

    @property
    def outcomes(self) -> tuple[ImageOutcome, ...]:
        return tuple(self._outcomes.values())

    def summary(self) -> dict[str, Any]:
        """The required keys (see ``SUMMARY_KEYS``) plus pointing extras:
        ``pointing_class_mean`` and, with a difficult subset, ``pointing_difficult``
        and ``pointing_difficult_class_mean``."""
        outcomes = self.outcomes
        every, difficult = PointingGame(), PointingGame()
        for trial in (t for o in outcomes for t in o.pointing):
            every.add(trial.class_index, trial.hit)
            if trial.difficult:
                difficult.add(trial.class_index, trial.hit)
        result: dict[str, Any] = {
            "n": len(outcomes),
            "loc_error_gt": _error([o.loc_gt for o in outcomes]),
            "loc_error_top1": _error([o.loc_top1 for o in outcomes]),
            "loc_error_top5": _error([o.loc_top5 for o in outcomes]),
            "cls_error_top1": _error([o.cls_top1 for o in outcomes]),
            "cls_error_top5": _error([o.cls_top5 for o in outcomes]),
            "pointing": every.accuracy,
            "pointing_class_mean": every.class_mean_accuracy,
        }
        if self.difficult_subset or difficult.hits + difficult.misses:
            result["pointing_difficult"] = difficult.accuracy
            result["pointing_difficult_class_mean"] = difficult.class_mean_accuracy
        return result


def _error(scores: Sequence[bool | float | None]) -> float | None:
    """1 - mean score over the measured images; None when none was measured."""
    measured = [float(s) for s in scores if s is not None]
    return 1.0 - math.fsum(measured) / len(measured) if measured else None


def _outcome_from_line(line: str | Mapping[str, Any]) -> ImageOutcome:
    if isinstance(line, Mapping):
        return ImageOutcome.from_json(line)
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise ThinkTwiceError(f"results line is not valid JSON ({error.msg}): {line!r}") from error
    return ImageOutcome.from_json(data)


_MISSING = object()


def _field(data: Mapping[str, Any], key: str, kind: type, default: Any = _MISSING) -> Any:
    """``data[key]`` checked to be of ``kind`` (ints accepted for floats, bools never for
    numbers); ``default`` when absent or null, if one is given."""
    value = data.get(key)
    if value is None:
        if default is _MISSING:
            raise ThinkTwiceError(f"outcome field {key!r} is missing")
        return default
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise ThinkTwiceError(f"outcome field {key!r} must be {kind.__name__}, got {value!r}")
    return value
