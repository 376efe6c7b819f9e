"""The class activation map and its per-pair [0, 1] scaling, shared by Grad-CAM, the
attention gates and feedback's fused map.

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


def unit_range(maps: torch.Tensor) -> torch.Tensor:
    """[N, ...] mapped to [0, 1] per map (min-max); a flat map becomes ones."""
    flat = maps.flatten(1)
    shape = (-1,) + (1,) * (maps.dim() - 1)
    low = flat.amin(dim=1).view(shape)
    span = flat.amax(dim=1).view(shape) - low
    scaled = (maps - low) / span.clamp_min(1e-30)
    return torch.where(span > 0, scaled, torch.ones_like(maps))
