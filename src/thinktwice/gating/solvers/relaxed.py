"""Feedback by projected gradient ascent on the relaxed problem (Eq. 7).

Gates are real numbers in [0, 1]. Each iteration takes a step along
``dS_c/dh = dS_c/dy * a`` (scaled per site by its largest magnitude, so one step
size fits layers whose gradients differ by orders of magnitude), optionally
minus a sparsity price per open unit, and projects back onto [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from thinktwice.gating.hooks import rules_installed
from thinktwice.gating.rules import GateRule, SiteState
from thinktwice.gating.sites import GateSite
from thinktwice.gating.solvers.base import FeedbackResult, gated_pass, open_fraction

CONVERGENCE_STEP = 1e-3  # largest gate change below which the ascent has stopped moving


class RelaxedAscent:
    """Projected gradient ascent on continuous gates h in [0, 1]."""

    name = "relaxed"

    def __init__(self, max_iter: int = 10, step: float = 0.5, sparsity: float = 0.0):
        if max_iter < 0 or step <= 0 or sparsity < 0:
            raise ValueError("need max_iter >= 0, step > 0 and sparsity >= 0")
        self.max_iter = max_iter
        self.step = step
        self.sparsity = sparsity

    def solve(
        self,
        classifier: nn.Module,
        images: torch.Tensor,
        targets: torch.Tensor,
        sites: Sequence[GateSite],
        gated: Sequence[GateSite] | None = None,
    ) -> FeedbackResult:
        """Feedback on ``gated`` sites (default: all ``sites``)."""
        gated = list(sites if gated is None else gated)
        rule = GateRule(gated)
        scores, fractions = [], []
        converged = torch.zeros(len(images), dtype=torch.bool)
        with rules_installed(classifier, gated, rule):
            stop = False
            for iteration in range(self.max_iter + 1):
                last = stop or iteration == self.max_iter
                out = gated_pass(classifier, images, targets, rule, template=last)
                scores.append(out.scores)
                fractions.append(open_fraction(rule, len(images)))
                if last:
                    break
                moved = torch.zeros(len(images))
                for state in rule.states.values():
                    moved = torch.maximum(moved, self._ascend(state))
                converged = moved < CONVERGENCE_STEP
                stop = bool(converged.all())  # one more pass gives the template at these gates
        return FeedbackResult(
            template=out.template,
            scores=torch.stack(scores),
            open_fraction=torch.stack(fractions),
            converged=converged,
            sites=gated,
            gates=rule.gates(),
        )

    def _ascend(self, state: SiteState) -> torch.Tensor:
        """One projected step on this site's gates; returns each pair's largest change."""
        grad_h = state.grad * state.activation
        scale = grad_h.flatten(1).abs().amax(dim=1).clamp_min(1e-12)
        scale = scale.view(-1, *([1] * (grad_h.dim() - 1)))
        old = state.gate.float() if state.gate is not None else torch.ones_like(grad_h)
        new = (old + self.step * (grad_h / scale - self.sparsity)).clamp(0.0, 1.0)
        state.gate = new
        return (new - old).flatten(1).abs().amax(dim=1)
