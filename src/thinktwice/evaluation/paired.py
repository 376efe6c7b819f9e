"""Paired comparison of two methods on the same images (McNemar's test).

Two error rates a few points apart may be noise; what decides is how many images
one method gets right and the other wrong, and the reverse. Under "no difference"
each such discordant image is a fair coin, so the exact two-sided binomial test
on the two counts gives the p-value; ``z = (b - c) / sqrt(b + c)`` its size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from thinktwice.evaluation.metrics import ImageOutcome

# Whether an image counts as correct under each criterion; None: not measured.
CRITERIA: dict[str, Callable[[ImageOutcome], bool | None]] = {
    "GT label": lambda o: None if o.loc_gt is None else o.loc_gt == 1.0,
    "top-1": lambda o: o.loc_top1,
    "top-5": lambda o: o.loc_top5,
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
    correct = CRITERIA[criterion]
    theirs = {o.image_id: correct(o) for o in outcomes[other]}
    pairs = [(correct(o), theirs.get(o.image_id)) for o in outcomes[method]]
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    return PairedComparison(
        method=method,
        other=other,
        criterion=criterion,
        images=len(pairs),
        only_method=sum(a and not b for a, b in pairs),
        only_other=sum(b and not a for a, b in pairs),
    )


def paired_comparisons(
    outcomes: Mapping[str, Sequence[ImageOutcome]], reference: str
) -> list[PairedComparison]:
    """``reference`` against every other method, under every criterion that was measured."""
    found = []
    for other in outcomes:
        if other == reference:
            continue
        for criterion in CRITERIA:
            comparison = compare(outcomes, reference, other, criterion)
            if comparison.images:
                found.append(comparison)
    return found


def markdown_paired(comparisons: Sequence[PairedComparison]) -> str:
    """A table: for each pair of methods and criterion, the discordant counts, z and p."""
    if not comparisons:
        return ""
    lines = [
        f"### {comparisons[0].method} against each method, image by image (McNemar)",
        "",
        "| against | localized with | images | only "
        f"{comparisons[0].method} | only the other | z | exact p |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for c in comparisons:
        lines.append(
            f"| {c.other} | {c.criterion} | {c.images} | {c.only_method} | {c.only_other} "
            f"| {c.z:+.2f} | {_p_text(c.p_value)} |"
        )
    lines += [
        "",
        'An image counts under "GT label" when every ground-truth class of it is localized; '
        "exact p: two-sided binomial test on the two discordant counts.",
    ]
    return "\n".join(lines) + "\n"


def _p_text(p: float) -> str:
    return "< 1e-6" if p < 1e-6 else f"{p:.2g}"
