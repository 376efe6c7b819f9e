"""Paired comparison of two methods on the same images.

*Right or wrong per image* (localization): McNemar's test. Two error rates a
few points apart may be noise; what decides is how many images one method gets
right and the other wrong, and the reverse. Under "no difference" each such
discordant image is a fair coin, so the exact two-sided binomial test on the two
counts gives the p-value; ``z = (b - c) / sqrt(b + c)`` its size.

*A score per image* (deletion and insertion AUC): the Wilcoxon signed-rank test
on the per-image differences (zero differences dropped, tied magnitudes given
their mean rank). The p-value is exact (the distribution of the rank sum over
all sign patterns) for up to 50 differences without ties, as scipy's default
does; otherwise the normal approximation with the tie correction of the
variance and no continuity correction (scipy's ``method="approx"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from thinktwice.evaluation.metrics.localization import POINTING_SUBSETS, ImageOutcome
from thinktwice.evaluation.metrics.pointing import PointingTrial

EXACT_WILCOXON_MAX = 50

# Whether an image counts as correct under each criterion; None: not measured.
CRITERIA: dict[str, Callable[[ImageOutcome], bool | None]] = {
    "GT label": lambda o: None if o.loc_gt is None else o.loc_gt == 1.0,
    "top-1": lambda o: o.loc_top1,
    "top-5": lambda o: o.loc_top5,
}
# Pointing: which trials count under each criterion (the summary's subsets); a trial is one
# (image, label) pair, hit or miss, so the test is on trials rather than images.
TRIAL_CRITERIA: dict[str, Callable[[PointingTrial], bool]] = {
    "pointing": POINTING_SUBSETS["pointing"],
    "pointing, difficult": POINTING_SUBSETS["pointing_difficult"],
}


@dataclass(frozen=True)
class PairedComparison:
    """``method`` against ``other`` on the images both localized-or-not under ``criterion``."""

    method: str
    other: str
    criterion: str
    images: int
    only_method: int  # images ``method`` gets right and ``other`` wrong
    only_other: int

    @property
    def z(self) -> float:
        discordant = self.only_method + self.only_other
        return 0.0 if not discordant else (self.only_method - self.only_other) / discordant**0.5

    @property
    def p_value(self) -> float:
        return exact_mcnemar_p(self.only_method, self.only_other)


def exact_mcnemar_p(b: int, c: int) -> float:
    """Two-sided exact p-value: P(a split of b + c fair coins at least this uneven)."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


def compare(
    outcomes: Mapping[str, Sequence[ImageOutcome]], method: str, other: str, criterion: str
) -> PairedComparison:
    """Count the discordant images of two methods under one criterion."""
    theirs = _verdicts(outcomes[other], criterion)
    pairs = [(a, theirs.get(key)) for key, a in _verdicts(outcomes[method], criterion).items()]
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    return PairedComparison(
        method=method,
        other=other,
        criterion=criterion,
        images=len(pairs),
        only_method=sum(a and not b for a, b in pairs),
        only_other=sum(b and not a for a, b in pairs),
    )


def _verdicts(outcomes: Sequence[ImageOutcome], criterion: str) -> dict[Any, bool | None]:
    """Right or wrong per unit under ``criterion``: per image, or per pointing trial (image,
    label)."""
    if criterion in TRIAL_CRITERIA:
        counts = TRIAL_CRITERIA[criterion]
        return {
            (o.image_id, t.label_key): t.hit for o in outcomes for t in o.pointing if counts(t)
        }
    correct = CRITERIA[criterion]
    return {o.image_id: correct(o) for o in outcomes}


def paired_comparisons(
    outcomes: Mapping[str, Sequence[ImageOutcome]], reference: str
) -> list[PairedComparison]:
    """``reference`` against every other method, under every criterion that was measured
    (localization per image, pointing per trial)."""
    return _against_reference(outcomes, reference, [*CRITERIA, *TRIAL_CRITERIA], compare)


def markdown_paired(comparisons: Sequence[PairedComparison]) -> str:
    """A table: for each pair of methods and criterion, the discordant counts, z and p."""
    if not comparisons:
        return ""
    lines = [
        f"### {comparisons[0].method} against each method, image by image or trial by trial "
        "(McNemar)",
        "",
        "| against | localized with / pointing | images or trials | only "
        f"{comparisons[0].method} | only the other | z | exact p |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for c in comparisons:
        lines.append(
            f"| {c.other} | {c.criterion} | {c.images} | {c.only_method} | {c.only_other} "
            f"| {c.z:+.2f} | {p_value_text(c.p_value)} |"
        )
    lines += [
        "",
        'An image counts under "GT label" when every ground-truth class of it is localized; '
        "pointing rows count trials, one per (image, label), hit or miss; "
        "exact p: two-sided binomial test on the two discordant counts.",
    ]
    return "\n".join(lines) + "\n"


def p_value_text(p: float) -> str:
    """A p-value as the paired tables print it: two significant digits, ``< 1e-6`` below."""
    return "< 1e-6" if p < 1e-6 else f"{p:.2g}"


# --- continuous scores: Wilcoxon signed-rank --------------------------------------------------

# Per-image faithfulness scores: name -> (outcome field, whether higher is better).
SCORES: dict[str, tuple[str, bool]] = {
    "deletion AUC": ("deletion_auc", False),
    "insertion AUC": ("insertion_auc", True),
}


@dataclass(frozen=True)
class PairedScores:
    """``method`` against ``other`` on one per-image score, over the images both measured."""

    method: str
    other: str
    score: str
    higher_is_better: bool
    images: int
    mean_method: float
    mean_other: float
    better: int  # images where ``method`` scores better than ``other``
    worse: int
    statistic: float  # W+: rank sum of the positive differences (method - other)
    z: float  # normal-approximation size, > 0 when ``method`` scores higher
    p_value: float


def wilcoxon_signed_rank(differences: Sequence[float]) -> tuple[float, float, float]:
    """(W+, z, two-sided p) of the signed-rank test on paired differences."""
    nonzero = [d for d in differences if d != 0]
    n = len(nonzero)
    if n == 0:
        return 0.0, 0.0, 1.0
    ranks = _average_ranks([abs(d) for d in nonzero])
    w_plus = math.fsum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    mean = n * (n + 1) / 4
    ties = _tie_sizes([abs(d) for d in nonzero])
    variance = n * (n + 1) * (2 * n + 1) / 24 - sum(t**3 - t for t in ties) / 48
    z = (w_plus - mean) / math.sqrt(variance) if variance > 0 else 0.0
    if n <= EXACT_WILCOXON_MAX and not any(t > 1 for t in ties):
        return w_plus, z, _exact_signed_rank_p(round(w_plus), n)
    return w_plus, z, math.erfc(abs(z) / math.sqrt(2))


def _average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties given the mean of the ranks they span."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def _tie_sizes(values: Sequence[float]) -> list[int]:
    counts: dict[float, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return list(counts.values())


def _exact_signed_rank_p(w_plus: int, n: int) -> float:
    """Two-sided exact p: the share of the 2**n sign patterns at least as uneven."""
    counts = [1] + [0] * (n * (n + 1) // 2)  # counts[w]: sign patterns with rank sum w
    for rank in range(1, n + 1):
        for total in range(len(counts) - 1, rank - 1, -1):
            counts[total] += counts[total - rank]
    low = min(w_plus, n * (n + 1) // 2 - w_plus)
    tail = sum(counts[: low + 1])
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


def compare_scores(
    outcomes: Mapping[str, Sequence[ImageOutcome]], method: str, other: str, score: str
) -> PairedScores:
    """Wilcoxon signed-rank test of ``method`` against ``other`` on one per-image score."""
    key, higher_is_better = SCORES[score]
    theirs = {o.image_id: getattr(o, key) for o in outcomes[other]}
    pairs = [(getattr(o, key), theirs.get(o.image_id)) for o in outcomes[method]]
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    differences = [a - b for a, b in pairs]
    statistic, z, p_value = wilcoxon_signed_rank(differences)
    sign = 1 if higher_is_better else -1
    return PairedScores(
        method=method,
        other=other,
        score=score,
        higher_is_better=higher_is_better,
        images=len(pairs),
        mean_method=math.fsum(a for a, _ in pairs) / len(pairs) if pairs else math.nan,
        mean_other=math.fsum(b for _, b in pairs) / len(pairs) if pairs else math.nan,
        better=sum(sign * d > 0 for d in differences),
        worse=sum(sign * d < 0 for d in differences),
        statistic=statistic,
        z=z,
        p_value=p_value,
    )


def paired_score_comparisons(
    outcomes: Mapping[str, Sequence[ImageOutcome]], reference: str
) -> list[PairedScores]:
    """``reference`` against every other method, on every score that was measured."""
    return _against_reference(outcomes, reference, SCORES, compare_scores)


def _against_reference(
    outcomes: Mapping[str, Sequence[ImageOutcome]],
    reference: str,
    measures: Sequence[str],
    comparer: Callable[[Mapping[str, Sequence[ImageOutcome]], str, str, str], Any],
) -> list[Any]:
    """``comparer(outcomes, reference, other, measure)`` for every other method and measure,
    keeping the comparisons that have images."""
    found = []
    for other in outcomes:
        if other == reference:
            continue
        for measure in measures:
            comparison = comparer(outcomes, reference, other, measure)
            if comparison.images:
                found.append(comparison)
    return found


def markdown_paired_scores(comparisons: Sequence[PairedScores]) -> str:
    """A table: per method pair and score, the means, who is better how often, and p."""
    if not comparisons:
        return ""
    name = comparisons[0].method
    lines = [
        f"### {name} against each method, faithfulness image by image (Wilcoxon signed-rank)",
        "",
        f"| against | score | images | mean {name} | mean other | {name} better | "
        f"{name} worse | z | p |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in comparisons:
        lines.append(
            f"| {c.other} | {c.score} | {c.images} | {c.mean_method:.3f} | {c.mean_other:.3f} "
            f"| {c.better} | {c.worse} | {c.z:+.2f} | {p_value_text(c.p_value)} |"
        )
    lines += [
        "",
        "Deletion AUC: lower is better; insertion AUC: higher is better (softmax probability "
        "of the class, RISE's protocol, docs/metrics.md). p: two-sided Wilcoxon signed-rank "
        "test on the per-image differences.",
    ]
    return "\n".join(lines) + "\n"


def comparison_json(comparison: PairedComparison | PairedScores) -> dict:
    """A comparison as a JSON object (its fields, with the p-value and z)."""
    data = {k: getattr(comparison, k) for k in comparison.__dataclass_fields__}
    data["z"] = comparison.z
    data["p_value"] = comparison.p_value
    return data
