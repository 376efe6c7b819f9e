"""MaxBoxAccV2: the box accuracy the WSOL literature reports (Choe et al., CVPR 2020).

The definitions follow ``clovaai/wsolevaluation`` (``evaluation.py``,
``inference.py``, ``util.py``), read for the facts only:

* the map is resized to ``RESIZE`` x ``RESIZE`` (224; bicubic) and min-max
  normalised to [0, 1] (a map with a NaN, or a constant one, becomes all zeros);
* its ``uint8`` image is ``floor(255 * map)``; at threshold tau the foreground is
  the pixels ``> int(tau * max)`` of that image (OpenCV ``THRESH_BINARY``), and
  every contour of it (``findContours``, ``RETR_TREE``, inner ones too) gives a
  box ``(x, y, x + w, y + h)`` from its bounding rectangle, the far edges cut to
  ``RESIZE - 1``; no contour gives the box ``(0, 0, 0, 0)``;
* ground-truth boxes ``(x0, y0, x1, y1)`` are brought to the 224 grid by
  ``int(v * 224 / side)`` on each corner;
* IoU counts pixels inclusively (``x1 - x0 + 1``); a map is correct at (tau, delta)
  when the best IoU between any of its boxes and any ground-truth box of its
  class is at least delta / 100;
* MaxBoxAcc(delta) is the best accuracy over tau = 0, step, 2 step, ... < 1
  (``cam_curve_interval``, 0.01 here by default), delta in {30, 50, 70};
  MaxBoxAccV2 is their mean.

A *trial* is one ground-truth label of one image scored with its representative
class's map (wsolevaluation's "GT-known" setting: ILSVRC images have one label,
so one trial per image). Per trial the record keeps, for each delta, the set of
taus at which it is correct as a hexadecimal bit mask (bit i: tau number i), so
a summary can take the best tau, or score at a tau chosen on another run, without
the maps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from thinktwice.errors import ThinkTwiceError
from thinktwice.localization.boxes import Box
from thinktwice.options import DEFAULT_TAU_STEP, MAXBOXACC

RESIZE = 224
DELTAS: tuple[int, ...] = (30, 50, 70)
TOP1_DELTA = 50  # the IoU of "top-1 localization"


def tau_grid(step: float = DEFAULT_TAU_STEP) -> np.ndarray:
    """The thresholds 0, step, 2 step, ... below 1, as wsolevaluation lists them."""
    if not (isinstance(step, int | float) and not isinstance(step, bool) and 0 < step < 1):
        raise ValueError(f"the tau step must be a number in (0, 1), got {step!r}")
    return np.arange(0, 1, step)


def normalised_map(saliency: np.ndarray) -> np.ndarray:
    """The map resized to RESIZE x RESIZE (bicubic) and min-max normalised (float64)."""
    values = np.asarray(saliency, dtype=np.float64)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"a saliency map must be a non-empty 2-D array, got {values.shape}")
    if values.shape != (RESIZE, RESIZE):
        values = cv2.resize(values, (RESIZE, RESIZE), interpolation=cv2.INTER_CUBIC)
    if np.isnan(values).any() or not np.isfinite(values).all():
        return np.zeros_like(values)
    low, high = values.min(), values.max()
    if low == high:
        return np.zeros_like(values)
    return (values - low) / (high - low)


def resized_box(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """A ground-truth box of a ``width`` x ``height`` photo on the 224 grid."""
    sx, sy = RESIZE / float(width), RESIZE / float(height)
    return (int(box.x0 * sx), int(box.y0 * sy), int(box.x1 * sx), int(box.y1 * sy))


def contour_boxes(scoremap: np.ndarray, taus: Sequence[float]) -> list[np.ndarray]:
    """Per tau, the boxes [k, 4] of every contour of the thresholded map."""
    image = (scoremap * 255).astype(np.uint8)
    peak = float(image.max())
    last = RESIZE - 1
    boxes = []
    for tau in taus:
        _, binary = cv2.threshold(image, int(tau * peak), 255, cv2.THRESH_BINARY)
        contours, _ = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            boxes.append(np.zeros((1, 4), np.int64))
            continue
        low, high = _point_ranges(contours)
        # boundingRect gives (x, y, w, h) with w = max - min + 1; the box is (x, y, x + w, y + h)
        boxes.append(np.concatenate([low, np.minimum(high + 1, last)], axis=1))
    return boxes


def _point_ranges(contours: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per contour, the smallest and largest (x, y) of its points: its bounding rectangle,
    for thousands of contours at once."""
    lengths = np.fromiter((len(c) for c in contours), np.int64, len(contours))
    points = np.concatenate(contours).reshape(-1, 2).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return np.minimum.reduceat(points, starts), np.maximum.reduceat(points, starts)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU [len(a), len(b)] of boxes (x0, y0, x1, y1), inclusive pixel counts; 0 where the
    union is empty."""
    a, b = np.asarray(a, np.int64)[:, None, :], np.asarray(b, np.int64)[None, :, :]
    width = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1)
    height = np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1)
    inter = width * height
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def best_ious(
    saliency: np.ndarray, truths: Sequence[tuple[int, int, int, int]], taus: Sequence[float]
) -> np.ndarray:
    """Per tau, the best IoU between a box of the map and a ground-truth box (224 grid)."""
    if not truths:
        raise ValueError("a MaxBoxAcc trial needs at least one ground-truth box")
    truth = np.asarray(truths, np.int64)
    boxes = contour_boxes(normalised_map(saliency), taus)
    return np.array([iou_matrix(b, truth).max() for b in boxes])


@dataclass(frozen=True)
class BoxAccTrial:
    """One ground-truth label's map: per delta, the taus (bit i: tau number i) where it is right."""

    class_index: int
    correct: Mapping[int, int]

    def to_json(self) -> dict[str, Any]:
        return {"class": self.class_index, **{str(d): f"{m:x}" for d, m in self.correct.items()}}

    @classmethod
    def from_json(cls, data: Any) -> BoxAccTrial:
        try:
            masks = {d: int(str(data[str(d)]), 16) for d in DELTAS}
            return cls(int(data["class"]), masks)
        except (KeyError, TypeError, ValueError) as error:
            raise ThinkTwiceError(f"malformed maxboxacc trial {data!r}") from error

    def right(self, delta: int, tau_index: int) -> bool:
        return bool(self.correct[delta] >> tau_index & 1)


def boxacc_trial(
    saliency: np.ndarray,
    class_index: int,
    boxes: Iterable[Box],
    width: int,
    height: int,
    taus: Sequence[float],
) -> BoxAccTrial:
    """The trial of one map against the ``boxes`` of its class in a ``width`` x ``height`` photo."""
    ious = best_ious(saliency, [resized_box(b, width, height) for b in boxes], taus)
    return BoxAccTrial(int(class_index), {d: _bits(ious >= d / 100) for d in DELTAS})


def _bits(flags: np.ndarray) -> int:
    return sum(1 << int(i) for i in np.flatnonzero(flags))


# --- the summary -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoredImage:
    """What the summary reads of one (image, method) record."""

    trials: tuple[BoxAccTrial, ...]
    top1: int | None  # the classifier's top-1 class
    top1_right: bool | None  # whether it is a ground-truth class


def scored_image(record: Mapping[str, Any]) -> ScoredImage | None:
    """The MaxBoxAcc part of a results record, None when it has none."""
    trials = record.get(MAXBOXACC)
    if trials is None:
        return None
    if not isinstance(trials, list):
        raise ThinkTwiceError(f"record field {MAXBOXACC!r} must be a list, got {trials!r}")
    ranked = record.get("top5") or [None]
    return ScoredImage(
        tuple(BoxAccTrial.from_json(t) for t in trials), ranked[0], record.get("cls_top1")
    )


def accuracy_curves(images: Sequence[ScoredImage], count: int) -> dict[int, np.ndarray]:
    """Per delta, BoxAcc at each of the ``count`` taus (fraction of trials right)."""
    trials = [t for image in images for t in image.trials]
    curves = {}
    for delta in DELTAS:
        hits = sum((_unpacked(t.correct[delta], count) for t in trials), np.zeros(count))
        curves[delta] = hits / max(len(trials), 1)
    return curves


def _unpacked(mask: int, count: int) -> np.ndarray:
    """Bits 0 .. count - 1 of ``mask`` as 0/1 numbers."""
    if mask >> count:
        raise ThinkTwiceError(
            f"a maxboxacc trial has taus beyond this run's {count}; were the records scored "
            "with another --tau-step?"
        )
    data = np.frombuffer(mask.to_bytes((count + 7) // 8, "little"), np.uint8)
    return np.unpackbits(data, bitorder="little")[:count].astype(np.int64)


def top1_localization(images: Sequence[ScoredImage], tau_index: int) -> float | None:
    """Images whose top-1 class is right and whose map of it is right at ``tau_index``
    (IoU >= 0.5), over the images scored."""
    if not images:
        return None
    right = 0
    for image in images:
        own = [t for t in image.trials if t.class_index == image.top1]
        right += bool(image.top1_right and own and own[0].right(TOP1_DELTA, tau_index))
    return right / len(images)


def summarise_maxboxacc(
    records: Iterable[Mapping[str, Any]],
    taus: Sequence[float],
    heldout: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The MaxBoxAcc keys of one method's summary (empty when no record has trials).

    ``maxboxacc_D`` (fraction) and ``maxboxacc_D_tau`` for D in 30, 50, 70,
    ``maxboxacc_v2``, ``maxboxacc_trials``, ``maxboxacc_top1_loc`` (top-1 localization
    at this run's best tau for delta 50). With ``heldout`` (``{"30": tau, ...}``, chosen on
    another run, see :func:`heldout_taus`): ``boxacc_D_heldout``, ``boxacc_v2_heldout``,
    ``top1_loc_heldout`` and ``heldout_tau_D``, BoxAcc at those taus.
    """
    images = [s for s in (scored_image(r) for r in records) if s is not None]
    if not images:
        return {}
    curves = accuracy_curves(images, len(taus))
    best = {d: int(np.argmax(curves[d])) for d in DELTAS}  # the first best tau
    result: dict[str, Any] = {}
    for delta in DELTAS:
        result[f"maxboxacc_{delta}"] = float(curves[delta][best[delta]])
        result[f"maxboxacc_{delta}_tau"] = _tau(taus[best[delta]])
    result["maxboxacc_v2"] = math.fsum(result[f"maxboxacc_{d}"] for d in DELTAS) / len(DELTAS)
    result["maxboxacc_trials"] = sum(len(i.trials) for i in images)
    result["maxboxacc_top1_loc"] = top1_localization(images, best[TOP1_DELTA])
    if heldout:
        index = {d: tau_index(taus, heldout[str(d)]) for d in DELTAS}
        for delta in DELTAS:
            result[f"heldout_tau_{delta}"] = _tau(taus[index[delta]])
            result[f"boxacc_{delta}_heldout"] = float(curves[delta][index[delta]])
        values = [result[f"boxacc_{d}_heldout"] for d in DELTAS]
        result["boxacc_v2_heldout"] = math.fsum(values) / len(DELTAS)
        result["top1_loc_heldout"] = top1_localization(images, index[TOP1_DELTA])
    return result


def tau_index(taus: Sequence[float], tau: float) -> int:
    """The position of ``tau`` in the grid; ThinkTwiceError when the grid has no such tau."""
    position = int(np.argmin(np.abs(np.asarray(taus) - tau)))
    if abs(taus[position] - tau) > 1e-9:
        raise ThinkTwiceError(
            f"tau {tau} is not on this run's grid (step {taus[1] - taus[0]:g}); score both runs "
            "with the same --tau-step"
        )
    return position


def heldout_taus(summaries: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Per method, the best tau per delta of a (dev) run's summaries, for scoring another run."""
    chosen = {}
    for method, summary in summaries.items():
        if all(summary.get(f"maxboxacc_{d}_tau") is not None for d in DELTAS):
            chosen[method] = {str(d): float(summary[f"maxboxacc_{d}_tau"]) for d in DELTAS}
    return chosen


def _tau(value: float) -> float:
    return round(float(value), 6)


def markdown_maxboxacc(summaries: Mapping[str, Mapping[str, Any]]) -> str:
    """The MaxBoxAcc table of ``summary.md`` ("" when no method measured it): per method
    MaxBoxAcc at each delta with its best tau, MaxBoxAccV2, top-1 localization at the best
    tau_50 and, when a held-out run's taus were given, the same at those taus."""
    measured = {m: s for m, s in summaries.items() if s.get("maxboxacc_v2") is not None}
    if not measured:
        return ""
    heldout = any(s.get("boxacc_v2_heldout") is not None for s in measured.values())
    headers = [f"MaxBoxAcc@{d} (tau)" for d in DELTAS] + ["MaxBoxAccV2", "top-1 loc. at tau_50"]
    if heldout:
        headers += [f"BoxAcc@{d} at held-out tau" for d in DELTAS]
        headers += ["BoxAccV2 at held-out taus", "top-1 loc. at held-out tau_50"]
    lines = [
        "### MaxBoxAccV2 (wsolevaluation; trials = ground-truth labels)",
        "",
        "| method | trials | " + " | ".join(headers) + " |",
        "|---|---:|" + "---:|" * len(headers),
    ]
    for method, s in measured.items():
        cells = [f"{_pct(s[f'maxboxacc_{d}'])} ({s[f'maxboxacc_{d}_tau']:.2f})" for d in DELTAS]
        cells += [_pct(s["maxboxacc_v2"]), _pct(s.get("maxboxacc_top1_loc"))]
        if heldout:
            cells += [
                f"{_pct(s.get(f'boxacc_{d}_heldout'))} ({s.get(f'heldout_tau_{d}', 'n/a')})"
                for d in DELTAS
            ]
            cells += [_pct(s.get("boxacc_v2_heldout")), _pct(s.get("top1_loc_heldout"))]
        lines.append(f"| {method} | {s['maxboxacc_trials']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"
