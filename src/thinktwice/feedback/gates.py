"""The feedback gate at a site, the rules that decide it, and freezing.

* :class:`GateRule` multiplies each site's tensor (a module's output, or its
  input for ``position="input"`` sites) by its gate ``h`` (Eq. 4 with the
  feedback variable of section 3.3) and records, per site, the gated tensor and
  the gradient of the target score that reaches it; solvers read both.
* Decisions (:data:`DECISIONS`) say which gates the hard solvers open after a
  backward pass: ``"gain"`` where opening raises the score (``dS/dh > 0``),
  ``"gradient"`` where the score's gradient at the unit is positive (the
  authors' notebook: ``1[dS/dx > 0]``, whatever the sign of ``x``).
* A pass's mode (:class:`PassMode`) is a value given to the pass that runs
  (:meth:`GateRule.running`): whether gates are decided on the way down, whether
  inputs are recorded for freezing, where the autograd graph starts. Solvers make
  modes; nothing flips flags on the rule.
* Freezing (:meth:`GateRule.freeze`) fixes every activation's on/off pattern and
  every pool's selection, so the gated network becomes exactly affine in the
  image: ``S_c(I) = T_c . I + b`` (Eq. 8) for any ``I``.

The backward rules of deconvnet and guided backprop live with those methods,
in :mod:`thinktwice.attribution.modified_backward`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from thinktwice.hooks.sites import GateSite

GradRule = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def helpful(grad: torch.Tensor, activation: torch.Tensor) -> torch.Tensor:
    """Where opening a gate raises the score: ``dS/dh > 0``, or ``dS/dy > 0`` where ``y == 0``.

    ``dS/dh = dS/dy * a``; for the non-negative outputs of ReLU and pools its sign
    is that of ``dS/dy`` (the paper's ``1[dS/dx > 0]``), which also decides units
    that are off now but could turn on.
    """
    return torch.where(activation < 0, -grad, grad) > 0


def positive_gradient(grad: torch.Tensor, _activation: torch.Tensor) -> torch.Tensor:
    """Where the score's gradient at the unit is positive (the authors' notebook rule)."""
    return grad > 0


DECISIONS: dict[str, GradRule] = {"gain": helpful, "gradient": positive_gradient}


def _recursive_decision(decide: GradRule, current: torch.Tensor | None) -> GradRule:
    """The gate chosen on the way down; a closed ``current`` gate stays closed if given."""
    if current is None:
        return decide
    return lambda grad, activation: decide(grad, activation) & (current >= 0.5)


@dataclass(frozen=True)
class PassMode:
    """How the gates act during one pass; each pass is given its own (see
    :meth:`GateRule.running`), so no pass leaves a flag behind for the next.

    ``recursive``: each gated site decides its next gate as the gradient passes through
    it (by the rule's decision) and sends the gradient below through the new gate, a
    closed gate staying closed with ``prune_only``; ``record_inputs``: each site keeps
    its input, for :meth:`GateRule.freeze`; ``graph_from``: the site whose tensor starts
    the autograd graph (a backward from the score then reaches the gates above it, not
    the image; its tensor is :attr:`GateRule.graph_root`), None: the graph reaches the
    image.
    """

    recursive: bool = False
    prune_only: bool = False
    record_inputs: bool = False
    graph_from: str | None = None


#: The mode outside any pass of a solver: gates multiply, nothing else happens.
PLAIN = PassMode()


@dataclass
class SiteState:
    """Per-site tensors of the latest pass, one row per (image, class) pair."""

    gate: torch.Tensor | None = None  # None: open; else bool (hard) or float in [0, 1]
    activation: torch.Tensor | None = None  # output before the gate (detached)
    grad: torch.Tensor | None = None  # dS/dy at the gated output, from the last backward
    decided: torch.Tensor | None = None  # gate chosen during a recursive backward
    module: nn.Module | None = None
    inputs: torch.Tensor | None = None  # recorded only while freezing
    frozen: Callable[[torch.Tensor], torch.Tensor] | None = None


class _Gate(torch.autograd.Function):
    """``y = a * h``; its backward records ``dS/dy`` and may choose the gate on the way down."""

    @staticmethod
    def forward(ctx, activation, gate, state, decide):  # type: ignore[override]
        ctx.state, ctx.decide = state, decide
        ctx.save_for_backward(gate)
        return activation * gate

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (gate,) = ctx.saved_tensors
        state: SiteState = ctx.state
        state.grad = grad.detach()
        if ctx.decide is not None:
            gate = state.decided = ctx.decide(grad.detach(), state.activation)
        return grad * gate, None, None, None


class GateRule:
    """Feedback gates at every site; ``states[site.key]`` holds each site's tensors.

    ``gated``: the keys of the sites whose gates a solver sets (default: all; the others
    are only recorded); ``decision``: how a recursive pass decides a gate (see
    :data:`DECISIONS`). Forwards outside :meth:`running` run in the :data:`PLAIN` mode.
    """

    def __init__(
        self, sites: list[GateSite], *, gated: set[str] | None = None, decision: str = "gain"
    ):
        self.sites = sites
        self.states = {site.key: SiteState() for site in sites}
        self.gated = set(self.states) if gated is None else set(gated)
        self.decide = DECISIONS[decision]
        #: The lowest gated site: where a pass that needs no image gradient starts its graph.
        self.lowest_gate = next((s.key for s in sites if s.key in self.gated), None)
        self._mode = PLAIN
        #: The tensor where the latest pass's graph started (its mode's ``graph_from``).
        self.graph_root: torch.Tensor | None = None

    @property
    def mode(self) -> PassMode:
        """The mode of the pass running now (:data:`PLAIN` outside :meth:`running`)."""
        return self._mode

    @contextmanager
    def running(self, mode: PassMode) -> Iterator[PassMode]:
        """Within the block the installed gates act in ``mode``; the mode before is back
        on exit, also when the block raises."""
        outer, self._mode, self.graph_root = self._mode, mode, None
        try:
            yield mode
        finally:
            self._mode = outer

    def apply(
        self, site: GateSite, module: nn.Module, inputs: torch.Tensor, output: torch.Tensor
    ) -> torch.Tensor:
        state = self.states[site.key]
        state.module = module
        if self._mode.record_inputs:
            state.inputs = inputs.detach()
        if state.frozen is not None:
            output = state.frozen(inputs)
        return self._gated(site, state, self._graph_start(site, output))

    def apply_input(self, site: GateSite, module: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """The gate on a module's input (no freezing: the module itself is not hooked)."""
        state = self.states[site.key]
        state.module = module
        return self._gated(site, state, self._graph_start(site, inputs))

    def _graph_start(self, site: GateSite, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor``, or a detached copy that starts the graph at the mode's ``graph_from``."""
        if site.key != self._mode.graph_from:
            return tensor
        self.graph_root = tensor.detach().requires_grad_(True)
        return self.graph_root

    def _gated(self, site: GateSite, state: SiteState, tensor: torch.Tensor) -> torch.Tensor:
        state.activation = tensor.detach()
        gate = state.gate if state.gate is not None else tensor.new_ones(())
        decide = None
        if self._mode.recursive and site.key in self.gated:
            closed = state.gate if self._mode.prune_only else None
            decide = _recursive_decision(self.decide, closed)
        return _Gate.apply(tensor, gate, state, decide)

    def all_open(self) -> bool:
        """Whether no gate has been set yet (every pair sees the plain network)."""
        return all(state.gate is None for state in self.states.values())

    def set_gates(self, gates: dict[str, torch.Tensor | None]) -> None:
        for key, gate in gates.items():
            self.states[key].gate = gate

    def gates(self) -> dict[str, torch.Tensor | None]:
        """The gates of the gated sites (None: all open)."""
        return {key: self.states[key].gate for key in self.states if key in self.gated}

    def freeze(self) -> None:
        """Fix the activation patterns and pool selections of the last recorded pass.

        Call after a forward made in a mode with ``record_inputs``.
        """
        if any(site.position == "input" for site in self.sites):
            raise ValueError("freezing needs output gates (placement='outputs')")
        for key, state in self.states.items():
            if state.inputs is None or state.module is None:
                raise RuntimeError(f"site {key} has no recorded input; run a forward first")
            state.frozen = _frozen_map(state.module, state.inputs)
            state.inputs = None

    def unfreeze(self) -> None:
        """Let every site follow its input again."""
        for state in self.states.values():
            state.frozen = None


def _frozen_map(
    module: nn.Module, reference: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The affine map that ``module`` is around ``reference`` (exact for piecewise-linear units)."""
    if isinstance(module, nn.modules.pooling._MaxPoolNd | nn.modules.pooling._AdaptiveMaxPoolNd):
        indices = _pool_indices(module, reference)
        return lambda x: x.flatten(2).gather(2, indices.flatten(2)).view(indices.shape)
    slope = local_slope(module, reference)
    offset = module.forward(reference).detach() - slope * reference
    return lambda x: slope * x + offset


def local_slope(module: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Elementwise derivative of an elementwise activation module at ``inputs``.

    Calls ``module.forward`` directly so that no hook (ours included) runs.
    """
    with torch.enable_grad():
        x = inputs.detach().requires_grad_(True)
        (slope,) = torch.autograd.grad(module.forward(x).sum(), x)
    return slope


def _pool_indices(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Which input element each output of a max-pool selects (flat per channel)."""
    dims = x.dim() - 2
    if isinstance(module, nn.modules.pooling._AdaptiveMaxPoolNd):
        pool = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}[dims]
        return pool(x, module.output_size, return_indices=True)[1]
    pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[dims]
    return pool(
        x,
        module.kernel_size,
        module.stride,
        module.padding,
        module.dilation,
        ceil_mode=module.ceil_mode,
        return_indices=True,
    )[1]
