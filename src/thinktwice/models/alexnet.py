"""AlexNet, in the single-tower "one weird trick" form (Krizhevsky, 2014) torchvision uses.

Written for gating: every ReLU and every max-pool is its own module object, used
exactly once per forward pass. Parameter names follow torchvision's ``AlexNet``
(``features.N`` / ``classifier.N`` with the same indices), so torchvision's
ImageNet checkpoint ``alexnet-owt-7be5be79.pth`` loads strictly.
"""

from __future__ import annotations

import torch
from torch import nn

# features.11 is the ReLU after the fifth (last) convolution.
ALEXNET_LAST_CONV_ACTIVATION = "features.11"


def _pool() -> nn.MaxPool2d:
    """The overlapping 3x3 / stride-2 max-pool (floor mode)."""
    return nn.MaxPool2d(kernel_size=3, stride=2)


class AlexNet(nn.Module):
    """AlexNet classifier on ImageNet-normalised input; 6x6 adaptive average pool before the MLP."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),  # 0
            nn.ReLU(),  # 1
            _pool(),  # 2
            nn.Conv2d(64, 192, kernel_size=5, padding=2),  # 3
            nn.ReLU(),  # 4
            _pool(),  # 5
            nn.Conv2d(192, 384, kernel_size=3, padding=1),  # 6
            nn.ReLU(),  # 7
            nn.Conv2d(384, 256, kernel_size=3, padding=1),  # 8
            nn.ReLU(),  # 9
            nn.Conv2d(256, 256, kernel_size=3, padding=1),  # 10
            nn.ReLU(),  # 11
            _pool(),  # 12
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),  # 0
            nn.Linear(256 * 6 * 6, 4096),  # 1
            nn.ReLU(),  # 2
            nn.Dropout(dropout),  # 3
            nn.Linear(4096, 4096),  # 4
            nn.ReLU(),  # 5
            nn.Linear(4096, num_classes),  # 6
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def alexnet() -> AlexNet:
    """An untrained AlexNet with torchvision's parameter names."""
    return AlexNet()
