"""A synthetic evaluation run folder, made in seconds without a model: for report tests and the
report benchmark.

Each image is a small photo (a coloured object on a shaded background) with one
ground-truth box; each method's map is a blob near the object (nearer for some
methods than for others) and its box the blob's extent. Scores are computed
from those boxes with the library's own metrics, so hits, misses and IoUs in the
results file agree with each other as in a real run; the deletion and insertion
AUCs are made up (worse for the methods whose blobs stray farther).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from unittest import mock

import numpy as np

from thinktwice.evaluation.datasets.base import GroundTruth, Sample
from thinktwice.evaluation.metrics.localization import evaluate_image, point_hit, small_object
from thinktwice.evaluation.run.maps_store import MapsStore
from thinktwice.evaluation.run.results import RESULTS_FORMAT
from thinktwice.localization.boxes import Box

METHODS = ("gradient", "deconvnet", "guided_backprop", "gradcam", "feedback")
METRICS = ("deletion", "insertion", "loc", "pointing")
SIDE = 64


def make_synthetic_run(
    out: Path,
    images: int,
    methods: Sequence[str] = METHODS,
    classes: int = 200,
    seed: int = 0,
    metrics: Sequence[str] = METRICS,
) -> Path:
    """Write run.json, results.jsonl and maps/ for ``images`` images x ``methods``, the
    records holding what ``metrics`` (as ``thinktwice eval --metrics``) measure.

    The stored maps are written without fsync: throw-away data needs no durability, and
    syncing 5,000 files would take most of the time.
    """
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "run.json").write_text(
        json.dumps(
            {
                "format": RESULTS_FORMAT,
                "dataset": "synthetic",
                "split": "dev",
                "model": "efficientnet_lite0",
                "weights": None,
                "box": "grabcut",
                "metrics": sorted(metrics),
                "method_options": {},
            }
        )
    )
    pool = rng.choice(1000, size=classes, replace=False)
    store = MapsStore(out)
    grid = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    lines: list[dict] = []
    with mock.patch("os.fsync"):
        for number in range(images):
            class_index = int(pool[rng.integers(classes)])
            image_id = f"synthetic_{number}"
            lines += _write_image(rng, store, image_id, class_index, methods, grid, metrics)
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return out


def _write_image(
    rng: np.random.Generator,
    store: MapsStore,
    image_id: str,
    class_index: int,
    methods: Sequence[str],
    grid: np.ndarray,
    metrics: Sequence[str],
) -> list[dict]:
    """Store one image's photo and maps; its result records."""
    truth = _random_box(rng)
    sample = Sample(
        image_id, Path("none.jpg"), SIDE, SIDE,
        (GroundTruth(frozenset({class_index}), truth, names=(f"n{class_index:08d}",)),),
    )  # fmt: skip
    ranked = _ranking(rng, class_index)
    per_method, records = {}, []
    for offset, method in enumerate(methods):
        smap, box = _blob(rng, truth, grid, spread=2.0 + 2.5 * offset)
        per_method[method] = ({class_index: smap}, [class_index])
        aucs = _made_up_aucs(rng, offset)
        records.append(_record(sample, method, ranked, class_index, smap, box, aucs, metrics))
    store.record_methods(sample, _photo(rng, truth, grid), per_method)
    return records


def _random_box(rng: np.random.Generator) -> Box:
    width, height = rng.integers(14, 50, size=2)
    x0, y0 = rng.integers(0, SIDE - width), rng.integers(0, SIDE - height)
    return Box(int(x0), int(y0), int(x0 + width - 1), int(y0 + height - 1))


def _ranking(rng: np.random.Generator, class_index: int) -> list[int]:
    others = [int(c) for c in rng.choice(1000, size=6, replace=False) if c != class_index][:5]
    if rng.random() < 0.6:
        others.insert(int(rng.integers(5)), class_index)
    return others[:5]


def _photo(rng: np.random.Generator, truth: Box, grid: np.ndarray) -> np.ndarray:
    yy, xx = grid
    background = rng.integers(40, 200, size=3).astype(np.float32)
    photo = background * (0.6 + 0.4 * (xx + yy) / (2 * SIDE))[..., None]
    photo[truth.y0 : truth.y1 + 1, truth.x0 : truth.x1 + 1] = rng.integers(0, 256, size=3)
    return photo.astype(np.uint8)


def _blob(
    rng: np.random.Generator, truth: Box, grid: np.ndarray, spread: float
) -> tuple[np.ndarray, Box]:
    """A map peaked near the object (farther for larger ``spread``) and its 3-sigma box."""
    axis = grid[1][0]
    cx, cy = rng.normal([(truth.x0 + truth.x1) / 2, (truth.y0 + truth.y1) / 2], spread)
    sx, sy = np.array([truth.width, truth.height]) / 4 * rng.uniform(0.6, 1.5, size=2)
    smap = np.outer(np.exp(-(((axis - cy) / sy) ** 2) / 2), np.exp(-(((axis - cx) / sx) ** 2) / 2))
    smap += rng.uniform(0, 0.15, SIDE)[None, :]
    box = Box.from_exclusive(cx - 1.5 * sx, cy - 1.5 * sy, cx + 1.5 * sx, cy + 1.5 * sy)
    return smap.astype(np.float32), box.clip(SIDE, SIDE)


def _made_up_aucs(rng: np.random.Generator, offset: int) -> dict[str, float]:
    """Deletion and insertion AUCs in [0, 1], worse with ``offset``."""
    deletion = np.clip(0.1 + 0.04 * offset + rng.normal(0, 0.05), 0.0, 1.0)
    insertion = np.clip(0.7 - 0.04 * offset + rng.normal(0, 0.05), 0.0, 1.0)
    return {"deletion_auc": float(deletion), "insertion_auc": float(insertion)}


def _record(
    sample: Sample,
    method: str,
    ranked: list[int],
    class_index: int,
    smap: np.ndarray,
    box: Box,
    aucs: dict[str, float],
    metrics: Sequence[str],
) -> dict:
    y, x = divmod(int(np.argmax(smap)), SIDE)
    small = small_object(sample.objects, class_index, SIDE, SIDE)
    trial = {"class_index": class_index, "hit": point_hit((x, y), sample.boxes_of(class_index)),
             "difficult": False, "small": small}  # fmt: skip
    boxes = {c: box if c == class_index else None for c in ranked}
    localized = "loc" in metrics
    faithful = {k: v for k, v in aucs.items() if k.removesuffix("_auc") in metrics}
    outcome = evaluate_image(
        sample.image_id,
        sample.objects,
        guesses=[(c, boxes[c]) for c in ranked] if localized else None,
        gt_guesses=[(class_index, box)] if localized else None,
        faithfulness=faithful,
        ranked=ranked,
    )
    seconds = {"saliency": 0.1, "localize": 0.02, "faithfulness": 0.05}
    record = {
        "method": method,
        **outcome.to_json(),
        "pointing": [trial] if "pointing" in metrics else [],
        "top5": ranked,
        "seconds": {
            k: v
            for k, v in seconds.items()
            if (k != "localize" or localized) and (k != "faithfulness" or faithful)
        },
        "finished_at": 0.0,
    }
    if localized:
        record["boxes"] = {str(class_index): box.as_list()}
    return record
