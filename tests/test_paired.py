"""McNemar's paired comparison: exact p-values against scipy, discordant counts by hand."""

from __future__ import annotations

import pytest

from thinktwice.evaluation.metrics.localization import ImageOutcome
from thinktwice.evaluation.metrics.paired import compare, exact_mcnemar_p, markdown_paired

stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("b, c", [(0, 0), (5, 0), (0, 5), (3, 4), (166, 123), (451, 288)])
def test_exact_p_matches_scipy_binomial_test(b, c):
    expected = 1.0 if b + c == 0 else stats.binomtest(b, b + c, 0.5).pvalue
    assert exact_mcnemar_p(b, c) == pytest.approx(expected, rel=1e-9)


def _outcome(image_id: str, gt: float | None, top1: bool | None) -> ImageOutcome:
    return ImageOutcome(image_id=image_id, loc_gt=gt, loc_top1=top1)


def test_discordant_counts_use_only_images_both_methods_measured():
    outcomes = {
        "a": [_outcome("1", 1.0, True), _outcome("2", 1.0, None), _outcome("3", 0.5, False)],
        "b": [_outcome("1", 0.0, True), _outcome("2", 0.0, False), _outcome("4", 1.0, True)],
    }
    gt = compare(outcomes, "a", "b", "GT label")
    assert (gt.images, gt.only_method, gt.only_other) == (2, 2, 0)
    top1 = compare(outcomes, "a", "b", "top-1")
    assert (top1.images, top1.only_method, top1.only_other) == (1, 0, 0)
    assert top1.z == 0.0 and top1.p_value == 1.0
    assert gt.z == pytest.approx(2 / 2**0.5)
    table = markdown_paired([gt, top1])
    assert "| b | GT label | 2 | 2 | 0 | +1.41 | 0.5 |" in table


def test_pointing_is_compared_trial_by_trial_and_the_difficult_subset_apart():
    from thinktwice.evaluation.metrics.paired import paired_comparisons
    from thinktwice.evaluation.metrics.pointing import PointingTrial

    def outcome(image_id, *trials):
        return ImageOutcome(image_id=image_id, pointing=tuple(trials))

    outcomes = {
        "a": [outcome("1", PointingTrial(5, True, difficult=True), PointingTrial(7, True)),
              outcome("2", PointingTrial(5, False))],
        "b": [outcome("1", PointingTrial(5, False, difficult=True), PointingTrial(7, True)),
              outcome("2", PointingTrial(5, True))],
    }  # fmt: skip
    every = compare(outcomes, "a", "b", "pointing")
    assert (every.images, every.only_method, every.only_other) == (3, 1, 1)
    hard = compare(outcomes, "a", "b", "pointing, difficult")
    assert (hard.images, hard.only_method, hard.only_other) == (1, 1, 0)
    found = {c.criterion for c in paired_comparisons(outcomes, "a")}
    assert found == {"pointing", "pointing, difficult"}  # no localization was measured
