"""The evaluation run: saliency -> box, pointing, faithfulness for every image and method.

Per batch of images the classifier ranks the classes once; each method then
explains only the classes that can score -- the ground-truth classes (one
representative per label) and the predicted top-5 classes that are ground
truth -- since a predicted class that is not ground truth is wrong whatever its
box. Each map gives a box (``localize``), each representative's map a
pointing-game trial and, when asked, its deletion and insertion AUC; each
(image, method) becomes one durable line of ``results.jsonl`` the moment it is
done, so an interrupted run resumes where it stopped.

Every setting is checked when the settings are made and the methods are built
with their options and tried on one input, all before ``run.json`` binds the
output folder; the folder is locked for the run: a second evaluation on it is
refused at once. The runner writes no report: it records what the run covered
(``scope.json``) and :func:`~thinktwice.evaluation.reporting.write.write_reports`
writes every report from the folder.

Each method explains a :class:`~thinktwice.pairs.PairBatch` of the batch's (image,
class) pairs in one call and every map is found by its (image row, class).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from thinktwice.attribution import METHODS, AttributionMethod
from thinktwice.checks import check_choice, check_count
from thinktwice.errors import DatasetError, OptionError, ThinkTwiceError
from thinktwice.evaluation.datasets.base import Dataset, Sample
from thinktwice.evaluation.metrics.faithfulness import DEFAULT_STEPS, faithfulness
from thinktwice.evaluation.metrics.localization import (
    class_boxes,
    evaluate_image,
    gt_labels,
    representative,
)
from thinktwice.evaluation.metrics.maxboxacc import MAXBOXACC, tau_grid
from thinktwice.evaluation.metrics.pointing import play
from thinktwice.evaluation.run.box_pool import (
    BoxPool,
    BoxSettings,
    MapJob,
    MapScores,
    default_workers,
)
from thinktwice.evaluation.run.distributed import Shard
from thinktwice.evaluation.run.maps_store import MapsStore
from thinktwice.evaluation.run.record_check import finished_pairs
from thinktwice.evaluation.run.results import (
    RESULTS_FORMAT,
    RESULTS_NAME,
    ResultsFile,
    check_run_settings,
)
from thinktwice.evaluation.run.run_folder import check_dataset, check_run_folder, tidy_run_folder
from thinktwice.evaluation.run.run_records import RunScope
from thinktwice.evaluation.run.saliency_store import EncodedMap, SaliencyStore, stored_form
from thinktwice.io.files import folder_lock
from thinktwice.io.images import image_to_array
from thinktwice.localization import BOX_METHODS, Box
from thinktwice.models.classifier import Classifier
from thinktwice.options import (
    DEFAULT_BOX_SMOOTH,
    DEFAULT_EVAL_METRICS,
    DEFAULT_MAX_SIDE,
    DEFAULT_TAU_STEP,
    DELETION,
    EVAL_METRICS,
    INSERTION,
    LOC,
    POINTING,
    TOP_K,
    check_methods,
)
from thinktwice.pairs import PairBatch, ranked_classes

METRICS = EVAL_METRICS
DEFAULT_METRICS = DEFAULT_EVAL_METRICS
FAITHFULNESS_METRICS = (DELETION, INSERTION)
MIN_MAX_SIDE = 16

__all__ = [
    "DEFAULT_MAX_SIDE",
    "DEFAULT_METRICS",
    "METRICS",
    "EvalSettings",
    "build_methods",
    "classes_to_explain",
    "run_evaluation",
]


@dataclass(frozen=True)
class EvalSettings:
    """What an evaluation computes; everything but ``methods``, ``limit`` and
    ``batch_size`` must match on resume (see
    :func:`~thinktwice.evaluation.run.results.check_run_settings`).

    ``class_map``: dataset class name -> ImageNet indices (VOC data; recorded).
    ``metrics``: any of ``loc`` (boxes: localization errors), ``pointing``,
    ``maxboxacc`` (wsolevaluation's MaxBoxAccV2; ``tau_step``: its threshold step),
    ``deletion``, ``insertion`` (classification errors are always measured);
    ``metric_steps``: steps of the deletion/insertion curves; ``max_side``:
    GrabCut's working size (None: the full photo); ``box_smooth``: blur of each map
    before its box (a share of the map's side, 0: the paper's recipe; see
    :func:`~thinktwice.localization.smoothed`); ``rescale_boxes``: scale the
    boxes of an annotation made for another photo size instead of refusing it.
    ``box_workers``: processes computing boxes while the next batch's maps are
    computed (None: this process's share of the cores; 0: in this process), and
    ``heldout``: per method, the taus chosen on another run (``summary.json`` of a dev
    run) to score MaxBoxAcc at; neither changes a record, so neither is recorded.
    """

    methods: tuple[str, ...]
    model: str
    dataset: str
    split: str | None = None
    weights: str | None = None
    box: str = "grabcut"
    method_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    batch_size: int = 16
    limit: int | None = None
    max_side: int | None = DEFAULT_MAX_SIDE
    box_smooth: float = DEFAULT_BOX_SMOOTH
    metrics: tuple[str, ...] = DEFAULT_METRICS
    metric_steps: int = DEFAULT_STEPS
    rescale_boxes: bool = False
    class_map: Mapping[str, Sequence[int]] | None = None
    tau_step: float = DEFAULT_TAU_STEP
    box_workers: int | None = None
    heldout: Mapping[str, Mapping[str, float]] | None = None

    def recorded(self) -> dict[str, Any]:
        """The settings a resumed run must share.

        Method options are recorded as resolved (library defaults filled in), for
        every method whether evaluated yet or not, so that adding a method on resume
        is allowed while a changed default is refused. A setting that does not act
        (``max_side`` without GrabCut, ``metric_steps`` without deletion/insertion)
        is recorded as None.
        """
        resolved = {
            name: cls.resolved_options(**self.method_options.get(name, {}))
            for name, cls in sorted(METHODS.items())
        }
        faithful = any(m in FAITHFULNESS_METRICS for m in self.metrics)
        return {
            "format": RESULTS_FORMAT,
            # a label's class: its best-ranked accepted class over the whole ranking
            "label_class": "best-ranked",
            "dataset": self.dataset,
            "split": self.split,
            "model": self.model,
            "weights": self.weights,
            "box": self.box,
            "max_side": self.max_side
            if self.box in ("grabcut", "grabcut_coarse") and LOC in self.metrics
            else None,
            "box_smooth": self.box_smooth if LOC in self.metrics else None,
            "rescale_boxes": self.rescale_boxes,
            "class_map": (
                {k: sorted(v) for k, v in sorted(self.class_map.items())}
                if self.class_map
                else None
            ),
            "metrics": sorted(self.metrics),
            "metric_steps": self.metric_steps if faithful else None,
            "tau_step": self.tau_step if MAXBOXACC in self.metrics else None,
            "method_options": {name: options for name, options in resolved.items() if options},
        }

    def scope(self, image_ids: Sequence[str]) -> RunScope:
        """What a run of these settings over ``image_ids`` covers, for its reports."""
        return RunScope(tuple(image_ids), self.methods, self.heldout)

    def __post_init__(self) -> None:
        self.validate()  # settings that exist are valid: nobody downstream checks again

    def validate(self) -> None:
        """OptionError (one line, with the valid choices) for any setting out of range; run
        when the settings are made (and by ``dataclasses.replace``)."""
        check_methods(self.methods)
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown or not self.metrics:
            raise OptionError(
                f"unknown metric(s) {', '.join(unknown) or '(none given)'}; "
                f"choose from: {', '.join(METRICS)}"
            )
        check_choice("box rule", self.box, BOX_METHODS)
        check_count("batch size", self.batch_size)
        if self.limit is not None:
            check_count("limit", self.limit)
        check_count("metric steps", self.metric_steps)
        if self.max_side is not None:
            check_count("max side", self.max_side, MIN_MAX_SIDE)
        if not (isinstance(self.box_smooth, int | float) and 0 <= self.box_smooth < 1):
            raise OptionError(f"box smooth must be a number in [0, 1), got {self.box_smooth!r}")
        try:
            tau_grid(self.tau_step)
        except ValueError as error:
            raise OptionError(str(error)) from None
        if self.box_workers is not None:
            check_count("box workers", self.box_workers, 0)


def build_methods(model: Classifier, settings: EvalSettings) -> dict[str, AttributionMethod]:
    """Every method of ``settings`` built with its options and tried on one input, so a bad
    option is an OptionError now rather than a failure after the run has started (the
    settings themselves were checked when they were made)."""
    methods = {}
    for name in settings.methods:
        options = dict(settings.method_options.get(name, {}))
        try:
            method = METHODS[name](model, **options)
            method.attribute(method.probe(), 0)
        except (ValueError, KeyError, TypeError) as error:
            shown = ", ".join(f"{k}={v!r}" for k, v in options.items()) or "default options"
            raise OptionError(f"{name} with {shown}: {_message(error)}") from error
        methods[name] = method
    return methods


@dataclass
class _Loaded:
    """One sample with its photo, or the reason it could not be read."""

    sample: Sample | None
    image_id: str
    image: Image.Image | None = None
    photo: np.ndarray | None = None
    error: str | None = None


def run_evaluation(
    model: Classifier,
    dataset: Dataset,
    out_dir: str | Path,
    settings: EvalSettings,
    *,
    shard: Shard | None = None,
    progress: bool = True,
    report: Callable[[str], None] | None = None,
) -> RunScope | None:
    """Run (or resume) an evaluation into ``out_dir``; writes no report. Rank 0 records and
    returns what the run covered (its ``scope.json``: the reports summarise that), the other
    ranks None. :func:`thinktwice.evaluation.pipeline.evaluate` runs it and writes the reports.

    ``report`` receives one line per sample that cannot be scored (an unreadable
    photo, an annotation that does not fit it); default: a warning.
    """
    shard = shard or Shard()
    check_dataset(dataset)
    out = check_run_folder(out_dir)
    methods = build_methods(model, settings)
    locked: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if shard.is_main:
        out.mkdir(parents=True, exist_ok=True)
        locked = folder_lock(out, "another thinktwice eval")
    with locked:
        if shard.is_main:
            check_run_folder(out)  # again, now that no other eval can change it
            tidy_run_folder(out)
            check_run_settings(out, settings.recorded())
            ResultsFile(out / RESULTS_NAME).repair()
        shard.barrier()
        _run(model, dataset, out, settings, methods, shard, progress, report)
        if not shard.is_main:
            return None
        scope = settings.scope(dataset.image_ids[: settings.limit])
        scope.write(out)
    return scope


def _run(
    model: Classifier,
    dataset: Dataset,
    out: Path,
    settings: EvalSettings,
    methods: Mapping[str, AttributionMethod],
    shard: Shard,
    progress: bool,
    report: Callable[[str], None] | None,
) -> None:
    results = ResultsFile(out / RESULTS_NAME)
    image_ids = dataset.image_ids[: settings.limit]
    todo = _pending(image_ids, settings.methods, finished_pairs(results))
    shard.barrier()  # every rank plans from the same file, before any rank appends to it
    batches = [todo[i : i + settings.batch_size] for i in range(0, len(todo), settings.batch_size)]
    mine = shard.take(batches)
    bar = tqdm(
        total=sum(len(b) for b in mine),
        desc=f"eval rank {shard.rank}" if shard.world > 1 else "eval",
        unit="img",
        disable=not progress,
        bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]",
    )
    workers = settings.box_workers
    if workers is None:
        workers = default_workers()
    with bar, BoxPool(workers) as pool:
        advance = _clamped(bar)
        pending: _Prepared | None = None
        for batch in mine:  # batch b's boxes are computed while batch b + 1's maps are
            prepared = _prepare_batch(model, dataset, batch, methods, settings, pool, report)
            if pending is not None:
                _finish_batch(pending, settings, results, advance)
            pending = prepared
        if pending is not None:
            _finish_batch(pending, settings, results, advance)
    shard.barrier()


def _clamped(bar: Any) -> Callable[[float], None]:
    """``bar.update`` that never passes the total: shares of 1/3 image add up to a float a
    little above it, which tqdm shows as a negative time left and warns about."""
    shown = 0.0

    def advance(amount: float) -> None:
        nonlocal shown
        step = min(amount, bar.total - shown)
        if step > 0:
            shown += step
            bar.update(step)

    return advance


def _message(error: BaseException) -> str:
    text = error.args[0] if isinstance(error, KeyError) and error.args else error
    return str(text).splitlines()[0] if str(text) else type(error).__name__


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


@dataclass
class _Prepared:
    """A batch whose maps are computed and whose boxes are being computed (``futures``)."""

    errors: list[dict[str, Any]]  # records of samples that could not be read
    good: list[tuple[_Loaded, tuple[str, ...]]]
    ranked: list[list[int]]  # per good image, every class best first
    plans: dict[str, list[_Plan]]  # per method, its images in batch order
    futures: list[Future[dict[str, MapScores]]]  # per good image


@dataclass
class _Plan:
    """One (image, method): its maps (as stored), pointing trials and faithfulness AUCs."""

    row: int
    needed: list[int]
    representatives: list[int]
    maps: dict[int, np.ndarray]
    encoded: dict[int, EncodedMap]
    aucs: dict[str, float]
    seconds: dict[str, float]
    share: float


def _prepare_batch(
    model: Classifier,
    dataset: Dataset,
    batch: list[tuple[int, tuple[str, ...]]],
    attributors: Mapping[str, AttributionMethod],
    settings: EvalSettings,
    pool: BoxPool,
    report: Callable[[str], None] | None,
) -> _Prepared:
    """Load, rank the classes once, run each method on the pairs that can score, and hand
    every image's maps to the box pool."""
    loaded = [_load(dataset, index, report) for index, _ in batch]
    errors = [
        {"image_id": item.image_id, "method": method, "error": item.error}
        for item, (_, methods) in zip(loaded, batch, strict=True)
        if item.error is not None
        for method in methods
    ]
    good = [
        (item, methods)
        for item, (_, methods) in zip(loaded, batch, strict=True)
        if item.photo is not None
    ]
    if not good:
        return _Prepared(errors, [], [], {}, [])
    inputs = torch.stack([model.preprocess(item.image) for item, _ in good])
    ranked = ranked_classes(model, inputs)
    plans = {}
    for method, attributor in attributors.items():
        rows = [
            (row, item, 1.0 / len(methods))
            for row, (item, methods) in enumerate(good)
            if method in methods
        ]
        if rows:
            plans[method] = _plan_method(attributor, model, inputs, ranked, rows, settings)
    futures = [pool.submit(_map_job(row, item, plans, settings)) for row, (item, _) in
               enumerate(good)]  # fmt: skip
    return _Prepared(errors, good, ranked, plans, futures)


def _finish_batch(
    prepared: _Prepared,
    settings: EvalSettings,
    results: ResultsFile,
    advance: Callable[[float], Any],
) -> None:
    """Wait for the batch's boxes and append its records in the serial order (unreadable
    samples first, then method by method, image by image)."""
    for record in prepared.errors:
        results.append(record)
    if prepared.errors:
        advance(float(len({r["image_id"] for r in prepared.errors})))
    scored = [future.result() for future in prepared.futures]
    run_dir = results.path.parent
    for method, plans in prepared.plans.items():
        for plan in plans:
            item = prepared.good[plan.row][0]
            record = _score_image(
                item, prepared.ranked[plan.row][:TOP_K], plan, scored[plan.row][method], settings
            )
            SaliencyStore(run_dir).record(item.image_id, method, plan.encoded, plan.representatives)
            MapsStore(run_dir).record(
                method, item.sample, item.photo, plan.maps, plan.representatives
            )
            record["finished_at"] = time.time()
            results.append({"method": method, **record})
            advance(plan.share)


def _map_job(
    row: int, item: _Loaded, plans: Mapping[str, list[_Plan]], settings: EvalSettings
) -> MapJob:
    """The box pool's work for one image: every method's maps of it."""
    sample = item.sample
    assert sample is not None and item.photo is not None
    mine = {m: next(p for p in ps if p.row == row) for m, ps in plans.items()
            if any(p.row == row for p in ps)}  # fmt: skip
    classes = {c for plan in mine.values() for c in plan.needed}
    return MapJob(
        photo=item.photo,
        maps={m: plan.maps for m, plan in mine.items()},
        representatives={m: plan.representatives for m, plan in mine.items()},
        truths={c: class_boxes(sample.objects, c) for c in classes},
        settings=BoxSettings(
            box=settings.box if LOC in settings.metrics else None,
            max_side=settings.max_side,
            smooth=settings.box_smooth,
            tau_step=settings.tau_step if MAXBOXACC in settings.metrics else None,
        ),
    )


def _load(dataset: Dataset, index: int, report: Callable[[str], None] | None) -> _Loaded:
    image_id = dataset.image_ids[index]
    try:
        sample, image = dataset.with_photo(index)
        if not sample.classes:
            raise DatasetError(
                f"{sample.annotation or image_id}: no object has an ImageNet class to score "
                "(dataset class names count only through a class map, --class-map)"
            )
    except ThinkTwiceError as error:
        message = f"skipping {image_id}: {error}"
        if report is None:
            warnings.warn(message, stacklevel=3)
        else:
            report(message)
        return _Loaded(None, image_id, error=str(error))
    return _Loaded(sample, image_id, image, image_to_array(image))


def classes_to_explain(sample: Sample, ranked: Sequence[int]) -> tuple[list[int], list[int]]:
    """(classes needing a map, one representative class per ground-truth label).

    ``ranked``: the model's classes, best first (all of them, or its top k). A
    label's representative is its best-ranked accepted class (its smallest index
    when none is ranked): for a label with several accepted classes (a VOC class
    mapped to ImageNet classes) that is the one the model scores highest, also
    when it is not in the top 5. Predicted top-5 classes that are ground truth
    get maps too; the others cannot be right and get none.
    """
    representatives = [representative(label, ranked) for label in gt_labels(sample.objects)]
    accepted = sample.classes
    predicted = [c for c in ranked[:TOP_K] if c in accepted]
    needed = list(dict.fromkeys(representatives + predicted))
    return needed, representatives


def _plan_method(
    attributor: AttributionMethod,
    model: Classifier,
    inputs: torch.Tensor,
    ranked: list[list[int]],
    rows: list[tuple[int, _Loaded, float]],
    settings: EvalSettings,
) -> list[_Plan]:
    """One method's maps of the batch's images (in their stored form), pointing trials and
    faithfulness AUCs."""
    explained = {row: classes_to_explain(item.sample, ranked[row]) for row, item, _ in rows}
    needed = {row: classes for row, (classes, _) in explained.items()}
    representatives = {row: chosen for row, (_, chosen) in explained.items()}
    pairs = PairBatch.explaining(needed, representatives)
    started = time.perf_counter()
    raw = _saliency(attributor, inputs, pairs)
    stored = [stored_form(smap) for smap in raw]
    saliency_seconds = (time.perf_counter() - started) / max(len(pairs), 1)
    pairs = pairs.with_maps(np.stack([decoded for _, decoded in stored]) if stored else raw)
    aucs, auc_seconds = _faithfulness(model, inputs, pairs, representatives, settings)
    plans = []
    for row, _, share in rows:
        seconds = {"saliency": saliency_seconds * len(needed[row])}
        if aucs[row]:
            seconds["faithfulness"] = auc_seconds * len(representatives[row])
        plans.append(
            _Plan(
                row=row,
                needed=needed[row],
                representatives=representatives[row],
                maps={c: pairs.map_of(row, c) for c in needed[row]},
                encoded={c: stored[pairs.index(row, c)][0] for c in needed[row]},
                aucs=aucs[row],
                seconds=seconds,
                share=share,
            )
        )
    return plans


def _saliency(attributor: AttributionMethod, inputs: torch.Tensor, pairs: PairBatch) -> np.ndarray:
    """Each pair's raw map, [pairs, H, W] (float32)."""
    if not len(pairs):
        return np.zeros((0, *inputs.shape[-2:]), dtype=np.float32)
    explained = attributor.attribute(inputs[pairs.rows()], pairs.targets())
    return explained.saliency.detach().float().numpy()


def _faithfulness(
    model: Classifier,
    inputs: torch.Tensor,
    pairs: PairBatch,
    representatives: Mapping[int, Sequence[int]],
    settings: EvalSettings,
) -> tuple[dict[int, dict[str, float]], float]:
    """Per image row, the mean deletion/insertion AUC of its representatives' maps (empty
    dicts when not asked), all maps of the batch at once; and the seconds per map."""
    wanted = [m for m in settings.metrics if m in FAITHFULNESS_METRICS]
    if not wanted:
        return {row: {} for row in representatives}, 0.0
    assert pairs.maps is not None
    trials = [(row, c) for row, chosen in representatives.items() for c in chosen]
    started = time.perf_counter()
    scores = faithfulness(
        model,
        inputs[torch.tensor([row for row, _ in trials], dtype=torch.long)],
        torch.from_numpy(pairs.maps[[pairs.index(row, c) for row, c in trials]]),
        [c for _, c in trials],
        metrics=wanted,
        steps=settings.metric_steps,
    )
    seconds = (time.perf_counter() - started) / max(len(trials), 1)
    owner = np.asarray([row for row, _ in trials])
    per_row = {
        row: {f"{m}_auc": float(np.mean(scores[m][owner == row])) for m in wanted}
        for row in representatives
    }
    return per_row, seconds


def _score_image(
    item: _Loaded,
    ranked: list[int],
    plan: _Plan,
    scores: MapScores,
    settings: EvalSettings,
) -> dict[str, Any]:
    """Boxes, pointing trials, MaxBoxAcc trials and faithfulness AUCs from one image's maps,
    in one record."""
    sample, photo = item.sample, item.photo
    assert sample is not None and photo is not None
    height, width = photo.shape[:2]
    record: dict[str, Any] = {"seconds": {**plan.seconds, **scores.seconds}}
    trials = []
    if POINTING in settings.metrics:
        trials = [
            play(plan.maps[c], sample.objects, c, width, height) for c in plan.representatives
        ]
    localized = LOC in settings.metrics
    found = {c: b if isinstance(b, Box) else None for c, b in scores.boxes.items()}
    outcome = evaluate_image(
        sample.image_id,
        sample.objects,
        guesses=[(c, found.get(c)) for c in ranked] if localized else None,
        gt_guesses=[(c, found[c]) for c in plan.representatives] if localized else None,
        pointing=trials,
        k=TOP_K,
        faithfulness=plan.aucs,
        ranked=ranked,
    )
    record = {**outcome.to_json(), "top5": ranked, **record}
    if localized:
        record["boxes"] = {str(c): _box_json(b) for c, b in scores.boxes.items()}
    if MAXBOXACC in settings.metrics:
        record[MAXBOXACC] = scores.trials
    return record


def _box_json(found: Box | str) -> list[int] | str:
    """[x0, y0, x1, y1] (inclusive pixels), or the reason there is no box."""
    return found.as_list() if isinstance(found, Box) else f"no box: {found}"
