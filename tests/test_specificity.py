"""Class specificity on the paper's two-object photos: each class's map favours its object."""

from __future__ import annotations

import pytest

from thinktwice.evaluation.datasets import ManifestDataset
from thinktwice.evaluation.specificity import class_specificity, markdown_table

from .conftest import SHARED_IMAGES, require_shared


@pytest.fixture(scope="module")
def feedback_rows(lite0):
    require_shared(SHARED_IMAGES)
    dataset = ManifestDataset(SHARED_IMAGES / "boxes.json")
    return class_specificity(lite0, dataset, {"feedback": {"method": "feedback"}})


def test_each_class_map_puts_more_mass_on_its_object_than_the_other_class_map(feedback_rows):
    """Within one photo, the kitten's map holds more of its mass in the kitten's box than the
    puppy's map does, and vice versa: the maps differ, and each favours its own object."""
    assert len(feedback_rows) == 8
    for row in feedback_rows:
        assert row.own > row.rival, markdown_table(feedback_rows)


def test_shares_are_fractions(feedback_rows):
    for row in feedback_rows:
        assert 0.0 <= row.own <= 1.0 and 0.0 <= row.other <= 1.0 and 0.0 <= row.rival <= 1.0
