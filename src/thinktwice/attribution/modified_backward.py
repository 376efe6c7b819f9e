"""Methods that keep the forward pass and change the gradient through activations."""

from __future__ import annotations

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
from thinktwice.gating.rules import BackwardRule
from thinktwice.gating.sites import find_sites

ActivationBackward = Callable[[torch.Tensor, torch.Tensor, nn.Module], torch.Tensor]


class ModifiedBackward(AttributionMethod):
    """Gradient with a changed backward at every activation module.

    By default :attr:`rule` replaces the activation's backward; a method that only
    needs to transform the incoming gradient overrides :meth:`site_rule`.
    """

    rule: ActivationBackward

    def site_rule(self) -> SiteRule:
        """What each activation does in the backward pass."""
        return BackwardRule(type(self).rule)

    def _attribute(self, inputs: torch.Tensor, targets: torch.Tensor) -> Attribution:
        sites = [s for s in find_sites(self.model, inputs[:1]) if s.kind == "activation"]
        with rules_installed(self.model, sites, self.site_rule()):
            scores, template = input_gradient(self.model, inputs, targets)
        return one_pass_attribution(scores, template, targets, self.name)
