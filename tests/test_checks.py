"""The one check for counts and choices."""

from __future__ import annotations

import pytest

from thinktwice.checks import check_choice, check_count, is_count
from thinktwice.errors import OptionError


@pytest.mark.parametrize("value", [True, False, 1.0, "3", None, -1])
def test_non_counts_are_refused_with_the_option_named(value):
    assert not is_count(value, least=0)
    with pytest.raises(OptionError, match="batch_size must be an integer of at least 1"):
        check_count("batch_size", value)


def test_counts_at_the_least_pass_and_below_it_fail():
    assert check_count("limit", 0, least=0) == 0
    assert check_count("limit", 7) == 7
    with pytest.raises(OptionError, match="at least 2, got 1"):
        check_count("workers", 1, least=2)


def test_a_choice_outside_the_set_lists_the_set_in_order():
    assert check_choice("box rule", "grabcut", ["grabcut", "threshold"]) == "grabcut"
    with pytest.raises(OptionError, match="unknown box rule 'x'; choose from: grabcut, threshold"):
        check_choice("box rule", "x", ["grabcut", "threshold"])
