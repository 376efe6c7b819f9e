"""What every feedback solver shares: one gated pass, and the result it returns."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch

from thinktwice.gating.rules import GateRule
from thinktwice.gating.sites import GateSite

# A score may drop by float round-off when gates do not change; below this it is no drop.
MONOTONE_TOLERANCE = 1e-4


@dataclass
class FeedbackResult:
    """The outcome of feedback for a batch of N (image, class) pairs.

    ``scores[k, n]`` is pair n's target score in pass k (pass 0: all gates open,
    the ordinary feedforward); ``template`` is ``dS_c/dI`` at the final gates.
    """

    template: torch.Tensor  # [N, 3, H, W]
    scores: torch.Tensor  # [passes, N]
    open_fraction: torch.Tensor  # [passes, sites, N]: share of open gates per site
    converged: torch.Tensor  # [N] bool: gates reached a fixed point
    sites: list[GateSite]  # the gated sites, bottom-up
    gates: dict[str, torch.Tensor | None] = field(repr=False, default_factory=dict)
    # [passes, N]: the image's own share of the score, T_c . (I - mean); with objective="evidence"
    evidence: torch.Tensor | None = None

    @property
    def objective(self) -> torch.Tensor:
        """[passes, N]: what the solver maximised (evidence when tracked, else the score)."""
        return self.evidence if self.evidence is not None else self.scores

    @property
    def iterations(self) -> int:
        """Gate updates made (passes after the first)."""
        return self.scores.shape[0] - 1

    @property
    def monotone(self) -> torch.Tensor:
        """[N] bool: the maximised objective never went down from one pass to the next."""
        values = self.objective
        drops = values[:-1] - values[1:]
        tolerance = MONOTONE_TOLERANCE * values.abs().amax(dim=0).clamp_min(1.0)
        return (drops <= tolerance).all(dim=0)


@dataclass
class PassOutput:
    """Target scores and, when asked, the input gradient of one gated pass."""

    scores: torch.Tensor  # [N]
    template: torch.Tensor | None  # [N, 3, H, W]


def gated_pass(
    classifier: torch.nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
    rule: GateRule | None = None,
    *,
    template: bool = True,
) -> PassOutput:
    """Forward with the installed gates, then backward from each pair's target score.

    The backward records ``dS/dy`` at every gate site (see :class:`GateRule`).
    With ``template=False`` it stops at the lowest gate of ``rule`` and skips the
    image gradient: cheaper, and enough to update the gates.
    """
    with torch.enable_grad():
        x = images.detach().requires_grad_(template)
        if rule is not None:
            rule.graph_from_lowest_gate = not template
            rule.graph_root = None
        try:
            scores = classifier(x).gather(1, targets.view(-1, 1)).squeeze(1)
        finally:
            if rule is not None:
                rule.graph_from_lowest_gate = False
        root = x if template else (rule.graph_root if rule is not None else None)
        if root is None:
            raise ValueError("a pass without template needs a rule with a gated site")
        (grad,) = torch.autograd.grad(scores.sum(), root)
    return PassOutput(scores=scores.detach(), template=grad if template else None)


def baseline_pass(
    classifier: torch.nn.Module, rule: GateRule, targets: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The gated network, linearised at the last pass, evaluated at the mean image.

    Call right after a pass made with ``rule.recording_inputs = True``. With every
    activation pattern and pool selection frozen the network is affine,
    ``S(I) = T . I + b``; at the mean image (normalised input 0) it gives the part
    of the score, and of every site's activation, that does not come from the
    image. Returns (scores [N], activations per site).
    """
    batch = len(targets)
    mean = classifier.mean.expand(batch, -1, *classifier.input_size)
    rule.freeze()
    try:
        with torch.no_grad():
            scores = classifier(mean).gather(1, targets.view(-1, 1)).squeeze(1)
        activations = {key: state.activation for key, state in rule.states.items()}
    finally:
        rule.unfreeze()
    return scores, activations


def open_fraction(rule: GateRule, batch: int) -> torch.Tensor:
    """[sites, N]: each pair's mean gate value at each gated site.

    For hard gates (0 or 1) this is the share of open gates; for relaxed gates it
    also shows how far they moved without reaching 0.
    """
    rows = []
    for key, state in rule.states.items():
        if key not in rule.gated:
            continue
        if state.gate is None:
            rows.append(torch.ones(batch))
        else:
            rows.append(state.gate.float().flatten(1).mean(dim=1))
    return torch.stack(rows) if rows else torch.ones(0, batch)


def warn_if_not_monotone(result: FeedbackResult, solver: str) -> None:
    """Say so when a solver that should never lower the score did (never hide it)."""
    broken = (~result.monotone).nonzero().flatten().tolist()
    if broken:
        warnings.warn(
            f"{solver}: the target score decreased during feedback for pair(s) {broken[:10]}; "
            "see result.scores",
            RuntimeWarning,
            stacklevel=3,
        )
