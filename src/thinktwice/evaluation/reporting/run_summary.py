"""A run folder summarised once, for every report: the summary files and the HTML page show
the same records, numbers, title and method names.

:func:`summarise_run` reads ``run.json`` (what was evaluated), ``scope.json`` (what the last
evaluation covered) and ``results.jsonl`` (once, the one way:
:func:`~thinktwice.evaluation.run.run_records.read_run_records`), and computes the
per-method metrics and the paired comparisons of feedback with each method.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thinktwice.attribution import METHODS
from thinktwice.evaluation.metrics.maxboxacc import tau_grid
from thinktwice.evaluation.metrics.paired import PairedComparison, PairedScores
from thinktwice.evaluation.metrics.summary import (
    REFERENCE,
    LatestRecords,
    ScoredRecords,
    compare_scores_with_reference,
    compare_with_reference,
    summarise,
)
from thinktwice.evaluation.reporting.summary_files import headline_for, paired_json
from thinktwice.evaluation.run.run_records import RunScope, read_run_records, run_settings
from thinktwice.options import METHOD_NAMES, method_label, model_label

__all__ = ["RunSummary", "method_labels", "method_order", "run_title", "summarise_run"]


@dataclass(frozen=True)
class RunSummary:
    """Everything the reports of one run folder show, computed once.

    ``records``: the records within the scope; ``methods``: the summarised methods (the
    scope's, else those with records, in :data:`~thinktwice.options.METHOD_NAMES` order).
    """

    settings: dict[str, Any]
    scope: RunScope
    records: LatestRecords
    methods: list[str]
    summaries: dict[str, dict[str, Any]]
    paired: list[PairedComparison]
    paired_scores: list[PairedScores]
    headline: tuple[str, ...]
    title: str
    labels: dict[str, str]

    def paired_json(self) -> dict[str, Any]:
        """The paired comparisons as summary.json and the page hold them."""
        return paired_json(REFERENCE, self.paired, self.paired_scores)

    def about(self) -> dict[str, Any]:
        """What was evaluated: dataset, split, model."""
        return {key: self.settings.get(key) for key in ("dataset", "split", "model")}


def summarise_run(run_dir: Path) -> RunSummary:
    """The run folder's settings, records and summaries (one-line ThinkTwiceError when it is
    not a usable run)."""
    run = Path(run_dir)
    settings = run_settings(run)
    scope = RunScope.read(run)
    records = read_run_records(run, scope)
    methods = list(scope.methods) if scope.methods is not None else method_order(records.methods())
    image_ids = scope.image_ids if scope.image_ids is not None else records.image_ids()
    scored = ScoredRecords(records, image_ids, methods)
    step = settings.get("tau_step")
    summaries = summarise(scored, tau_grid(step) if step else None, scope.heldout)
    return RunSummary(
        settings=settings,
        scope=scope,
        records=records,
        methods=methods,
        summaries=summaries,
        paired=compare_with_reference(scored, REFERENCE),
        paired_scores=compare_scores_with_reference(scored, REFERENCE),
        headline=headline_for(bool(settings.get("class_map")) or scored.several_classes),
        title=run_title(settings),
        labels=method_labels(methods, settings),
    )


def run_title(settings: Mapping[str, Any]) -> str:
    """A run's title, the model by its display name: EfficientNet-Lite0 on tiny-imagenet
    (dev)."""
    split = settings.get("split")
    model = model_label(str(settings["model"])) if settings.get("model") else "?"
    return f"{model} on {settings.get('dataset', '?')}" + (f" ({split})" if split else "")


def method_labels(methods: Sequence[str], settings: Mapping[str, Any]) -> dict[str, str]:
    """Each method's display name, built from the options run.json records for it."""
    recorded = settings.get("method_options") or {}
    return {
        m: METHODS[m].display_name(recorded.get(m, {})) if m in METHODS else method_label(m)
        for m in methods
    }


def method_order(methods: Iterable[str]) -> list[str]:
    """Methods in the order of :data:`~thinktwice.options.METHOD_NAMES` (others after)."""
    known = list(METHOD_NAMES)
    return sorted(methods, key=lambda m: (known.index(m) if m in known else len(known), m))
