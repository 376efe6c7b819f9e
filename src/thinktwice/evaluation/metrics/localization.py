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
the devkit's per-label average otherwise. The summary gives it both as the
devkit averages it (``loc_error_gt``: per image) and per (image, label) pair
(``loc_error_pairs``: every pair counts once, so a photo with three classes
weighs three times a photo with one); the two agree on single-label data.

**Pointing game (TorchRay)** and **faithfulness (deletion/insertion AUC)** live in
:mod:`thinktwice.evaluation.metrics.pointing` and :mod:`thinktwice.evaluation.metrics.faithfulness`;
an :class:`ImageOutcome` carries their per-image results.

Summary values are fractions in [0, 1]; a value is None when nothing was
measured for it (for example pointing on a run that only localized).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from thinktwice.errors import ThinkTwiceError
from thinktwice.evaluation.datasets.base import GroundTruth
from thinktwice.evaluation.metrics.fields import checked_field
from thinktwice.evaluation.metrics.pointing import (
    POINTING_TOLERANCE,
    PointingGame,
    PointingTrial,
    ebp_difficult,
    max_point,
    point_hit,
    pointing_boxes,
    pointing_hit,
    pointing_trial,
    small_object,
)
from thinktwice.localization.boxes import Box, iou
from thinktwice.options import TOP_K

__all__ = [
    "IOU_THRESHOLD",
    "POINTING_TOLERANCE",
    "SUMMARY_KEYS",
    "TOP_K",
    "ImageOutcome",
    "MetricsAccumulator",
    "PointingGame",
    "PointingTrial",
    "class_boxes",
    "cls_correct",
    "ebp_difficult",
    "evaluate_image",
    "gt_labels",
    "guess_correct",
    "loc_correct",
    "loc_gt_score",
    "max_point",
    "point_hit",
    "pointing_boxes",
    "pointing_hit",
    "pointing_trial",
    "small_object",
]

IOU_THRESHOLD = 0.5
SUMMARY_KEYS = (
    "n",
    "loc_error_gt",
    "loc_error_top1",
    "loc_error_top5",
    "cls_error_top1",
    "cls_error_top5",
    "pointing",
)
# Pointing subsets: summary key prefix -> which trials count.
POINTING_SUBSETS = {
    "pointing": lambda trial: True,
    "pointing_difficult": lambda trial: trial.difficult,
    "pointing_small": lambda trial: trial.small,
}
FAITHFULNESS_KEYS = ("deletion_auc", "insertion_auc")

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


def representative(label: frozenset[int], ranked: Sequence[int]) -> int:
    """The class a ground-truth label is explained, shown and scored by: its best-ranked
    accepted class in ``ranked`` (the model's classes, best first), its smallest when none is
    ranked. For a label with several accepted classes (a VOC class mapped to ImageNet
    classes) that is the one the model scores highest; the runner and the report both ask
    here."""
    rank = {c: r for r, c in enumerate(ranked)}
    return min(label, key=lambda c: (rank.get(c, len(ranked)), c))


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
    deletion_auc: float | None = None  # mean over the image's ground-truth labels
    insertion_auc: float | None = None
    loc_gt_labels: int | None = None  # how many ground-truth labels loc_gt averages over

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict (one line of a results file)."""
        return {
            "image_id": self.image_id,
            "cls_top1": self.cls_top1,
            "cls_top5": self.cls_top5,
            "loc_top1": self.loc_top1,
            "loc_top5": self.loc_top5,
            "loc_gt": self.loc_gt,
            "loc_gt_labels": self.loc_gt_labels,
            "pointing": [trial.to_json() for trial in self.pointing],
            "deletion_auc": self.deletion_auc,
            "insertion_auc": self.insertion_auc,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImageOutcome:
        """The outcome :meth:`to_json` wrote; ThinkTwiceError naming the bad field otherwise."""
        if not isinstance(data, Mapping):
            raise ThinkTwiceError(f"an image outcome must be a JSON object, got {data!r}")
        trials = data.get("pointing", [])
        if not isinstance(trials, list):
            raise ThinkTwiceError(f"outcome field 'pointing' must be a list, got {trials!r}")
        return cls(
            image_id=checked_field(data, "image_id", str),
            cls_top1=checked_field(data, "cls_top1", bool, default=None),
            cls_top5=checked_field(data, "cls_top5", bool, default=None),
            loc_top1=checked_field(data, "loc_top1", bool, default=None),
            loc_top5=checked_field(data, "loc_top5", bool, default=None),
            loc_gt=_fraction(data, "loc_gt"),
            loc_gt_labels=_count(data, "loc_gt_labels"),
            pointing=tuple(PointingTrial.from_json(t) for t in trials),
            deletion_auc=_fraction(data, "deletion_auc"),
            insertion_auc=_fraction(data, "insertion_auc"),
        )


def evaluate_image(
    image_id: str,
    objects: Sequence[GroundTruth],
    guesses: Sequence[Guess] | None = None,
    gt_guesses: Sequence[Guess] | None = None,
    pointing: Iterable[PointingTrial | None] = (),
    k: int = TOP_K,
    faithfulness: Mapping[str, float] | None = None,
    ranked: Sequence[int] | None = None,
) -> ImageOutcome:
    """Score one image: ranked ``guesses`` (top-k), ``gt_guesses`` (one per ground-truth
    label), pointing trials (None entries, skipped pairs, are dropped) and
    ``faithfulness`` AUCs (``deletion_auc``, ``insertion_auc``) when measured.

    Without ``guesses`` (no boxes), ``ranked`` classes still give the classification errors.
    """
    outcome: dict[str, Any] = {}
    if guesses is None and ranked is not None:
        outcome.update(
            cls_top1=cls_correct(ranked, objects, 1), cls_top5=cls_correct(ranked, objects, k)
        )
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
        outcome["loc_gt_labels"] = len(gt_labels(objects))
    for key, value in (faithfulness or {}).items():
        if key not in FAITHFULNESS_KEYS:
            raise ValueError(f"unknown faithfulness key {key!r}; expected {FAITHFULNESS_KEYS}")
        outcome[key] = float(value)
    trials = tuple(t for t in pointing if t is not None)
    return ImageOutcome(image_id=image_id, pointing=trials, **outcome)


class MetricsAccumulator:
    """Per-image outcomes of one method, and their summary.

    Adding an outcome for an image already present replaces it, so rebuilding
    from a results file that repeats an image after a resume counts it once.
    """

    def __init__(self, outcomes: Iterable[ImageOutcome] = ()):
        self._outcomes: dict[str, ImageOutcome] = {}
        for outcome in outcomes:
            self.add(outcome)

    @classmethod
    def from_json_lines(cls, lines: Iterable[str | Mapping[str, Any]]) -> MetricsAccumulator:
        """Rebuild from a results file's lines (JSON text or already-parsed dicts)."""
        return cls(_outcome_from_line(line) for line in lines)

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
        """The required keys (see ``SUMMARY_KEYS``) plus, for each pointing subset (all
        trials, EBP-difficult, small objects), its accuracy, class-mean accuracy and
        trial count, and the mean deletion and insertion AUCs; None where unmeasured."""
        outcomes = self.outcomes
        result: dict[str, Any] = {
            "n": len(outcomes),
            "loc_error_gt": _error([o.loc_gt for o in outcomes]),
            "loc_error_pairs": _pair_error(outcomes),
            "loc_pairs": _pair_count(outcomes),
            "loc_error_top1": _error([o.loc_top1 for o in outcomes]),
            "loc_error_top5": _error([o.loc_top5 for o in outcomes]),
            "cls_error_top1": _error([o.cls_top1 for o in outcomes]),
            "cls_error_top5": _error([o.cls_top5 for o in outcomes]),
        }
        trials = [t for o in outcomes for t in o.pointing]
        for prefix, counts in POINTING_SUBSETS.items():
            game = PointingGame()
            for trial in filter(counts, trials):
                game.add(trial.label_key, trial.hit)
            result[prefix] = game.accuracy
            result[f"{prefix}_class_mean"] = game.class_mean_accuracy
            result[f"{prefix}_trials"] = game.trials
        for key in FAITHFULNESS_KEYS:
            result[key] = _mean([getattr(o, key) for o in outcomes])
        return result


def _mean(values: Sequence[float | None]) -> float | None:
    measured = [v for v in values if v is not None]
    return math.fsum(measured) / len(measured) if measured else None


def _pair_count(outcomes: Sequence[ImageOutcome]) -> int:
    """How many (image, label) pairs ``loc_error_pairs`` is measured over."""
    return sum(o.loc_gt_labels or 0 for o in outcomes if o.loc_gt is not None)


def _pair_error(outcomes: Sequence[ImageOutcome]) -> float | None:
    """Localization error with GT labels over (image, label) pairs: 1 - labels localized /
    labels. None when an outcome lacks its label count (a record of an older version)."""
    measured = [o for o in outcomes if o.loc_gt is not None]
    if not measured or any(o.loc_gt_labels is None for o in measured):
        return None
    labels = sum(o.loc_gt_labels or 0 for o in measured)
    found = math.fsum((o.loc_gt or 0.0) * (o.loc_gt_labels or 0) for o in measured)
    return 1.0 - found / labels


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


def _count(data: Mapping[str, Any], key: str) -> int | None:
    """An optional outcome field that must be a positive integer."""
    value = checked_field(data, key, int, default=None)
    if value is not None and value < 1:
        raise ThinkTwiceError(f"outcome field {key!r} must be a positive integer, got {value}")
    return value


def _fraction(data: Mapping[str, Any], key: str) -> float | None:
    """An optional outcome field that must lie in [0, 1]."""
    value = checked_field(data, key, float, default=None)
    if value is not None and not 0.0 <= value <= 1.0:
        raise ThinkTwiceError(f"outcome field {key!r} must lie in [0, 1], got {value}")
    return value
