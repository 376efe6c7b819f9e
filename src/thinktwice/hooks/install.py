"""Installing a rule at every gate site, for the duration of a ``with`` block.

Like zennit's composites: hooks go in on ``__enter__`` and come out on
``__exit__``, also when the block raises, so the user's model is never left
changed. In-place activations are switched to out-of-place while the hooks are
in (a rule needs a module's input and output as distinct tensors) and switched
back afterwards, and the model runs in eval mode (:func:`eval_mode`: every
module's train/eval flag is restored on exit) holding its lock, so another
thread's forward waits instead of running through the hooks
(:mod:`thinktwice.models.state`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

import torch
from torch import nn

from thinktwice.hooks.sites import GateSite
from thinktwice.models.state import eval_mode, exclusive


class SiteRule(Protocol):
    """What to do at a gate site: return the tensor the rest of the network sees
    (None: the module's own output, unchanged)."""

    def apply(
        self, site: GateSite, module: nn.Module, inputs: torch.Tensor, output: torch.Tensor
    ) -> torch.Tensor | None: ...


class InputSiteRule(SiteRule, Protocol):
    """A rule that can also act on a module's input (sites with ``position="input"``):
    return the tensor the module sees instead (None: unchanged)."""

    def apply_input(
        self, site: GateSite, module: nn.Module, inputs: torch.Tensor
    ) -> torch.Tensor | None: ...


class _CallCounter:
    """Maps each call of a module during one forward pass to its :class:`GateSite`."""

    def __init__(self, sites: Sequence[GateSite]):
        self.by_call = {(site.name, site.call, site.position): site for site in sites}
        self.calls: dict[tuple[str, str], int] = {}

    def reset(self, *_args: object) -> None:
        self.calls.clear()

    def next_site(self, name: str, position: str = "output") -> GateSite | None:
        call = self.calls.get((name, position), 0)
        self.calls[(name, position)] = call + 1
        return self.by_call.get((name, call, position))


@contextmanager
def frozen_parameters(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block no parameter requires grad, so autograd records only what an
    input gradient needs (no weight-gradient bookkeeping); restored on exit."""
    with exclusive(model):
        flags = [(p, p.requires_grad) for p in model.parameters()]
        try:
            for parameter, _ in flags:
                parameter.requires_grad_(False)
            yield model
        finally:
            for parameter, flag in flags:
                parameter.requires_grad_(flag)


@contextmanager
def rules_installed(
    model: nn.Module, sites: Sequence[GateSite], rule: SiteRule
) -> Iterator[nn.Module]:
    """Within the block, every forward of ``model`` applies ``rule`` at each of ``sites``
    (in eval mode, and parameters do not require grad, see :func:`frozen_parameters`)."""
    with eval_mode(model), frozen_parameters(model), _hooks(model, sites, rule):
        yield model  # eval_mode holds the model's lock: no other thread's forward meets the hooks


@contextmanager
def _hooks(model: nn.Module, sites: Sequence[GateSite], rule: SiteRule) -> Iterator[None]:
    modules = dict(model.named_modules())
    counter = _CallCounter(sites)
    handles = [model.register_forward_pre_hook(counter.reset)]
    inplace_flags: dict[nn.Module, bool] = {}
    try:
        for name, position in {(site.name, site.position) for site in sites}:
            module = modules[name]
            if getattr(module, "inplace", False):
                inplace_flags[module] = True
                module.inplace = False
            if position == "input":
                hook = _input_site_hook(name, counter, rule)
                handles.append(module.register_forward_pre_hook(hook))
            else:
                handles.append(module.register_forward_hook(_site_hook(name, counter, rule)))
        yield
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in inplace_flags.items():
            module.inplace = flag


def _site_hook(name: str, counter: _CallCounter, rule: SiteRule):
    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor | None:
        site = counter.next_site(name)
        if site is None or not isinstance(output, torch.Tensor):
            return None  # not a selected call, or a pool that also returns its indices
        return rule.apply(site, module, inputs[0], output)

    return hook


def _input_site_hook(name: str, counter: _CallCounter, rule: SiteRule):
    if not hasattr(rule, "apply_input"):
        raise TypeError(f"{type(rule).__name__} cannot act on a module's input (site {name})")

    def hook(module: nn.Module, inputs: tuple) -> tuple | None:
        site = counter.next_site(name, "input")
        if site is None or not inputs or not isinstance(inputs[0], torch.Tensor):
            return None
        replaced = rule.apply_input(site, module, inputs[0])  # type: ignore[attr-defined]
        return None if replaced is None else (replaced, *inputs[1:])

    return hook
