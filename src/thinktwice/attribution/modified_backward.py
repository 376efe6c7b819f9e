"""Methods that keep the forward pass and change the gradient through activations."""

from __future__ import annotations

from abc import abstractmethod

import torch

from thinktwice.attribution.base import (
    Attribution,
    AttributionMethod,
    input_gradient,
    one_pass_attribution,
)
from thinktwice.gating.hooks import SiteRule, rules_installed
from thinktwice.gating.sites import find_sites


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
