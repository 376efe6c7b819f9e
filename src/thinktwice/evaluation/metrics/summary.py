"""From a run's records to the summary: per-method metrics and the paired comparisons.

The results file is reduced one way (:class:`LatestRecords`: the last scored line of
each (method, image)) and read once into :class:`ScoredRecords`; :func:`summarise` gives
each method's metrics, :func:`compare_with_reference` the image-by-image comparisons of a
reference method (feedback) with every other method: McNemar on localization, Wilcoxon
signed-rank on the faithfulness AUCs.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from thinktwice.evaluation.metrics.localization import MetricsAccumulator
from thinktwice.evaluation.metrics.maxboxacc import summarise_maxboxacc
from thinktwice.evaluation.metrics.paired import (
    PairedComparison,
    PairedScores,
    paired_comparisons,
    paired_score_comparisons,
)

#: The method every other one is compared with, image by image.
REFERENCE = "feedback"
TIMED_PARTS = ("saliency", "localize", "maxboxacc", "faithfulness")

Record = dict[str, Any]
#: A results line's pair: (method, image id).
PairKey = tuple[str, str]


class SupportsRecords(Protocol):
    """A results file (:class:`~thinktwice.evaluation.run.results.ResultsFile`)."""

    def records(self) -> Iterable[Record]: ...


@dataclass(frozen=True)
class LatestRecords:
    """A results file's lines reduced the one way the summary files and the report share.

    ``scored``: per (method, image) its LAST scored line, in the order pairs first appear.
    A run appends a pair again only when its last line was unusable (a torn or edited line
    that a resume computes again), so the newest line is the one that counts.
    ``errors``: the error of each pair that has error lines only (an unreadable photo); a
    pair scored after an error counts as scored.
    """

    scored: dict[PairKey, Record]
    errors: dict[PairKey, str]

    @classmethod
    def of(
        cls,
        lines: Iterable[Mapping[str, Any]],
        image_ids: Collection[str] | None = None,
        methods: Collection[str] | None = None,
    ) -> LatestRecords:
        """The lines of ``image_ids`` and ``methods`` (None: all) reduced."""
        wanted_images = set(image_ids) if image_ids is not None else None
        scored: dict[PairKey, Record] = {}
        errors: dict[PairKey, str] = {}
        for line in lines:
            key = (str(line["method"]), str(line["image_id"]))
            if (methods is not None and key[0] not in methods) or (
                wanted_images is not None and key[1] not in wanted_images
            ):
                continue
            if "error" in line:
                errors[key] = str(line["error"])
            else:
                scored[key] = dict(line)
        return cls(scored, {key: why for key, why in errors.items() if key not in scored})

    def methods(self) -> set[str]:
        """Every method with a line."""
        return {m for m, _ in self.scored} | {m for m, _ in self.errors}

    def image_ids(self) -> set[str]:
        """Every image with a line."""
        return {i for _, i in self.scored} | {i for _, i in self.errors}


class ScoredRecords:
    """A run's records over ``image_ids``, per method, read once for the summary and the
    paired comparisons.

    ``results``: records already reduced (:class:`LatestRecords`, as the reports read
    them, every line checked), or the results file or its lines, reduced here the same way.
    """

    def __init__(
        self,
        results: LatestRecords | SupportsRecords | Iterable[Mapping[str, Any]],
        image_ids: Iterable[str],
        methods: Sequence[str],
    ):
        if not isinstance(results, LatestRecords):
            lines = results.records() if hasattr(results, "records") else results
            results = LatestRecords.of(lines)  # type: ignore[arg-type]
        wanted = set(image_ids)
        self.records: dict[str, list[Record]] = {m: [] for m in methods}
        self.failed: dict[str, set[str]] = {m: set() for m in methods}  # unreadable images
        for (method, image_id), record in results.scored.items():
            if method in self.records and image_id in wanted:
                self.records[method].append(record)
        for method, image_id in results.errors:
            if method in self.failed and image_id in wanted:
                self.failed[method].add(image_id)
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
            summary.update(summarise_maxboxacc(records, taus, (heldout or {}).get(method)))
        if scored.failed[method]:
            summary["failed"] = len(scored.failed[method])
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


def _mean_seconds(records: list[Record]) -> dict[str, float] | None:
    """Mean seconds per image of each timed part, None without records."""
    if not records:
        return None
    parts = [p for p in TIMED_PARTS if any(p in r.get("seconds", {}) for r in records)]
    return {p: float(np.mean([r.get("seconds", {}).get(p, 0.0) for r in records])) for p in parts}
