"""Guided backpropagation (Springenberg et al., 2015)."""

from __future__ import annotations

import torch

from thinktwice.attribution.modified_backward import ModifiedBackward, OutputGradientRule
from thinktwice.hooks.install import SiteRule


def _positive_part(grad: torch.Tensor) -> torch.Tensor:
    return grad.clamp_min(0)


class GuidedBackprop(ModifiedBackward):
    """Backward through each activation as ``relu(grad) * f'(x)`` (deconvnet AND gradient).

    Equal to ``relu(grad * f'(x))`` because ReLU-family slopes are never negative;
    written this way the activation's own backward supplies ``f'(x)``, so only the
    incoming gradient is clipped (as captum does with a module backward hook).
    """

    name = "guided_backprop"
    label = "Guided backprop"
    order = 30

    def site_rule(self) -> SiteRule:
        return OutputGradientRule(_positive_part)
