"""Methods that keep the forward pass and change the gradient through activations.

:class:`BackwardRule` replaces the gradient through each activation (deconvnet);
:class:`OutputGradientRule` keeps the activation's own backward and only
transforms the gradient that reaches its output (guided backprop). Both are
installed at every activation site by :func:`~thinktwice.gating.hooks.rules_installed`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable

import torch
from torch import nn

from thinktwice.attribution.base import (
    Attribution,
    AttributionMethod,
    input_gradient,
    one_pass_attribution,
)
from thinktwice.gating.hooks import SiteRule, rules_installed
from thinktwice.gating.sites import GateSite, find_sites


class _ReplaceBackward(torch.autograd.Function):
    """Forward returns the module's output; backward sends ``rule(grad, input)`` to the input."""

    @staticmethod
    def forward(ctx, inputs, output, rule):  # type: ignore[override]
        ctx.rule = rule
        ctx.save_for_backward(inputs)
        return output.clone()

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (inputs,) = ctx.saved_tensors
        return ctx.rule(grad, inputs), None, None


class BackwardRule:
    """Keep the forward pass; replace the gradient through each activation module.

    ``rule(grad_output, module_input, module) -> grad_input``.
    """

    def __init__(self, rule: Callable[[torch.Tensor, torch.Tensor, nn.Module], torch.Tensor]):
        self.rule = rule

    def apply(
        self, site: GateSite, module: nn.Module, inputs: torch.Tensor, output: torch.Tensor
    ) -> torch.Tensor:
        return _ReplaceBackward.apply(
            inputs, output.detach(), lambda grad, x: self.rule(grad, x, module)
        )


class OutputGradientRule:
    """Keep the forward pass and the activation's own backward; transform the gradient
    arriving at its output first (``transform(grad_output) -> grad_output``).

    Cheaper than :class:`BackwardRule`: no copy of the output, no recomputed slope.
    """

    def __init__(self, transform: Callable[[torch.Tensor], torch.Tensor]):
        self.transform = transform

    def apply(
        self, site: GateSite, module: nn.Module, inputs: torch.Tensor, output: torch.Tensor
    ) -> None:
        if output.requires_grad:
            output.register_hook(self.transform)


class ModifiedBackward(AttributionMethod):
    """Gradient with a changed backward at every activation module (:meth:`site_rule`)."""

    @abstractmethod
    def site_rule(self) -> SiteRule:
        """What each activation does in the backward pass."""

    def _attribute(self, inputs: torch.Tensor, targets: torch.Tensor) -> Attribution:
        sites = [s for s in find_sites(self.model, inputs[:1]) if s.kind == "activation"]
        with rules_installed(self.model, sites, self.site_rule()):
            scores, template = input_gradient(self.model, inputs, targets)
        return one_pass_attribution(scores, template, targets, self.name)
