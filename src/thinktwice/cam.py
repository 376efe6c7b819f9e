"""The class activation map, the one formula Grad-CAM and the attention gates share.

It lives outside :mod:`thinktwice.attribution` (which imports the feedback method and
so the solvers) so that a solver can read a class map without an import cycle.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def class_activation_map(
    activations: torch.Tensor, grads: torch.Tensor, size: Sequence[int]
) -> torch.Tensor:
    """``relu(sum_k mean(dS/dA_k) A_k)`` [N, H, W], upsampled bilinearly to ``size``."""
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = (weights * activations).sum(dim=1, keepdim=True).clamp_min(0)
    cam = F.interpolate(cam, size=tuple(size), mode="bilinear", align_corners=False)
    return cam[:, 0]
