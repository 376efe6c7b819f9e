"""Deconvnet (Zeiler & Fergus, 2014): the paper's "Deconv" baseline."""

from __future__ import annotations

import torch
from torch import nn

from thinktwice.attribution.modified_backward import BackwardRule, ModifiedBackward
from thinktwice.hooks.install import SiteRule


def _deconv_backward(grad: torch.Tensor, _inputs: torch.Tensor, _module: nn.Module) -> torch.Tensor:
    """A ReLU passes back the positive part of the signal, whatever its forward state."""
    return grad.clamp_min(0)


class Deconvnet(ModifiedBackward):
    """Backward through each activation as ``relu(grad)``; max-pools keep their switches."""

    name = "deconvnet"
    label = "Deconvnet"
    order = 20

    def site_rule(self) -> SiteRule:
        return BackwardRule(_deconv_backward)
