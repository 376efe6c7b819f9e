"""Run captum's baselines on ReLU6 networks, for side-by-side comparisons.

Captum's guided backprop and deconvolution hook ``nn.ReLU`` modules only, so on
EfficientNet-Lite (ReLU6) they would silently fall back to the plain gradient.
:func:`captum_view` gives a copy whose ReLU6 modules are ``nn.ReLU`` subclasses
computing the same function, which captum's rules then reach.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class ReLU6SeenByCaptum(nn.ReLU):
    """ReLU6 under the ReLU class: same forward, recognised by captum's rules."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.relu6(x)


def captum_view(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``nn.ReLU6`` replaced; ``model`` is not changed."""
    clone = copy.deepcopy(model)
    for module in clone.modules():
        for name, child in module.named_children():
            if isinstance(child, nn.ReLU6):
                setattr(module, name, ReLU6SeenByCaptum())
    return clone
