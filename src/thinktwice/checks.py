"""The one check for counts and choices, shared by the library, the runner and the CLI.

A count is an ``int`` (never a ``bool``, which Python counts as one) of at least
``least``; a choice is one of a fixed, ordered set. Both raise
:class:`~thinktwice.errors.OptionError` with a message that names the option and,
for choices, lists the valid ones, so every caller says the same thing the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from thinktwice.errors import OptionError


def is_count(value: Any, least: int = 0) -> bool:
    """Whether ``value`` is an integer (not a bool) of at least ``least``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def check_count(what: str, value: Any, least: int = 1) -> int:
    """``value`` when it is a count of at least ``least``; else an OptionError naming ``what``."""
    if not is_count(value, least):
        raise OptionError(f"{what} must be an integer of at least {least}, got {value!r}")
    return value


def check_choice(what: str, value: Any, choices: Iterable[str]) -> str:
    """``value`` when it is one of ``choices``; else an OptionError listing them."""
    valid = list(choices)
    if value not in valid:
        raise OptionError(f"unknown {what} {value!r}; choose from: {', '.join(valid)}")
    return value


__all__ = ["check_choice", "check_count", "is_count"]
