"""Class specificity on the paper's two-object photos: each class's map favours its object."""

from __future__ import annotations

import pytest

from thinktwice.evaluation.datasets import ManifestDataset
from thinktwice.evaluation.metrics.specificity import class_specificity, markdown_table

from .conftest import SHARED_IMAGES, require_shared


@pytest.fixture(scope="module")
def feedback_rows(lite0):
    require_shared(SHARED_IMAGES)
    dataset = ManifestDataset(SHARED_IMAGES / "boxes.json")
    methods = {"feedback": {"method": "feedback"}, "gradient": {"method": "gradient"}}
    rows = class_specificity(lite0, dataset, methods)
    return [r for r in rows if r.method == "feedback"], [r for r in rows if r.method == "gradient"]


def test_each_class_map_puts_more_mass_on_its_object_than_the_other_class_map(feedback_rows):
    """Within one photo, the kitten's map holds more of its mass in the kitten's box than the
    puppy's map does, and vice versa: the maps differ, and each favours its own object."""
    feedback, _ = feedback_rows
    assert len(feedback) == 8
    for row in feedback:
        assert row.own > row.rival, markdown_table(feedback)


def test_feedback_keeps_more_of_its_map_on_its_own_object_than_gradient(feedback_rows):
    """Issue 10's bar: own-box share at least 0.10 above gradient's on average, and above it
    on at least 7 of the 8 objects."""
    feedback, gradient = feedback_rows
    pairs = list(zip(feedback, gradient, strict=True))
    assert all((f.image_id, f.class_index) == (g.image_id, g.class_index) for f, g in pairs)
    gains = [f.own - g.own for f, g in pairs]
    table = markdown_table(feedback + gradient)
    assert sum(gains) / len(gains) >= 0.10, table
    assert sum(gain > 0 for gain in gains) >= 7, table


def test_shares_are_fractions(feedback_rows):
    for row in feedback_rows[0] + feedback_rows[1]:
        assert 0.0 <= row.own <= 1.0 and 0.0 <= row.other <= 1.0 and 0.0 <= row.rival <= 1.0
