"""Feedback, recursive variant (FR): the FSP decision taken layer by layer, top-down.

Within one backward pass, each gate site decides its gate as the gradient
reaches it, and the gradient sent to the layers below already passes through
the new gate; so a lower layer decides knowing what the layers above have
switched off. Then one forward with all new gates, as in FSP.
"""

from __future__ import annotations

import torch

from thinktwice.feedback.gates import GateRule
from thinktwice.feedback.solvers.base import Step
from thinktwice.feedback.solvers.fsp import SelectivePruning


class RecursivePruning(SelectivePruning):
    """Hard feedback gates decided top-down during the backward pass."""

    name = "fr"
    recursive = True

    def __init__(self, max_iter: int = 10, prune_only: bool = False, decision: str = "gain"):
        super().__init__(
            max_iter=max_iter, objective="score", prune_only=prune_only, decision=decision
        )

    def _proposal(self, rule: GateRule, step: Step) -> dict[str, torch.Tensor]:
        return {key: rule.states[key].decided for key in rule.gated}
