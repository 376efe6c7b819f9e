"""Feedback by selective pruning (FSP): the paper's hard update of Eq. 6.

Each iteration: backward from the target score S_c; at every gate site set
``h = 1[dS_c/dy > 0]`` (open exactly the units whose output helps the class);
re-forward with the new gates. Stop at a fixed point or after ``max_iter``.
With ``prune_only=True`` a closed gate stays closed (selective *pruning* in the
strict sense): the open set only shrinks, so the loop always reaches a fixed point.

``objective="evidence"`` maximises the image's own share of the score,
``T_c . (I - mean)``, instead of ``S_c``: a unit is kept when the part of its
activation that the image causes (its activation minus its activation at the
mean image, in the network linearised at the current pass) helps the class.
On networks with biases (BatchNorm, ReLU6 saturation) maximising ``S_c`` itself
can route constant bias terms to the top and cut the image out of the template.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from thinktwice.gating.hooks import rules_installed
from thinktwice.gating.rules import GateRule, helpful
from thinktwice.gating.sites import GateSite
from thinktwice.gating.solvers.base import (
    FeedbackResult,
    baseline_pass,
    gated_pass,
    open_fraction,
    warn_if_not_monotone,
)

OBJECTIVES = ("score", "evidence")


class SelectivePruning:
    """Hard feedback gates, all sites updated together from one backward pass."""

    name = "fsp"
    recursive = False

    def __init__(self, max_iter: int = 10, objective: str = "score", prune_only: bool = False):
        if max_iter < 0:
            raise ValueError(f"max_iter must be >= 0, got {max_iter}")
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        self.max_iter = max_iter
        self.objective = objective
        self.prune_only = prune_only

    def solve(
        self,
        classifier: nn.Module,
        images: torch.Tensor,
        targets: torch.Tensor,
        sites: Sequence[GateSite],
        gated: Sequence[GateSite] | None = None,
    ) -> FeedbackResult:
        """Feedback on ``gated`` sites (default: all ``sites``); ``sites`` are all the
        network's sites, which the evidence objective needs to linearise it."""
        gated = list(sites if gated is None else gated)
        installed = list(sites) if self.objective == "evidence" else gated
        rule = GateRule(
            installed,
            recursive=self.recursive,
            gated={s.key for s in gated},
            prune_only=self.prune_only,
        )
        scores, evidence, fractions = [], [], []
        converged = torch.zeros(len(images), dtype=torch.bool)
        with rules_installed(classifier, installed, rule):
            for iteration in range(self.max_iter + 1):
                rule.recording_inputs = self.objective == "evidence"
                # Only the last pass needs the image gradient; a recursive pass's
                # gradient runs through gates not yet in the forward, so never use it.
                last = iteration == self.max_iter and not self.recursive
                out = gated_pass(classifier, images, targets, rule, template=last)
                scores.append(out.scores)
                fractions.append(open_fraction(rule, len(images)))
                proposal, image_score = self._proposal(classifier, rule, targets)
                if image_score is not None:
                    evidence.append(out.scores - image_score)
                converged = ~_changed(rule.gates(), proposal, len(images))
                if iteration == self.max_iter or bool(converged.all()):
                    break
                rule.set_gates(proposal)
            if out.template is None:  # the template at the final gates, plain gradient
                rule.recursive = False
                out = gated_pass(classifier, images, targets, rule, template=True)
        result = FeedbackResult(
            template=out.template,
            scores=torch.stack(scores),
            open_fraction=torch.stack(fractions),
            converged=converged,
            sites=gated,
            gates=rule.gates(),
            evidence=torch.stack(evidence) if evidence else None,
        )
        warn_if_not_monotone(result, self.name)
        return result

    def _proposal(
        self, classifier: nn.Module, rule: GateRule, targets: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """The next gates, and the non-image part of the score when the objective needs it."""
        if self.objective == "score":
            return self._decide(rule, {k: s.activation for k, s in rule.states.items()}), None
        activations = {key: state.activation for key, state in rule.states.items()}
        grads = {key: state.grad for key, state in rule.states.items()}
        bias_score, bias_activations = baseline_pass(classifier, rule, targets)
        caused = {key: activations[key] - bias_activations[key] for key in rule.gated}
        for key, state in rule.states.items():  # the baseline pass overwrote them
            state.activation, state.grad = activations[key], grads[key]
        return self._decide(rule, caused), bias_score

    def _decide(
        self, rule: GateRule, activations: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Open where the last backward says the unit's ``activations`` help the class."""
        proposal = {key: helpful(rule.states[key].grad, activations[key]) for key in rule.gated}
        return self._keep_closed(rule, proposal) if self.prune_only else proposal

    @staticmethod
    def _keep_closed(rule: GateRule, proposal: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Never reopen a gate that an earlier iteration closed."""
        kept = {}
        for key, new in proposal.items():
            old = rule.states[key].gate
            kept[key] = new if old is None else new & (old >= 0.5)
        return kept


def _changed(
    current: dict[str, torch.Tensor | None], proposal: dict[str, torch.Tensor], batch: int
) -> torch.Tensor:
    """[N] bool: the pairs whose gates the proposal changes at some site."""
    changed = torch.zeros(batch, dtype=torch.bool)
    for key, new in proposal.items():
        old = current[key]
        differs = ~new if old is None else new != (old >= 0.5)
        changed |= differs.flatten(1).any(dim=1)
    return changed
