"""Feedback saliency (Cao et al., 2015): the gradient after the feedback loop.

Gates go on the chosen sites, a solver sets them top-down to maximise the
target score, and the template ``T_c = dS_c/dI`` at the final gates is the map.
Every option is checked when the method is built (an :class:`OptionError`
listing the valid choices), before any image is processed.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from thinktwice.attribution.base import (
    Attribution,
    AttributionMethod,
    require_sites,
    saliency_from_template,
    warn_ungated,
)
from thinktwice.errors import OptionError
from thinktwice.gating.sites import check_kinds, find_sites, select_sites, survey_sites
from thinktwice.gating.solvers import SOLVERS
from thinktwice.models.classifier import Classifier
from thinktwice.options import DEFAULT_LAYERS, DEFAULT_SOLVER, SITE_KINDS
from thinktwice.options import DEFAULT_SOLVER_OPTIONS as DEFAULT_OPTIONS

DEFAULT_KINDS = SITE_KINDS

__all__ = ["DEFAULT_KINDS", "DEFAULT_LAYERS", "DEFAULT_OPTIONS", "DEFAULT_SOLVER", "Feedback"]


def _with_defaults(solver: str, options: dict[str, Any]) -> dict[str, Any]:
    """The default solver's measured options, under the ones the caller set."""
    return {**DEFAULT_OPTIONS, **options} if solver == DEFAULT_SOLVER else dict(options)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_positive(value: Any) -> bool:
    return _is_number(value) and value > 0


def _is_non_negative(value: Any) -> bool:
    return _is_number(value) and value >= 0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# The solver options every solver that takes them reads the same way: (check, what is valid).
_OPTION_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "max_iter": (_is_count, "an int >= 0"),
    "step": (_is_positive, "a number > 0"),
    "sparsity": (_is_non_negative, "a number >= 0"),
    "prune_only": (lambda value: isinstance(value, bool), "True or False"),
}


def build_solver(name: str, options: dict[str, Any]) -> Any:
    """The solver ``name`` with ``options``; an :class:`OptionError` naming the valid
    solvers, options or values otherwise."""
    if name not in SOLVERS:
        raise OptionError(f"unknown solver {name!r}; choose one of: {', '.join(SOLVERS)}")
    solver_class = SOLVERS[name]
    valid = [
        p.name
        for p in inspect.signature(solver_class.__init__).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise OptionError(
            f"solver {name!r} takes no option {', '.join(unknown)}; its options: {', '.join(valid)}"
        )
    for option, value in options.items():
        check, wanted = _OPTION_RULES.get(option, (None, ""))
        if check is not None and not check(value):
            raise OptionError(f"{option} must be {wanted}, got {value!r}")
    try:
        return solver_class(**options)
    except OptionError:
        raise
    except (TypeError, ValueError) as error:  # a check only the solver knows
        raise OptionError(f"solver {name!r}: {error}") from error


class Feedback(AttributionMethod):
    """Feedback gates on ``layers`` (``"all"``, the top k sites, or site names).

    ``solver_options`` go to the solver (``max_iter``, ``step``, ``sparsity``,
    ``prune_only``, ...); for the default solver, unset ones take ``DEFAULT_OPTIONS``.
    ``layers=k`` with k at or above the number of sites gates every site.
    """

    name = "feedback"

    def __init__(
        self,
        model: Classifier,
        solver: str = DEFAULT_SOLVER,
        layers: int | str | Sequence[str] = DEFAULT_LAYERS,
        kinds: Sequence[str] = DEFAULT_KINDS,
        *,
        device: str | torch.device | None = None,
        **solver_options: Any,
    ):
        super().__init__(model, device=device)
        self.solver = build_solver(solver, _with_defaults(solver, solver_options))
        self.kinds = check_kinds(kinds)
        self.layers = layers
        survey = survey_sites(self.model, self.probe())
        if not select_sites(survey.sites, "all", self.kinds):
            require_sites(self.model, survey, self.name, "gate sites")
        warn_ungated(survey, self.name)
        select_sites(survey.sites, layers, self.kinds)  # unknown names fail now, not per batch

    @classmethod
    def resolved_options(
        cls,
        solver: str = DEFAULT_SOLVER,
        layers: int | str | Sequence[str] = DEFAULT_LAYERS,
        kinds: Sequence[str] = DEFAULT_KINDS,
        **solver_options: Any,
    ) -> dict[str, Any]:
        return {
            "solver": solver,
            "layers": layers if isinstance(layers, int | str) else list(layers),
            "kinds": list(kinds),
            **dict(sorted(_with_defaults(solver, solver_options).items())),
        }

    def _attribute(self, inputs: torch.Tensor, targets: torch.Tensor) -> Attribution:
        sites = find_sites(self.model, inputs[:1], warn=False)
        gated = select_sites(sites, self.layers, self.kinds)
        result = self.solver.solve(self.model, inputs, targets, sites, gated)
        return Attribution(
            saliency=saliency_from_template(result.template),
            template=result.template,
            scores=result.scores,
            targets=targets,
            method=self.name,
            details={
                "solver": self.solver.name,
                "converged": result.converged,
                "monotone": result.monotone,
                "open_fraction": result.open_fraction,
                "sites": [site.key for site in result.sites],
                "evidence": result.evidence,
            },
        )
