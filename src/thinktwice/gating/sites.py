"""Where gates go: every ReLU-family activation and every max-pool of a network.

A *site* is one call of one such module during the forward pass. Sites are
found by running the model once with hooks, so they come in execution order
(bottom-up) and a module called twice in one pass yields two sites.

Two placements exist. ``"outputs"`` (the paper's Eq. 4): a gate multiplies the
output of every activation and max-pool. ``"inputs"`` (the authors' notebook):
a gate multiplies the *input* of every layer -- every convolution and linear
layer (the first one's input is the image itself), every activation (its
pre-activation) and every max-pool.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

ACTIVATIONS: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU)
POOLS: tuple[type[nn.Module], ...] = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
)
LAYERS: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
PLACEMENTS = ("outputs", "inputs")
_FUNCTIONAL_ACTIVATIONS = {
    torch.relu,
    torch.relu_,
    torch.nn.functional.relu,
    torch.nn.functional.relu6,
    torch.nn.functional.leaky_relu,
    torch.nn.functional.max_pool1d,
    torch.nn.functional.max_pool2d,
    torch.nn.functional.max_pool3d,
    torch.Tensor.relu,
    torch.Tensor.relu_,
}


@dataclass(frozen=True)
class GateSite:
    """One gated call: module ``name`` (as in ``named_modules``), its ``call``-th use,
    gated at its output or (``position="input"``) at its input."""

    name: str
    call: int
    kind: str  # "activation", "pool" or "layer" (a convolution or linear layer)
    shape: tuple[int, ...]  # shape of the gated tensor for one sample
    module_type: str
    position: str = "output"  # "output" or "input"

    @property
    def key(self) -> str:
        """A unique, readable identifier: the module name, with ``#k`` for a repeated call
        and ``:in`` for an input gate."""
        key = self.name if self.call == 0 else f"{self.name}#{self.call}"
        return key if self.position == "output" else f"{key}:in"

    @property
    def size(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


def site_kind(module: nn.Module) -> str | None:
    """``"activation"``, ``"pool"``, ``"layer"`` (convolution, linear), or None for a
    module that takes no gate."""
    if isinstance(module, ACTIVATIONS):
        return "activation"
    if isinstance(module, POOLS):
        return "pool"
    if isinstance(module, LAYERS):
        return "layer"
    return None


class _FunctionalCounter(TorchFunctionMode):
    """Counts activation/pool calls made as functions (``F.relu``), which hooks cannot gate."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.inside_gated_module = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        if func in _FUNCTIONAL_ACTIVATIONS and not self.inside_gated_module:
            self.calls += 1
        return func(*args, **(kwargs or {}))

    def enter(self, *_args: object) -> None:
        self.inside_gated_module += 1

    def leave(self, *_args: object) -> None:
        self.inside_gated_module -= 1


def find_sites(
    model: nn.Module, example: torch.Tensor, *, warn: bool = True, placement: str = "outputs"
) -> list[GateSite]:
    """The gate sites of ``model`` in execution order, found by one forward on ``example``.

    ``placement="outputs"``: the outputs of activations and max-pools (kinds
    ``activation``, ``pool``); ``"inputs"``: the inputs of those and of every
    convolution and linear layer (kind ``layer``). Warns when the model calls
    activations as functions: those cannot be gated, so feedback would silently
    skip them.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    at_input = placement == "inputs"
    names = {module: name for name, module in model.named_modules()}
    sites: list[GateSite] = []
    calls: dict[nn.Module, int] = {}

    counter = _FunctionalCounter()

    def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        kind = site_kind(module) or ""
        if kind != "layer":
            counter.leave()
        call = calls.get(module, 0)
        calls[module] = call + 1
        if kind == "layer" and not at_input:
            return
        gated = inputs[0] if at_input else (output[0] if isinstance(output, tuple) else output)
        sites.append(
            GateSite(
                name=names[module],
                call=call,
                kind=kind,
                shape=tuple(gated.shape[1:]),
                module_type=type(module).__name__,
                position="input" if at_input else "output",
            )
        )

    handles = []
    for module in model.modules():
        kind = site_kind(module)
        if kind == "layer":
            handles.append(module.register_forward_hook(record))
        elif kind is not None:
            handles.append(module.register_forward_pre_hook(counter.enter))
            handles.append(module.register_forward_hook(record))
    try:
        with torch.no_grad(), counter:
            model(example[:1])
    finally:
        for handle in handles:
            handle.remove()
    functional = counter.calls
    if warn and functional > 0:
        warnings.warn(
            f"{type(model).__name__} calls {functional} activation/max-pool function(s) directly "
            "(F.relu, torch.relu, ...); feedback cannot gate those. Use nn.ReLU / nn.MaxPool2d "
            "modules, one per use.",
            stacklevel=2,
        )
    return sites


def select_sites(
    sites: Sequence[GateSite],
    layers: int | str | Sequence[str] = "all",
    kinds: Sequence[str] = ("activation", "pool", "layer"),
) -> list[GateSite]:
    """The sites that get gates.

    ``layers`` is ``"all"``, an int k (the k sites nearest the output, i.e. the
    top-most layers), or a list of site keys / module names.
    """
    eligible = [s for s in sites if s.kind in kinds]
    if isinstance(layers, str) and layers == "all":
        return eligible
    if isinstance(layers, int):
        if layers < 0:
            raise ValueError(f"layers must be >= 0, got {layers}")
        return eligible[len(eligible) - layers :] if layers else []
    wanted = [layers] if isinstance(layers, str) else list(layers)
    chosen = [s for s in eligible if s.key in wanted or s.name in wanted]
    unknown = [w for w in wanted if not any(w in (s.key, s.name) for s in eligible)]
    if unknown:
        raise ValueError(
            f"no gate site named {unknown[0]!r}; sites are e.g. "
            f"{', '.join(s.key for s in eligible[-3:])}"
        )
    return chosen
