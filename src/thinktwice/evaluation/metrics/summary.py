"""From a results file to the summary: per-method metrics and the paired comparisons.

The results file is read once (:class:`ScoredRecords`); :func:`summarise` gives
each method's metrics, :func:`compare_with_reference` the image-by-image
comparisons of a reference method (feedback) with every other method: McNemar
on localization, Wilcoxon signed-rank on the faithfulness AUCs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from thinktwice.errors import ThinkTwiceError
from thinktwice.evaluation.metrics.localization import MetricsAccumulator
from thinktwice.evaluation.metrics.maxboxacc import summarise_maxboxacc
from thinktwice.evaluation.metrics.paired import (
    PairedComparison,
    PairedScores,
    paired_comparisons,
    paired_score_comparisons,
)
from thinktwice.evaluation.run.record_check import record_problem
from thinktwice.evaluation.run.results import ResultsFile

#: The method every other one is compared with, image by image.
REFERENCE = "feedback"
TIMED_PARTS = ("saliency", "localize", "maxboxacc", "faithfulness")


class ScoredRecords:
    """A results file's records over ``image_ids``, per method, read once for the summary
    and the paired comparisons (latest record per image wins; a latest record with broken
    fields is a ThinkTwiceError naming it).

    ``results``: the file, or its records already read (the HTML report reads them once).
    """

    def __init__(
        self,
        results: ResultsFile | Iterable[Mapping[str, Any]],
        image_ids: Iterable[str],
        methods: Sequence[str],
    ):
        wanted = set(image_ids)
        self.records: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
        self.failed: dict[str, set[str]] = {m: set() for m in methods}  # unreadable images
        lines = results.records() if isinstance(results, ResultsFile) else results
        latest: dict[tuple[str, Any], Mapping[str, Any]] = {}
        for record in lines:
            method = record["method"]
            if method not in self.records or record["image_id"] not in wanted:
                continue
            if "error" in record:
                self.failed[method].add(record["image_id"])
            else:
                latest[(method, record["image_id"])] = record
        for (method, image_id), record in latest.items():
            problem = record_problem(record)
            if problem is not None:
                raise ThinkTwiceError(f"the line for {image_id!r} / {method!r} {problem}")
            self.records[method].append(dict(record))
        self.metrics = {
            m: MetricsAccumulator.from_json_lines(records) for m, records in self.records.items()
        }

    @property
    def several_classes(self) -> bool:
        """Whether some scored photo holds several ground-truth classes (a VOC-like scene)."""
        return any(
            len(o.pointing) > 1 or (o.loc_gt_labels or 0) > 1
            for metrics in self.metrics.values()
            for o in metrics.outcomes
        )


def summarise(
    scored: ScoredRecords,
    taus: Sequence[float] | None = None,
    heldout: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per method, the metrics over the scored images; with ``taus`` (the run's MaxBoxAcc
    thresholds) its MaxBoxAcc keys too, scored also at ``heldout[method]`` when given
    (the taus a dev run chose: :func:`~thinktwice.evaluation.metrics.maxboxacc.heldout_taus`)."""
    summaries = {}
    for method, records in scored.records.items():
        summary = scored.metrics[method].summary()
        if taus is not None:
            latest = {r["image_id"]: r for r in records}.values()  # a resume may repeat one
            summary.update(summarise_maxboxacc(latest, taus, (heldout or {}).get(method)))
        unreadable = scored.failed[method] - {r["image_id"] for r in records}
        if unreadable:
            summary["failed"] = len(unreadable)
        summary["seconds_per_image"] = _mean_seconds(records)
        summaries[method] = summary
    return summaries


def compare_with_reference(scored: ScoredRecords, reference: str) -> list[PairedComparison]:
    """``reference`` against each other method on localization, image by image (McNemar;
    empty if the reference was not evaluated)."""
    if reference not in scored.metrics or len(scored.metrics) < 2:
        return []
    outcomes = {m: metrics.outcomes for m, metrics in scored.metrics.items()}
    return paired_comparisons(outcomes, reference)


def compare_scores_with_reference(scored: ScoredRecords, reference: str) -> list[PairedScores]:
    """``reference`` against each other method on the faithfulness AUCs (Wilcoxon)."""
    if reference not in scored.metrics or len(scored.metrics) < 2:
        return []
    outcomes = {m: metrics.outcomes for m, metrics in scored.metrics.items()}
    return paired_score_comparisons(outcomes, reference)


def _mean_seconds(records: list[dict[str, Any]]) -> dict[str, float] | None:
    """Mean seconds per image of each timed part, None without records."""
    if not records:
        return None
    parts = [p for p in TIMED_PARTS if any(p in r.get("seconds", {}) for r in records)]
    return {p: float(np.mean([r.get("seconds", {}).get(p, 0.0) for r in records])) for p in parts}
