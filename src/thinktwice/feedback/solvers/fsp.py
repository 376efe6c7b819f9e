"""Feedback by selective pruning (FSP): the paper's hard update of Eq. 6.

Each iteration: backward from the target score S_c; at every gate site open
exactly the units the decision rule accepts (``"gain"``: ``dS_c/dh > 0``, the
paper's ``1[dS_c/dx > 0]`` for non-negative units; ``"gradient"``: the sign of
``dS_c/dx`` alone, as in the authors' notebook); re-forward with the new gates.
Stop at a fixed point or after ``max_iter``. With ``prune_only=True`` a closed
gate stays closed (selective *pruning* in the strict sense): the open set only
shrinks, so the loop always reaches a fixed point.

``objective="evidence"`` maximises the image's own share of the score,
``T_c . (I - mean)``, instead of ``S_c``: a unit is kept when the part of its
activation that the image causes (its activation minus its activation at the
mean image, in the network linearised at the current pass) helps the class.
On networks with biases (BatchNorm, ReLU6 saturation) maximising ``S_c`` itself
can route constant bias terms to the top and cut the image out of the template.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from thinktwice.errors import OptionError
from thinktwice.feedback.gates import GateRule, PassMode
from thinktwice.feedback.solvers.base import Solver, Step, baseline_pass
from thinktwice.hooks.sites import GateSite

OBJECTIVES = ("score", "evidence")


class SelectivePruning(Solver):
    """Hard feedback gates, all sites updated together from one backward pass."""

    name = "fsp"
    monotone_expected = True

    def __init__(
        self,
        max_iter: int = 10,
        objective: str = "score",
        prune_only: bool = False,
        decision: str = "gain",
    ):
        super().__init__(max_iter=max_iter, decision=decision, prune_only=prune_only)
        if objective not in OBJECTIVES:
            raise OptionError(
                f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}"
            )
        self.objective = objective

    def installed_sites(
        self, sites: Sequence[GateSite], gated: Sequence[GateSite]
    ) -> list[GateSite]:
        """The evidence objective linearises the whole network, so it hooks every site."""
        if self.objective != "evidence":
            return list(gated)
        if any(site.position == "input" for site in sites):
            raise OptionError("objective='evidence' needs placement='outputs'")
        return list(sites)

    def update(self, rule: GateRule, step: Step, *, apply: bool = True) -> torch.Tensor:
        proposal = self._proposal(rule, step)
        if self.prune_only:
            proposal = _keep_closed(rule, proposal)
        converged = ~_changed(rule.gates(), proposal, len(step.images))
        if apply:
            rule.set_gates(proposal)
        return converged

    def _proposal(self, rule: GateRule, step: Step) -> dict[str, torch.Tensor]:
        """The next gates; with the evidence objective, from the image-caused activations."""
        if self.objective == "score":
            return self._decide(rule, {k: s.activation for k, s in rule.states.items()})
        activations = {key: state.activation for key, state in rule.states.items()}
        grads = {key: state.grad for key, state in rule.states.items()}
        bias_score, bias_activations = baseline_pass(step.classifier, rule, step.targets)
        step.evidence.append(step.output.scores - bias_score)
        caused = {key: activations[key] - bias_activations[key] for key in rule.gated}
        for key, state in rule.states.items():  # the baseline pass overwrote them
            state.activation, state.grad = activations[key], grads[key]
        return self._decide(rule, caused)

    def _decide(
        self, rule: GateRule, activations: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Open where the last backward says the unit's ``activations`` help the class."""
        return {key: rule.decide(rule.states[key].grad, activations[key]) for key in rule.gated}

    def pass_mode(self) -> PassMode:
        """The evidence objective records every site's input, to linearise the network."""
        return replace(super().pass_mode(), record_inputs=self.objective == "evidence")


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
        changed |= differs.flatten(1).any(dim=1).cpu()
    return changed
