"""Feedback solvers: how gates are updated to maximise the target class score."""

from thinktwice.gating.solvers.base import FeedbackResult
from thinktwice.gating.solvers.fr import RecursivePruning
from thinktwice.gating.solvers.fsp import SelectivePruning
from thinktwice.gating.solvers.relaxed import RelaxedAscent

SOLVERS = {
    SelectivePruning.name: SelectivePruning,
    RecursivePruning.name: RecursivePruning,
    RelaxedAscent.name: RelaxedAscent,
}


def make_solver(name: str, **options):
    """A solver by name (``fsp``, ``fr``, ``relaxed``) with its options."""
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; choose one of: {', '.join(SOLVERS)}")
    return SOLVERS[name](**options)


__all__ = [
    "SOLVERS",
    "FeedbackResult",
    "RecursivePruning",
    "RelaxedAscent",
    "SelectivePruning",
    "make_solver",
]
