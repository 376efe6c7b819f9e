"""VGG16 (Simonyan & Zisserman, 2015), configuration "D" without batch norm.

Written for gating: every ReLU and every max-pool is its own module object, used
exactly once per forward pass. Parameter names follow torchvision's ``VGG``
(``features.N`` / ``classifier.N`` with the same indices), so torchvision's
ImageNet checkpoint ``vgg16-397923af.pth`` loads strictly.
"""

from __future__ import annotations

import torch
from torch import nn

# Output channels of each 3x3 convolution; "M" is a 2x2 max-pool with stride 2.
VGG16_LAYOUT: tuple[int | str, ...] = (
    64, 64, "M",
    128, 128, "M",
    256, 256, 256, "M",
    512, 512, 512, "M",
    512, 512, 512, "M",
)  # fmt: skip

# features.29 is the ReLU after the last convolution (before the last pool).
VGG16_LAST_CONV_ACTIVATION = "features.29"


def _conv_stack(layout: tuple[int | str, ...], in_channels: int = 3) -> nn.Sequential:
    """Conv(3x3, pad 1) + ReLU per channel count, MaxPool(2, 2) per "M", in one Sequential."""
    layers: list[nn.Module] = []
    for item in layout:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            out_channels = int(item)
            layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
            layers.append(nn.ReLU())
            in_channels = out_channels
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG classifier on ImageNet-normalised input; 7x7 adaptive average pool before the MLP."""

    def __init__(self, layout: tuple[int | str, ...] = VGG16_LAYOUT, num_classes: int = 1000):
        super().__init__()
        self.features = _conv_stack(layout)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def vgg16() -> VGG:
    """An untrained VGG16 with torchvision's parameter names."""
    return VGG(VGG16_LAYOUT)
