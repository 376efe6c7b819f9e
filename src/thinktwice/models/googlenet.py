"""GoogLeNet / Inception v1 (Szegedy et al., 2015), as torchvision builds it.

Written for gating: every convolution is followed by its own ``nn.ReLU`` module
(torchvision calls ``F.relu`` instead, which a hook cannot gate) and every
max-pool is its own ``nn.MaxPool2d``; no module is called twice per forward.
Parameter names follow torchvision's ``GoogLeNet``, including the auxiliary heads
``aux1``/``aux2`` that the checkpoint ``googlenet-1378be20.pth`` carries, so it
loads strictly. The auxiliary heads are never run by :meth:`GoogLeNet.forward`.

Like torchvision's, the "5x5" branch uses a 3x3 convolution: the ported weights
have that shape. The network expects input scaled as ``(x - 0.5) / 0.5``, which
is what torchvision's ``transform_input=True`` produces from ImageNet-normalised
input; here the zoo's mean/std do that scaling instead.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

BN_EPS = 1e-3


class InceptionWidths(NamedTuple):
    """Channel widths of one Inception module."""

    in_channels: int
    ch1x1: int
    ch3x3_reduce: int
    ch3x3: int
    ch5x5_reduce: int
    ch5x5: int
    pool_proj: int


INCEPTION_WIDTHS = {
    "inception3a": InceptionWidths(192, 64, 96, 128, 16, 32, 32),
    "inception3b": InceptionWidths(256, 128, 128, 192, 32, 96, 64),
    "inception4a": InceptionWidths(480, 192, 96, 208, 16, 48, 64),
    "inception4b": InceptionWidths(512, 160, 112, 224, 24, 64, 64),
    "inception4c": InceptionWidths(512, 128, 128, 256, 24, 64, 64),
    "inception4d": InceptionWidths(512, 112, 144, 288, 32, 64, 64),
    "inception4e": InceptionWidths(528, 256, 160, 320, 32, 128, 128),
    "inception5a": InceptionWidths(832, 256, 160, 320, 32, 128, 128),
    "inception5b": InceptionWidths(832, 384, 192, 384, 48, 128, 128),
}

# The last spatial feature map (N x 1024 x 7 x 7 at 224 px) is inception5b's output.
GOOGLENET_LAST_FEATURES = "inception5b"


class BasicConv2d(nn.Module):
    """Convolution without bias, batch norm (eps 1e-3), then its own ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
    ):
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Four parallel branches (1x1; 1x1->3x3; 1x1->3x3; pool->1x1) concatenated on channels."""

    def __init__(self, widths: InceptionWidths):
        super().__init__()
        w = widths
        self.branch1 = BasicConv2d(w.in_channels, w.ch1x1, 1)
        self.branch2 = nn.Sequential(
            BasicConv2d(w.in_channels, w.ch3x3_reduce, 1),
            BasicConv2d(w.ch3x3_reduce, w.ch3x3, 3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(w.in_channels, w.ch5x5_reduce, 1),
            BasicConv2d(w.ch5x5_reduce, w.ch5x5, 3, padding=1),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(w.in_channels, w.pool_proj, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches], dim=1)


class InceptionAux(nn.Module):
    """Auxiliary training head; kept only so the published checkpoint loads strictly."""

    def __init__(self, in_channels: int, num_classes: int = 1000):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d((4, 4))
        self.conv = BasicConv2d(in_channels, 128, 1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.7)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


class GoogLeNet(nn.Module):
    """GoogLeNet classifier on input scaled to [-1, 1]; returns the main head's logits only."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.conv1 = BasicConv2d(3, 64, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, 1)
        self.conv3 = BasicConv2d(64, 192, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(INCEPTION_WIDTHS["inception3a"])
        self.inception3b = Inception(INCEPTION_WIDTHS["inception3b"])
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(INCEPTION_WIDTHS["inception4a"])
        self.inception4b = Inception(INCEPTION_WIDTHS["inception4b"])
        self.inception4c = Inception(INCEPTION_WIDTHS["inception4c"])
        self.inception4d = Inception(INCEPTION_WIDTHS["inception4d"])
        self.inception4e = Inception(INCEPTION_WIDTHS["inception4e"])
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(INCEPTION_WIDTHS["inception5a"])
        self.inception5b = Inception(INCEPTION_WIDTHS["inception5b"])
        self.aux1 = InceptionAux(512, num_classes)
        self.aux2 = InceptionAux(528, num_classes)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1024, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The N x 1024 x 7 x 7 (at 224 px) output of inception5b."""
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        for block in (self.inception4a, self.inception4b, self.inception4c, self.inception4d):
            x = block(x)
        x = self.maxpool4(self.inception4e(x))
        return self.inception5b(self.inception5a(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.fc(self.dropout(x))


def googlenet() -> GoogLeNet:
    """An untrained GoogLeNet with torchvision's parameter names (aux heads included)."""
    return GoogLeNet()
