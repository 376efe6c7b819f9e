"""Guided backpropagation (Springenberg et al., 2015)."""

from __future__ import annotations

import torch
from torch import nn

from thinktwice.attribution.modified_backward import ModifiedBackward
from thinktwice.gating.rules import local_slope


def _guided_backward(grad: torch.Tensor, inputs: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """The ordinary activation gradient, then only its positive part (deconvnet AND gradient)."""
    return (grad * local_slope(module, inputs)).clamp_min(0)


class GuidedBackprop(ModifiedBackward):
    """Backward through each activation as ``relu(grad * f'(x))``."""

    name = "guided_backprop"
    rule = staticmethod(_guided_backward)
