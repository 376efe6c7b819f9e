"""The per-map work of an evaluation that needs no network -- boxes and MaxBoxAcc -- in a pool.

A box (GrabCut) costs far more than a saliency map on full-size photos, and it
needs only the photo and the map. :class:`BoxPool` hands each image's maps to
worker processes (``spawn``ed: they import numpy and OpenCV, never torch) and
returns futures; the runner submits a batch's jobs and computes the next
batch's saliency while the workers segment. With ``workers=0`` a job runs in
the calling process when it is submitted: the same function on the same data,
so a pooled run gives exactly the serial run's results (GrabCut draws from an
RNG seeded per call, see :mod:`thinktwice.localization.grabcut`).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thinktwice.evaluation.metrics.maxboxacc import boxacc_trial, tau_grid
from thinktwice.localization import localize
from thinktwice.localization.boxes import Box


@dataclass(frozen=True)
class BoxSettings:
    """How maps become boxes and MaxBoxAcc trials (None: not measured)."""

    box: str | None = "grabcut"  # None: no boxes
    max_side: int | None = None
    smooth: float = 0.0
    tau_step: float | None = None  # None: no MaxBoxAcc

    def box_options(self) -> dict[str, Any]:
        return {"max_side": self.max_side} if self.box in ("grabcut", "grabcut_coarse") else {}


@dataclass
class MapJob:
    """One image's maps of several methods: ``maps[method][class]`` at the model's input
    size; ``representatives[method]`` the classes that get a MaxBoxAcc trial;
    ``truths[class]`` the ground-truth boxes of each class."""

    photo: np.ndarray
    maps: Mapping[str, Mapping[int, np.ndarray]]
    representatives: Mapping[str, Sequence[int]]
    truths: Mapping[int, Sequence[Box]]
    settings: BoxSettings


@dataclass
class MapScores:
    """What a job gives back for one method."""

    boxes: dict[int, Box | str] = field(default_factory=dict)  # a box, or why there is none
    trials: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def score_maps(job: MapJob) -> dict[str, MapScores]:
    """Boxes (every map) and MaxBoxAcc trials (representatives' maps), per method."""
    settings = job.settings
    height, width = job.photo.shape[:2]
    taus = tau_grid(settings.tau_step) if settings.tau_step is not None else None
    scores = {}
    for method, maps in job.maps.items():
        result = MapScores()
        if settings.box is not None:
            started = time.perf_counter()
            for c, smap in maps.items():
                found = localize(
                    job.photo,
                    smap,
                    method=settings.box,
                    smooth=settings.smooth,
                    **settings.box_options(),
                )
                result.boxes[c] = found.box if found.box is not None else str(found.reason)
            result.seconds["localize"] = time.perf_counter() - started
        if taus is not None:
            started = time.perf_counter()
            for c in job.representatives[method]:
                trial = boxacc_trial(maps[c], c, job.truths[c], width, height, taus)
                result.trials.append(trial.to_json())
            result.seconds["maxboxacc"] = time.perf_counter() - started
        scores[method] = result
    return scores


def default_workers() -> int:
    """Box workers for this process: its share of the cores it may use among the processes
    torchrun started on this machine (``LOCAL_WORLD_SIZE``); 0 (boxes in the process itself)
    when that share is a single core."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    share = max(1, cores // max(int(os.environ.get("LOCAL_WORLD_SIZE", "1")), 1))
    return share if share > 1 else 0


class BoxPool:
    """``submit(job)`` -> a future of :func:`score_maps`; a ``with`` block owns the workers."""

    def __init__(self, workers: int = 0):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ValueError(f"box workers must be an integer >= 0, got {workers!r}")
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> BoxPool:
        if self.workers:
            context = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_start_worker,
                initargs=(os.getpid(),),
            )  # fmt: skip
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def submit(self, job: MapJob) -> Future[dict[str, MapScores]]:
        if self._executor is not None:
            return self._executor.submit(score_maps, job)
        future: Future[dict[str, MapScores]] = Future()
        try:
            future.set_result(score_maps(job))
        except Exception as error:  # noqa: BLE001 -- handed to the caller, as a pool would
            future.set_exception(error)
        return future


def _start_worker(parent: int) -> None:
    """A worker segments one map at a time on one core (the pool is the parallelism), and
    exits when ``parent`` is gone: killed with SIGKILL (a user's ``kill -9``, the OOM killer)
    the pool cannot say so, and each worker holds its own end of the pool's queue open, so it
    would otherwise wait for work forever."""
    import cv2

    cv2.setNumThreads(1)
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()


def _exit_when_orphaned(parent: int, every: float = 0.5) -> None:
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)
