"""A classifier together with what is needed to explain it.

:class:`Classifier` wraps any ``nn.Module`` that maps a normalised image batch to
class scores. It owns the input scaling (so every method differentiates with
respect to the image in [0, 1]), the input size, the preprocessing of a photo,
and the class names.

Networks trained in Caffe take BGR input: ``channel_order="BGR"`` reverses the
channels after normalising, so callers still pass RGB images in [0, 1] while the
network sees exactly its training input.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from thinktwice.models.classes import ClassNames, imagenet_classes

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CHANNEL_ORDERS = ("RGB", "BGR")


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return (size, size)
    height, width = size
    return (int(height), int(width))


class Classifier(nn.Module):
    """``network`` with its input scaling, input size and class names.

    ``forward`` takes RGB images with values in [0, 1], shape [N, 3, H, W], and
    returns the network's class scores (logits, before softmax). ``mean`` and
    ``std`` are per input (RGB) channel; with ``channel_order="BGR"`` the
    normalised channels are then reversed for a network trained on BGR input.
    """

    def __init__(
        self,
        network: nn.Module,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        input_size: int | Sequence[int],
        class_names: ClassNames | Sequence[str] | None = None,
        name: str = "custom",
        gradcam_layer: str | None = None,
        channel_order: str = "RGB",
    ):
        super().__init__()
        if channel_order not in CHANNEL_ORDERS:
            raise ValueError(f"channel_order must be RGB or BGR, got {channel_order!r}")
        self.network = network
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        if torch.any(self.std <= 0):
            raise ValueError(f"std must be positive, got {tuple(std)}")
        self.input_size = _pair(input_size)
        self.name = name
        self.gradcam_layer = gradcam_layer
        self.channel_order = channel_order
        self.classes = _as_class_names(class_names)
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        normalised = (images - self.mean) / self.std
        if self.channel_order == "BGR":
            normalised = normalised.flip(1)
        return self.network(normalised)

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """An RGB photo resized (not cropped) to the input size, as a [3, H, W] tensor in [0, 1].

        Squashing the whole photo keeps every object in view and lets a saliency
        map be stretched back onto the original pixels.
        """
        height, width = self.input_size
        resized = image.convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
        array = np.asarray(resized, dtype=np.float32) / 255.0
        return torch.from_numpy(array.copy()).permute(2, 0, 1)

    def extra_repr(self) -> str:
        order = f", channel_order={self.channel_order!r}" if self.channel_order != "RGB" else ""
        return (
            f"name={self.name!r}, input_size={self.input_size}, classes={len(self.classes)}{order}"
        )


def _as_class_names(class_names: ClassNames | Sequence[str] | None) -> ClassNames:
    if class_names is None:
        return imagenet_classes()
    if isinstance(class_names, ClassNames):
        return class_names
    return ClassNames([[str(n)] for n in class_names])


def wrap(
    module: nn.Module,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    input_size: int | Sequence[int] = 224,
    class_names: ClassNames | Sequence[str] | None = None,
    *,
    name: str = "custom",
    gradcam_layer: str | None = None,
    channel_order: str = "RGB",
) -> Classifier:
    """Make any image classifier explainable.

    ``module`` maps a normalised [N, 3, H, W] batch to [N, classes] scores;
    ``mean``/``std`` are its per-channel input normalisation for images in [0, 1].
    ``class_names`` defaults to the 1000 ImageNet classes. ``gradcam_layer`` names
    the module whose output Grad-CAM uses (default: the last spatial activation).
    ``channel_order="BGR"`` is for networks trained on BGR input (Caffe): images
    stay RGB, ``mean``/``std`` stay in RGB order, and the channels are reversed
    after normalising.
    """
    return Classifier(
        module,
        mean=mean,
        std=std,
        input_size=input_size,
        class_names=class_names,
        name=name,
        gradcam_layer=gradcam_layer,
        channel_order=channel_order,
    )
