"""Feedback solvers: how gates are updated to maximise the target class score."""

import inspect
from typing import Any

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


def make_solver(name: str, **options: Any) -> Solver:
    """The solver ``name`` (``fsp``, ``fr``, ``relaxed``, ``attention``) with ``options``;
    an :class:`OptionError` naming the valid solvers, options or values otherwise (each
    solver checks its values with :func:`thinktwice.options.check_feedback_value`)."""
    valid = list(solver_defaults(name))
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise OptionError(
            f"solver {name!r} takes no option {', '.join(unknown)}; its options: {', '.join(valid)}"
        )
    try:
        return SOLVERS[name](**options)
    except OptionError:
        raise
    except (TypeError, ValueError) as error:  # a check only the solver knows
        raise OptionError(f"solver {name!r}: {error}") from error


def solver_defaults(name: str) -> dict[str, Any]:
    """Every option solver ``name`` takes, with the value it takes when none is given."""
    if name not in SOLVERS:
        raise OptionError(f"unknown solver {name!r}; choose one of: {', '.join(SOLVERS)}")
    parameters = inspect.signature(SOLVERS[name].__init__).parameters.values()
    return {
        p.name: p.default
        for p in parameters
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


__all__ = [
    "SOLVERS",
    "FeedbackResult",
    "Solver",
    "RecursivePruning",
    "RelaxedAscent",
    "SelectivePruning",
    "TopDownAttention",
    "make_solver",
    "solver_defaults",
]
