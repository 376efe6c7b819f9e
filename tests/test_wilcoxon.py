"""Wilcoxon signed-rank comparison of per-image scores: by hand, and against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from thinktwice.evaluation.metrics.localization import ImageOutcome
from thinktwice.evaluation.metrics.paired import (
    compare_scores,
    markdown_paired_scores,
    wilcoxon_signed_rank,
)


def test_exact_p_by_hand():
    """Five positive differences: W+ = 1+2+3+4+5 = 15, the most uneven of the 2**5 sign
    patterns; two-sided p = 2 * 1/32."""
    statistic, z, p = wilcoxon_signed_rank([0.1, 0.2, 0.3, 0.4, 0.5])
    assert statistic == 15 and p == pytest.approx(2 / 32) and z > 0
    # W+ = 1 + 2 (ranks of 0.1, 0.2), W- = 3: sign patterns with rank sum <= 3 are
    # {}, {1}, {2}, {1,2}, {3}: 5 of 8 on each side -> p = min(1, 2 * 5/8) = 1
    assert wilcoxon_signed_rank([0.1, 0.2, -0.3])[2] == 1.0
    assert wilcoxon_signed_rank([0.0, 0.0]) == (0.0, 0.0, 1.0)  # zeros are dropped


def test_ties_use_mean_ranks_and_the_normal_approximation():
    """|d| = 1, 1, 2: ranks 1.5, 1.5, 3; W+ = 1.5 + 3; variance 3*4*7/24 - (2**3 - 2)/48."""
    statistic, z, p = wilcoxon_signed_rank([1.0, -1.0, 2.0])
    assert statistic == 4.5
    variance = 3 * 4 * 7 / 24 - 6 / 48
    assert z == pytest.approx((4.5 - 3) / math.sqrt(variance))
    assert p == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))


@pytest.mark.parametrize(("n", "rounded"), [(8, False), (45, False), (80, False), (60, True)])
def test_p_matches_scipy(n, rounded):
    stats = pytest.importorskip("scipy.stats", reason="scipy absent: cannot compare")
    rng = np.random.default_rng(n)
    a = rng.normal(size=n)
    b = a + rng.normal(0.2, 1.0, size=n)
    if rounded:
        a, b = np.round(a, 1), np.round(b, 1)
    differences = [float(x) for x in a - b]
    expected = stats.wilcoxon(differences).pvalue
    assert wilcoxon_signed_rank(differences)[2] == pytest.approx(expected, rel=1e-9)


def test_compare_scores_knows_which_direction_is_better():
    def outcome(image_id, deletion, insertion):
        return ImageOutcome(image_id, deletion_auc=deletion, insertion_auc=insertion)

    outcomes = {
        "feedback": [outcome("1", 0.1, 0.8), outcome("2", 0.2, 0.7), outcome("3", 0.3, None)],
        "gradient": [outcome("1", 0.3, 0.6), outcome("2", 0.1, 0.9), outcome("4", 0.5, 0.5)],
    }
    deletion = compare_scores(outcomes, "feedback", "gradient", "deletion AUC")
    assert deletion.images == 2 and (deletion.better, deletion.worse) == (1, 1)
    assert deletion.mean_method == pytest.approx(0.15) and deletion.mean_other == pytest.approx(0.2)
    insertion = compare_scores(outcomes, "feedback", "gradient", "insertion AUC")
    assert insertion.images == 2 and (insertion.better, insertion.worse) == (1, 1)
    table = markdown_paired_scores([deletion, insertion])
    assert "| gradient | deletion AUC | 2 | 0.150 | 0.200 | 1 | 1 |" in table
