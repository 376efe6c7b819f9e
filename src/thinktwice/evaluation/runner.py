"""The evaluation run: saliency -> box -> metrics for every image of a dataset and method.

Per batch of images the classifier ranks the classes once; each method then
explains only the classes that can score -- the ground-truth classes (one
representative per label) and the predicted top-5 classes that are ground
truth -- since a predicted class that is not ground truth is wrong whatever its
box. Each map gives a box (``localize``) and a pointing-game trial, and each
(image, method) becomes one durable line of ``results.jsonl`` the moment it is
done, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from thinktwice.attribution import METHODS
from thinktwice.errors import ThinkTwiceError
from thinktwice.evaluation.datasets.base import Dataset, Sample
from thinktwice.evaluation.distributed import Shard
from thinktwice.evaluation.maps_store import MapsStore
from thinktwice.evaluation.metrics import (
    MetricsAccumulator,
    ebp_difficult,
    evaluate_image,
    gt_labels,
    pointing_trial,
)
from thinktwice.evaluation.paired import PairedComparison, paired_comparisons
from thinktwice.evaluation.report import write_report
from thinktwice.evaluation.results import RESULTS_NAME, ResultsFile, check_run_settings
from thinktwice.io.images import image_to_array, load_image
from thinktwice.localization import localize
from thinktwice.localization.result import to_image_size
from thinktwice.models.classifier import Classifier

TOP_K = 5


@dataclass(frozen=True)
class EvalSettings:
    """What an evaluation computes; everything but ``methods`` and ``limit`` must match on
    resume (see :func:`~thinktwice.evaluation.results.check_run_settings`)."""

    methods: tuple[str, ...]
    model: str
    dataset: str
    split: str | None = None
    weights: str | None = None
    box: str = "grabcut"
    method_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    batch_size: int = 16
    limit: int | None = None

    def recorded(self) -> dict[str, Any]:
        """The settings a resumed run must share.

        Method options are recorded as resolved (library defaults filled in), for
        every method whether evaluated yet or not, so that adding a method on resume
        is allowed while a changed default is refused.
        """
        resolved = {
            name: cls.resolved_options(**self.method_options.get(name, {}))
            for name, cls in sorted(METHODS.items())
        }
        return {
            "dataset": self.dataset,
            "split": self.split,
            "model": self.model,
            "weights": self.weights,
            "box": self.box,
            "method_options": {name: options for name, options in resolved.items() if options},
        }


@dataclass
class _Loaded:
    """One sample with its photo, or the reason it could not be read."""

    sample: Sample | None
    image_id: str
    image: Image.Image | None = None
    photo: np.ndarray | None = None
    error: str | None = None


def evaluate(
    model: Classifier,
    dataset: Dataset,
    out_dir: str | Path,
    settings: EvalSettings,
    *,
    shard: Shard | None = None,
    progress: bool = True,
) -> dict[str, dict[str, Any]] | None:
    """Run (or resume) an evaluation into ``out_dir``; rank 0 returns the summaries."""
    _check_methods(settings.methods)
    shard = shard or Shard()
    out = Path(out_dir)
    if shard.is_main:
        out.mkdir(parents=True, exist_ok=True)
        check_run_settings(out, settings.recorded())
    shard.barrier()
    results = ResultsFile(out / RESULTS_NAME)
    image_ids = dataset.image_ids[: settings.limit]
    todo = _pending(image_ids, settings.methods, results.done())
    shard.barrier()  # every rank plans from the same file, before any rank appends to it
    batches = [todo[i : i + settings.batch_size] for i in range(0, len(todo), settings.batch_size)]
    mine = shard.take(batches)
    attributors = {
        m: METHODS[m](model, **settings.method_options.get(m, {})) for m in settings.methods
    }
    bar = tqdm(
        total=sum(len(b) for b in mine),
        desc=f"eval rank {shard.rank}" if shard.world > 1 else "eval",
        unit="img",
        disable=not progress,
    )
    with bar:
        for batch in mine:
            _run_batch(model, dataset, batch, attributors, settings, results)
            bar.update(len(batch))
    shard.barrier()
    if not shard.is_main:
        return None
    scored = ScoredRecords(results, image_ids, settings.methods)
    summaries = summarise(scored)
    write_report(
        out,
        summaries,
        title=f"{settings.model} on {settings.dataset}"
        + (f" ({settings.split})" if settings.split else ""),
        paired=compare_with_reference(scored, "feedback"),
    )
    return summaries


def _check_methods(methods: Sequence[str]) -> None:
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ThinkTwiceError(
            f"unknown method(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from: {', '.join(METHODS)}"
        )


def _pending(
    image_ids: Sequence[str], methods: Sequence[str], done: set[tuple[str, str]]
) -> list[tuple[int, tuple[str, ...]]]:
    """(dataset index, methods still to run) for every image not finished."""
    pending = []
    for index, image_id in enumerate(image_ids):
        missing = tuple(m for m in methods if (image_id, m) not in done)
        if missing:
            pending.append((index, missing))
    return pending


def _run_batch(
    model: Classifier,
    dataset: Dataset,
    batch: list[tuple[int, tuple[str, ...]]],
    attributors: Mapping[str, Any],
    settings: EvalSettings,
    results: ResultsFile,
) -> None:
    """Rank classes once, then run each method on the pairs that can score, and record."""
    loaded = [_load(dataset, index) for index, _ in batch]
    for item, (_, methods) in zip(loaded, batch, strict=True):
        if item.error is not None:
            for method in methods:
                results.append({"image_id": item.image_id, "method": method, "error": item.error})
    good = [
        (item, methods)
        for item, (_, methods) in zip(loaded, batch, strict=True)
        if item.photo is not None
    ]
    if not good:
        return
    inputs = torch.stack([model.preprocess(item.image) for item, _ in good])
    ranked = _top_k(model, inputs)
    for method, attributor in attributors.items():
        rows = [(row, item) for row, (item, methods) in enumerate(good) if method in methods]
        if rows:
            _run_method(method, attributor, inputs, ranked, rows, settings, results)


def _load(dataset: Dataset, index: int) -> _Loaded:
    image_id = dataset.image_ids[index]
    try:
        sample = dataset[index]
        image = load_image(sample.path)
    except ThinkTwiceError as error:
        warnings.warn(f"skipping {image_id}: {error}", stacklevel=2)
        return _Loaded(None, image_id, error=str(error))
    return _Loaded(sample, image_id, image, image_to_array(image))


def _top_k(model: Classifier, inputs: torch.Tensor) -> list[list[int]]:
    model.eval()
    with torch.no_grad():
        return model(inputs).topk(TOP_K, dim=1).indices.tolist()


def classes_to_explain(sample: Sample, ranked: Sequence[int]) -> tuple[list[int], list[int]]:
    """(classes needing a map, one representative class per ground-truth label).

    A label's representative is its best-ranked accepted class (its smallest
    index when none is ranked); predicted classes that are ground truth get maps
    too, the others cannot be right and get none.
    """
    rank = {c: r for r, c in enumerate(ranked)}
    representatives = [
        min(label, key=lambda c: (rank.get(c, len(ranked)), c))
        for label in gt_labels(sample.objects)
    ]
    accepted = sample.classes
    needed = list(dict.fromkeys(representatives + [c for c in ranked if c in accepted]))
    return needed, representatives


def _run_method(
    method: str,
    attributor: Any,
    inputs: torch.Tensor,
    ranked: list[list[int]],
    rows: list[tuple[int, _Loaded]],
    settings: EvalSettings,
    results: ResultsFile,
) -> None:
    plans = [(row, item, *classes_to_explain(item.sample, ranked[row])) for row, item in rows]
    pairs = [(row, c) for row, _, needed, _ in plans for c in needed]
    started = time.perf_counter()
    maps = _saliency(attributor, inputs, pairs)
    saliency_seconds = (time.perf_counter() - started) / max(len(pairs), 1)
    cursor = 0
    for row, item, needed, representatives in plans:
        own = dict(zip(needed, maps[cursor : cursor + len(needed)], strict=True))
        cursor += len(needed)
        record = _score_image(item, ranked[row], own, representatives, settings.box)
        MapsStore(results.path.parent).record(method, item.sample, item.photo, own, representatives)
        record["seconds"]["saliency"] = saliency_seconds * len(needed)
        record["finished_at"] = time.time()
        results.append({"method": method, **record})


def _saliency(attributor: Any, inputs: torch.Tensor, pairs: list[tuple[int, int]]) -> np.ndarray:
    if not pairs:
        return np.zeros((0, *inputs.shape[-2:]), dtype=np.float32)
    rows = torch.tensor([r for r, _ in pairs])
    classes = torch.tensor([c for _, c in pairs])
    return attributor.attribute(inputs[rows], classes).saliency.detach().float().numpy()


def _score_image(
    item: _Loaded,
    ranked: list[int],
    maps: Mapping[int, np.ndarray],
    representatives: list[int],
    box_method: str,
) -> dict[str, Any]:
    """Boxes and pointing trials from one image's maps, scored into one record."""
    sample, photo = item.sample, item.photo
    assert sample is not None and photo is not None
    started = time.perf_counter()
    found = {c: localize(photo, smap, method=box_method) for c, smap in maps.items()}
    localize_seconds = time.perf_counter() - started
    height, width = photo.shape[:2]
    trials = [
        pointing_trial(
            to_image_size(maps[c], width, height),
            sample.objects,
            c,
            difficult=ebp_difficult(sample.objects, c, width, height),
        )
        for c in representatives
    ]
    outcome = evaluate_image(
        sample.image_id,
        sample.objects,
        guesses=[(c, found[c].box if c in found else None) for c in ranked],
        gt_guesses=[(c, found[c].box) for c in representatives],
        pointing=trials,
        k=TOP_K,
    )
    return {
        **outcome.to_json(),
        "top5": ranked,
        "boxes": {str(c): _box_json(loc) for c, loc in found.items()},
        "seconds": {"localize": localize_seconds},
    }


def _box_json(found: Any) -> list[int] | str:
    """[x0, y0, x1, y1] (inclusive pixels), or the reason there is no box."""
    box = found.box
    return [box.x0, box.y0, box.x1, box.y1] if box is not None else f"no box: {found.reason}"


class ScoredRecords:
    """A results file's records over ``image_ids``, per method, read once for the summary
    and the paired comparisons (latest record per image wins)."""

    def __init__(self, results: ResultsFile, image_ids: Sequence[str], methods: Sequence[str]):
        wanted = set(image_ids)
        self.records: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
        self.failed: dict[str, set[str]] = {m: set() for m in methods}  # unreadable images
        for record in results.records():
            method = record["method"]
            if method not in self.records or record["image_id"] not in wanted:
                continue
            if "error" in record:
                self.failed[method].add(record["image_id"])
            else:
                self.records[method].append(record)
        self.metrics = {
            m: MetricsAccumulator.from_json_lines(records) for m, records in self.records.items()
        }


def summarise(scored: ScoredRecords) -> dict[str, dict[str, Any]]:
    """Per method, the metrics over the scored images."""
    summaries = {}
    for method, records in scored.records.items():
        summary = scored.metrics[method].summary()
        unreadable = scored.failed[method] - {r["image_id"] for r in records}
        if unreadable:
            summary["failed"] = len(unreadable)
        summary["seconds_per_image"] = _mean_seconds(records)
        summaries[method] = summary
    return summaries


def compare_with_reference(scored: ScoredRecords, reference: str) -> list[PairedComparison]:
    """``reference`` against each other method, image by image (empty if not evaluated)."""
    if reference not in scored.metrics or len(scored.metrics) < 2:
        return []
    outcomes = {m: metrics.outcomes for m, metrics in scored.metrics.items()}
    return paired_comparisons(outcomes, reference)


def _mean_seconds(records: list[dict[str, Any]]) -> dict[str, float] | None:
    """Mean saliency and localization seconds per image, None without records."""
    if not records:
        return None
    parts = ("saliency", "localize")
    return {p: float(np.mean([r.get("seconds", {}).get(p, 0.0) for r in records])) for p in parts}
