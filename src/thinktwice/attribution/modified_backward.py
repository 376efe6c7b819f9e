"""Methods that keep the forward pass and change the gradient through activations.

:class:`BackwardRule` replaces the gradient through each activation (deconvnet);
:class:`OutputGradientRule` keeps the activation's own backward and only
transforms the gradient that reaches its output (guided backprop). Both are
installed at every activation site by :func:`~thinktwice.hooks.install.rules_installed`.
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
    require_sites,
    warn_ungated,
)
from thinktwice.hooks.install import SiteRule, rules_installed
from thinktwice.hooks.sites import GateSite, SiteCache
from thinktwice.models.classifier import Classifier


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
    """Gradient with a changed backward at every activation module (:meth:`site_rule`).

    A model without such a module is refused (the map would be the plain
    gradient); activations the rule cannot reach (``nn.SiLU``, ``F.relu`` calls)
    are named in a warning, since the map is then partly the plain gradient.
    """

    def __init__(self, model: Classifier, *, device: str | torch.device | None = None):
        super().__init__(model, device=device)
        self.site_cache = SiteCache(self.model)  # one survey per model and input shape
        survey = self.site_cache.survey(self.probe())
        if not any(s.kind == "activation" for s in survey.sites):
            require_sites(self.model, survey, self.name, "activation modules")
        warn_ungated(survey, self.name)

    @abstractmethod
    def site_rule(self) -> SiteRule:
        """What each activation does in the backward pass."""

    def _attribute(self, inputs: torch.Tensor, targets: torch.Tensor) -> Attribution:
        activations = [s for s in self.site_cache.sites(inputs) if s.kind == "activation"]
        with rules_installed(self.model, activations, self.site_rule()):
            scores, template = input_gradient(self.model, inputs, targets)
        return one_pass_attribution(scores, template, targets, self.name)
