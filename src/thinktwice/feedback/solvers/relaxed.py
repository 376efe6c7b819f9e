"""Feedback by projected gradient ascent on the relaxed problem (Eq. 7).

Gates are real numbers in [0, 1]. Each iteration takes a step along
``dS_c/dh = dS_c/dy * a`` (scaled per site by its largest magnitude, so one step
size fits layers whose gradients differ by orders of magnitude), optionally
minus a sparsity price per open unit, and projects back onto [0, 1].
"""

from __future__ import annotations

import torch

from thinktwice.feedback.gates import GateRule, SiteState
from thinktwice.feedback.solvers.base import Solver, Step
from thinktwice.options import RELAXED_SPARSITY, RELAXED_STEP, check_feedback_value

CONVERGENCE_STEP = 1e-3  # largest gate change below which the ascent has stopped moving


class RelaxedAscent(Solver):
    """Projected gradient ascent on continuous gates h in [0, 1]."""

    name = "relaxed"

    def __init__(
        self, max_iter: int = 10, step: float = RELAXED_STEP, sparsity: float = RELAXED_SPARSITY
    ):
        super().__init__(max_iter=max_iter)
        self.step = check_feedback_value("step", step)
        self.sparsity = check_feedback_value("sparsity", sparsity)

    def update(self, rule: GateRule, step: Step, *, apply: bool = True) -> torch.Tensor:
        """One projected step at every gated site; pairs that would move less than
        ``CONVERGENCE_STEP`` everywhere have stopped and keep their gates."""
        proposals = {key: self._ascend(rule.states[key]) for key in rule.gated}
        moved = torch.zeros(len(step.images), device=step.images.device)
        for key, new in proposals.items():
            moved = torch.maximum(
                moved, (new - _gate_values(rule.states[key], new)).flatten(1).abs().amax(dim=1)
            )
        converged = moved < CONVERGENCE_STEP
        if apply:
            for key, new in proposals.items():
                old = _gate_values(rule.states[key], new)
                keep = converged.view(-1, *([1] * (new.dim() - 1)))
                rule.states[key].gate = torch.where(keep, old, new)
        return converged.cpu()

    def _ascend(self, state: SiteState) -> torch.Tensor:
        """This site's gates after one projected step."""
        grad_h = state.grad * state.activation
        scale = grad_h.flatten(1).abs().amax(dim=1).clamp_min(1e-12)
        scale = scale.view(-1, *([1] * (grad_h.dim() - 1)))
        old = state.gate.float() if state.gate is not None else torch.ones_like(grad_h)
        return (old + self.step * (grad_h / scale - self.sparsity)).clamp(0.0, 1.0)


def _gate_values(state: SiteState, like: torch.Tensor) -> torch.Tensor:
    return state.gate.float() if state.gate is not None else torch.ones_like(like)
