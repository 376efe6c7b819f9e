"""Plain image gradient (Simonyan et al., 2014): the paper's "Oxford" baseline."""

from __future__ import annotations

import torch

from thinktwice.attribution.base import (
    Attribution,
    AttributionMethod,
    input_gradient,
    one_pass_attribution,
)


class Gradient(AttributionMethod):
    """``T_c = dS_c/dI`` with every gate open: the feedforward network's own gradient."""

    name = "gradient"
    label = "Gradient"
    order = 10

    def _attribute(self, inputs: torch.Tensor, targets: torch.Tensor) -> Attribution:
        scores, template = input_gradient(self.model, inputs, targets)
        return one_pass_attribution(scores, template, targets, self.name)
