"""Score a finished or interrupted run again, under another box rule or metric, from its maps.

``eval`` keeps every map in ``RUN_DIR/saliency/`` and scores the map as stored
(:mod:`~thinktwice.evaluation.run.saliency_store`). :func:`rescore` reads those maps
and the records' ranked classes, computes boxes, pointing and MaxBoxAcc trials
again with new settings, and writes a new run folder (``results.jsonl``,
``run.json``, the summaries and display maps) without running the network. With
the settings of the source it gives the source's records (bar their timings).

Like ``eval`` it is resumable: ``run.json`` binds the new folder to its source and
settings, a lock keeps a second rescore out, each (image, method) line is
appended the moment it is done, and a rerun scores only what is missing. The new
folder points at the folder holding the maps (``maps_from``), so a rescored run
can be rescored again.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from thinktwice.errors import OptionError, ThinkTwiceError
from thinktwice.evaluation.datasets import open_dataset
from thinktwice.evaluation.run.box_pool import BoxPool, default_workers
from thinktwice.evaluation.run.maps_store import MapsStore
from thinktwice.evaluation.run.results import (
    RESULTS_FORMAT,
    RESULTS_NAME,
    RUN_NAME,
    ResultsFile,
    check_run_settings,
    read_run_settings,
)
from thinktwice.evaluation.run.run_records import RunScope
from thinktwice.evaluation.run.runner import (
    FAITHFULNESS_METRICS,
    EvalSettings,
    _load,
    _map_job,
    _Plan,
    _score_image,
)
from thinktwice.evaluation.run.saliency_store import SALIENCY_DIR, SaliencyStore
from thinktwice.io.files import folder_lock

MAPS_FROM = "maps_from"


def source_settings(run_dir: Path) -> tuple[EvalSettings, Path]:
    """The settings a run was made with, and the folder holding its maps."""
    path = Path(run_dir) / RUN_NAME
    if not path.exists():
        raise ThinkTwiceError(f"{run_dir} holds no thinktwice run ({RUN_NAME} is missing)")
    recorded = read_run_settings(path)
    if recorded.get("format") != RESULTS_FORMAT:
        raise ThinkTwiceError(
            f"{run_dir} was written by another version of thinktwice (results format "
            f"{recorded.get('format', 1)}; rescore reads format {RESULTS_FORMAT}, whose runs "
            "keep their maps); run eval again"
        )
    maps_from = Path(recorded.get(MAPS_FROM) or run_dir)
    if not (maps_from / SALIENCY_DIR).is_dir():
        raise ThinkTwiceError(f"{maps_from} has no stored maps ({SALIENCY_DIR}/ is missing)")
    settings = EvalSettings(
        methods=tuple(sorted(recorded.get("method_options", {}) or ())) or ("feedback",),
        model=recorded["model"],
        dataset=recorded["dataset"],
        split=recorded.get("split"),
        weights=recorded.get("weights"),
        box=recorded.get("box") or "grabcut",
        max_side=recorded.get("max_side"),
        box_smooth=recorded.get("box_smooth") or 0.0,
        metrics=tuple(recorded.get("metrics") or ()),
        rescale_boxes=bool(recorded.get("rescale_boxes")),
        class_map=recorded.get("class_map"),
        tau_step=recorded.get("tau_step") or EvalSettings.tau_step,
    )
    return settings, maps_from


def rescore_run(
    run_dir: str | Path,
    out_dir: str | Path,
    *,
    box: str | None = None,
    max_side: int | None | str = "same",
    box_smooth: float | None = None,
    metrics: Sequence[str] | None = None,
    tau_step: float | None = None,
    heldout: Mapping[str, Mapping[str, float]] | None = None,
    box_workers: int | None = None,
    progress: bool = True,
    report: Callable[[str], None] | None = None,
) -> RunScope:
    """Score ``run_dir``'s maps into ``out_dir`` (None / "same": the source's setting); writes
    no report. Records and returns what the new folder covers (its ``scope.json``);
    :func:`thinktwice.evaluation.pipeline.rescore` runs it and writes the reports."""
    source, maps_from = source_settings(Path(run_dir))
    records = _latest(ResultsFile(Path(run_dir) / RESULTS_NAME))
    methods = tuple(dict.fromkeys(method for _, method in records))
    wanted = tuple(dict.fromkeys(metrics)) if metrics else source.metrics
    unsupported = [m for m in wanted if m in FAITHFULNESS_METRICS]
    if unsupported:
        raise OptionError(
            f"rescore cannot measure {', '.join(unsupported)}: they run the network on "
            "changed photos; run eval for them"
        )
    settings = dataclasses.replace(
        source,
        methods=methods or source.methods,
        box=box or source.box,
        max_side=source.max_side if max_side == "same" else max_side,
        box_smooth=source.box_smooth if box_smooth is None else box_smooth,
        metrics=wanted,
        tau_step=source.tau_step if tau_step is None else tau_step,
        heldout=heldout,
        box_workers=box_workers,
    )  # checked as it is made
    out = Path(out_dir)
    if out.resolve() == Path(run_dir).resolve():
        raise OptionError("--out must be another folder than the run it rescores")
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out, "another thinktwice rescore or eval"):
        recorded = settings.recorded()
        recorded[MAPS_FROM] = str(maps_from.resolve())
        check_run_settings(out, recorded)
        results = ResultsFile(out / RESULTS_NAME)
        results.repair()
        _rescore_records(records, maps_from, out, settings, progress, report)
        scope = settings.scope(list(dict.fromkeys(image for image, _ in records)))
        scope.write(out)
    return scope


def _latest(results: ResultsFile) -> dict[tuple[str, str], dict[str, Any]]:
    """The last record of each (image, method), in the order images were first recorded."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for record in results.records():
        latest[(record["image_id"], record["method"])] = record
    return latest


@dataclass
class _Pending:
    """One image on its way: its methods, and either its box future or why it has none."""

    image_id: str
    methods: list[str]
    error: str | None = None
    item: Any = None
    plans: dict[str, list[_Plan]] = field(default_factory=dict)
    ranked: dict[str, list[int]] = field(default_factory=dict)
    future: Future | None = None


def _rescore_records(
    records: Mapping[tuple[str, str], dict[str, Any]],
    maps_from: Path,
    out: Path,
    settings: EvalSettings,
    progress: bool,
    report: Callable[[str], None] | None,
) -> None:
    """Every (image, method) of ``records`` not yet in ``out``, image by image, a few images
    ahead in the box pool."""
    results = ResultsFile(out / RESULTS_NAME)
    done = results.done()
    by_image: dict[str, list[str]] = {}
    for image_id, method in records:
        if (image_id, method) not in done:
            by_image.setdefault(image_id, []).append(method)
    dataset = open_dataset(
        settings.dataset,
        split=settings.split,
        class_map=settings.class_map,
        rescale_boxes=settings.rescale_boxes,
    )
    index = {image_id: i for i, image_id in enumerate(dataset.image_ids)}
    store = SaliencyStore(maps_from)
    workers = default_workers() if settings.box_workers is None else settings.box_workers
    ahead = 2 * max(workers, 1)
    bar = tqdm(total=len(by_image), desc="rescore", unit="img", disable=not progress)
    with BoxPool(workers) as pool, bar:
        queue: list[_Pending] = []
        for image_id, methods in by_image.items():
            job = _Pending(image_id, methods)
            _submit(job, records, index, dataset, store, settings, pool, report)
            queue.append(job)
            if len(queue) > ahead:
                _write(queue.pop(0), out, settings, results)
                bar.update(1)
        for job in queue:
            _write(job, out, settings, results)
            bar.update(1)


def _submit(
    job: _Pending,
    records: Mapping[tuple[str, str], dict[str, Any]],
    index: Mapping[str, int],
    dataset: Any,
    store: SaliencyStore,
    settings: EvalSettings,
    pool: BoxPool,
    report: Callable[[str], None] | None,
) -> None:
    """Load one image and its stored maps and hand them to the pool, or say why not."""
    failed = [records[(job.image_id, m)]["error"] for m in job.methods
              if "error" in records[(job.image_id, m)]]  # fmt: skip
    if failed:
        job.error = failed[0]
        return
    if job.image_id not in index:
        job.error = f"{job.image_id} is not in {settings.dataset} any more"
        return
    item = _load(dataset, index[job.image_id], report)
    stored = store.read(job.image_id)
    if item.error is not None or stored is None or any(m not in stored for m in job.methods):
        job.error = item.error or f"{job.image_id}: its stored maps are missing or unreadable"
        return
    job.item = item
    for method in job.methods:
        maps = stored[method]
        job.ranked[method] = list(records[(job.image_id, method)]["top5"])
        job.plans[method] = [
            _Plan(
                row=0,
                needed=list(maps.classes),
                representatives=list(maps.representatives),
                maps=maps.decoded(),
                encoded=dict(zip(maps.classes, maps.maps, strict=True)),
                aucs={},
                seconds={},
                share=1.0,
            )
        ]
    job.future = pool.submit(_map_job(0, item, job.plans, settings))


def _write(job: _Pending, out: Path, settings: EvalSettings, results: ResultsFile) -> None:
    """Append one image's records (its display maps first, as eval does)."""
    if job.error is not None or job.future is None:
        for method in job.methods:
            results.append({"image_id": job.image_id, "method": method, "error": job.error})
        return
    scores = job.future.result()
    item = job.item
    for method in job.methods:
        plan = job.plans[method][0]
        record = _score_image(item, job.ranked[method], plan, scores[method], settings)
        MapsStore(out).record(method, item.sample, item.photo, plan.maps, plan.representatives)
        record["finished_at"] = time.time()
        results.append({"method": method, **record})
