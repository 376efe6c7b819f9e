"""SqueezeNet v1.0 exactly as defined and trained in Caffe (Iandola et al., 2016).

A paper-era network like the Feedback CNN paper's AlexNet/VGG/GoogLeNet: plain
ReLU after every convolution, max-pooling, biases, no BatchNorm. Written for
gating: every ReLU and every max-pool is its own module object, used exactly
once per forward pass (26 ReLUs, 3 max-pools).

Two details follow the Caffe definition rather than torchvision's port: the
max-pools round their output size up (``ceil_mode=True``, as Caffe does), and
``conv_final`` has ``padding=1`` (a quirk of the original prototxt, which adds a
one-pixel border of pure bias before the global average). Parameter names equal
torchvision's ``squeezenet1_0`` keys (``features.3.squeeze.weight`` ...,
``classifier.1.weight``), so a plain state dict with those keys loads strictly.

Weights come from the Deep Compression release ``compressed_SqueezeNet.net``
(songhan/SqueezeNet-Deep-Compression) or from a ``.pth`` state dict of this
network (for instance one saved from a net loaded from that file); the file's
content, not its extension, decides which reader runs.

The network expects Caffe's input: BGR, values 0..255 minus the channel mean
(B 104, G 117, R 123); :mod:`thinktwice.models.zoo` sets that scaling up.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from thinktwice.errors import WeightsError
from thinktwice.models.deep_compression import DeepCompressionError, decode_deep_compression
from thinktwice.models.weights import is_torch_checkpoint, load_weights

# The module whose output Grad-CAM reads: fire9's concatenated expands (512 x 13 x 13
# at 227 px), the last spatial feature map before the 1000-channel class map.
SQUEEZENET_LAST_FIRE = "features.12"

# (squeeze, expand) widths of fire2 .. fire9; each expand is both the 1x1 and the 3x3 width.
_FIRE_WIDTHS = (
    (16, 64),  # fire2
    (16, 64),  # fire3
    (32, 128),  # fire4
    (32, 128),  # fire5
    (48, 192),  # fire6
    (48, 192),  # fire7
    (64, 256),  # fire8
    (64, 256),  # fire9
)


def _caffe_pool() -> nn.MaxPool2d:
    """Caffe's 3x3 / stride-2 max-pool, which rounds the output size up."""
    return nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)


class Fire(nn.Module):
    """Squeeze (1x1 conv + ReLU), then 1x1 and 3x3 expands (each + ReLU), concatenated."""

    def __init__(self, in_channels: int, squeeze: int, expand: int):
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, squeeze, kernel_size=1)
        self.squeeze_activation = nn.ReLU()
        self.expand1x1 = nn.Conv2d(squeeze, expand, kernel_size=1)
        self.expand1x1_activation = nn.ReLU()
        self.expand3x3 = nn.Conv2d(squeeze, expand, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat(
            [
                self.expand1x1_activation(self.expand1x1(x)),
                self.expand3x3_activation(self.expand3x3(x)),
            ],
            dim=1,
        )

    @property
    def out_channels(self) -> int:
        return self.expand1x1.out_channels + self.expand3x3.out_channels


def _fires(in_channels: int, widths: tuple[tuple[int, int], ...]) -> list[Fire]:
    fires = []
    for squeeze, expand in widths:
        fires.append(Fire(in_channels, squeeze, expand))
        in_channels = fires[-1].out_channels
    return fires


class SqueezeNet(nn.Module):
    """Caffe SqueezeNet v1.0 on Caffe-scaled BGR input (227 x 227); returns class scores."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        fire2, fire3, fire4, fire5, fire6, fire7, fire8, fire9 = _fires(96, _FIRE_WIDTHS)
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=7, stride=2),  # 0  conv1
            nn.ReLU(),  # 1
            _caffe_pool(),  # 2  pool1
            fire2,  # 3
            fire3,  # 4
            fire4,  # 5
            _caffe_pool(),  # 6  pool4
            fire5,  # 7
            fire6,  # 8
            fire7,  # 9
            fire8,  # 10
            _caffe_pool(),  # 11 pool8
            fire9,  # 12
        )
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),  # 0  drop9
            nn.Conv2d(fire9.out_channels, num_classes, kernel_size=1, padding=1),  # 1  conv_final
            nn.ReLU(),  # 2
            nn.AdaptiveAvgPool2d(1),  # 3  global average
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(self.features(x)), 1)


def squeezenet1_0() -> SqueezeNet:
    """An untrained Caffe SqueezeNet v1.0 with torchvision's parameter names."""
    return SqueezeNet()


def caffe_convolutions(network: SqueezeNet) -> list[tuple[str, nn.Conv2d]]:
    """The 26 convolutions with their Caffe layer names, in the prototxt's order."""
    layers: list[tuple[str, nn.Conv2d]] = [("conv1", network.features[0])]
    fires = [m for m in network.features if isinstance(m, Fire)]
    for number, fire in enumerate(fires, start=2):
        layers += [
            (f"fire{number}/conv1x1_1", fire.squeeze),
            (f"fire{number}/conv1x1_2", fire.expand1x1),
            (f"fire{number}/conv3x3_2", fire.expand3x3),
        ]
    layers.append(("conv_final", network.classifier[1]))
    return layers


def load_squeezenet_weights(
    network: SqueezeNet, path: str | Path, architecture: str = "squeezenet1_0"
) -> None:
    """Load a Deep Compression ``.net`` file or a ``.pth`` state dict into ``network``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    if is_torch_checkpoint(path):
        load_weights(network, path, architecture)
        return
    convolutions = caffe_convolutions(network)
    try:
        layers = decode_deep_compression(
            path, [(name, tuple(conv.weight.shape)) for name, conv in convolutions]
        )
    except DeepCompressionError:
        if path.suffix.lower() == ".net":
            raise  # the reader's own message says what is wrong with the file
        raise WeightsError(
            f"{path} is neither a PyTorch state dict (.pth) nor a Deep Compression file "
            f"of {architecture} (.net)"
        ) from None
    with torch.no_grad():
        for (_, conv), layer in zip(convolutions, layers, strict=True):
            conv.weight.copy_(torch.from_numpy(layer.weight))
            conv.bias.copy_(torch.from_numpy(layer.bias))
