"""Top-down attention gates: the class map of one pass gates the finer layer in the next.

The paper's argument for feedback is biased competition: given the class, the
top-down signal turns off the neurons that carry other things, so a second look
sees the class's object with its distractors suppressed. This solver makes that
top-down signal spatial. After each pass the class map of the coarse layer that
is observed (Grad-CAM's ``relu(sum_k mean(dS/dA_k) A_k)`` of the gated network,
see ``observe`` in :meth:`Solver.solve`) is resized to each gated site's grid,
min-max normalised per pair and used as that site's gate, the same for every
channel: units where the class's evidence is strong stay open, the rest are
dimmed in proportion. The next pass runs with those gates.

Unlike :mod:`fsp <thinktwice.feedback.solvers.fsp>` and :mod:`relaxed
<thinktwice.feedback.solvers.relaxed>` it does not ascend ``S_c``: its gates follow
the class's evidence, not the score's gradient, which on the tested networks
raises the score while spreading the map (docs/feedback.md). A pair whose class
map is flat (no positive evidence anywhere) keeps its gates open.
"""

from __future__ import annotations

import torch

from thinktwice.cam import class_activation_map, unit_range
from thinktwice.errors import ModelError
from thinktwice.feedback.gates import GateRule, SiteState
from thinktwice.feedback.solvers.base import Solver, Step

#: Largest gate change below which the gates are at a fixed point.
CONVERGENCE_STEP = 1e-3


class TopDownAttention(Solver):
    """Gates set from the class map of the pass before (``max_iter`` gated passes)."""

    name = "attention"
    observes_class_map = True
    reads_observed_only = True

    def __init__(self, max_iter: int = 1):
        super().__init__(max_iter=max_iter)

    def update(self, rule: GateRule, step: Step, *, apply: bool = True) -> torch.Tensor:
        if not step.observed:
            raise ModelError("the attention solver needs the class-map layer observed")
        coarse = rule.states[step.observed[-1].key]
        if coarse.activation is None or coarse.grad is None or coarse.activation.dim() != 4:
            raise ModelError(
                f"attention: the class-map layer {step.observed[-1].key!r} gave no "
                "[N, C, H, W] feature map with a gradient"
            )
        moved = torch.zeros(len(step.images), device=step.images.device)
        proposals = {}
        for key in rule.gated:
            state = rule.states[key]
            proposals[key] = spatial_gate(coarse.activation, coarse.grad, state)
            old = state.gate if state.gate is not None else torch.ones_like(proposals[key])
            moved = torch.maximum(moved, (proposals[key] - old).flatten(1).abs().amax(dim=1))
        if apply:
            rule.set_gates(proposals)
        return (moved < CONVERGENCE_STEP).cpu()


def spatial_gate(activation: torch.Tensor, grad: torch.Tensor, site: SiteState) -> torch.Tensor:
    """[N, 1, h, w] in [0, 1]: the Grad-CAM of (``activation``, ``grad``) on ``site``'s grid,
    min-max normalised per pair (all ones where the map is flat)."""
    if site.activation is None or site.activation.dim() != 4:
        raise ModelError("attention gates need a spatial feature map [N, C, H, W] to gate")
    cam = class_activation_map(activation, grad, site.activation.shape[-2:])
    return unit_range(cam).clamp(0.0, 1.0).unsqueeze(1)
