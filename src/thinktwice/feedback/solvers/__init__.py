"""Feedback solvers: how gates are updated to maximise the target class score."""

from thinktwice.errors import OptionError
from thinktwice.feedback.solvers.attention import TopDownAttention
from thinktwice.feedback.solvers.base import FeedbackResult, Solver
from thinktwice.feedback.solvers.fr import RecursivePruning
from thinktwice.feedback.solvers.fsp import SelectivePruning
from thinktwice.feedback.solvers.relaxed import RelaxedAscent

SOLVERS: dict[str, type[Solver]] = {
    SelectivePruning.name: SelectivePruning,
    RecursivePruning.name: RecursivePruning,
    RelaxedAscent.name: RelaxedAscent,
    TopDownAttention.name: TopDownAttention,
}


def make_solver(name: str, **options) -> Solver:
    """A solver by name (``fsp``, ``fr``, ``relaxed``, ``attention``) with its options."""
    if name not in SOLVERS:
        raise OptionError(f"unknown solver {name!r}; choose one of: {', '.join(SOLVERS)}")
    try:
        return SOLVERS[name](**options)
    except TypeError as error:  # an option this solver does not take
        raise OptionError(f"solver {name!r}: {error}") from None


__all__ = [
    "SOLVERS",
    "FeedbackResult",
    "Solver",
    "RecursivePruning",
    "RelaxedAscent",
    "SelectivePruning",
    "TopDownAttention",
    "make_solver",
]
