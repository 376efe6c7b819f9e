"""Methods that keep the forward pass and change the gradient through activations."""

from __future__ import annotations

from abc import abstractmethod

import torch

from thinktwice.attribution.base import (
    Attribution,
    AttributionMethod,
    input_gradient,
    one_pass_attribution,
    require_sites,
    warn_ungated,
)
from thinktwice.gating.hooks import SiteRule, rules_installed
from thinktwice.gating.sites import find_sites, survey_sites
from thinktwice.models.classifier import Classifier


class ModifiedBackward(AttributionMethod):
    """Gradient with a changed backward at every activation module (:meth:`site_rule`).

    A model without such a module is refused (the map would be the plain
    gradient); activations the rule cannot reach (``nn.SiLU``, ``F.relu`` calls)
    are named in a warning, since the map is then partly the plain gradient.
    """

    def __init__(self, model: Classifier, *, device: str | torch.device | None = None):
        super().__init__(model, device=device)
        survey = survey_sites(self.model, self.probe())
        if not any(s.kind == "activation" for s in survey.sites):
            require_sites(self.model, survey, self.name, "activation modules")
        warn_ungated(survey, self.name)

    @abstractmethod
    def site_rule(self) -> SiteRule:
        """What each activation does in the backward pass."""

    def _attribute(self, inputs: torch.Tensor, targets: torch.Tensor) -> Attribution:
        sites = find_sites(self.model, inputs[:1], warn=False)
        activations = [s for s in sites if s.kind == "activation"]
        with rules_installed(self.model, activations, self.site_rule()):
            scores, template = input_gradient(self.model, inputs, targets)
        return one_pass_attribution(scores, template, targets, self.name)
