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

import difflib
import operator
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.fx._symbolic_trace import is_fx_symbolic_tracing

from thinktwice.errors import ModelError, OptionError
from thinktwice.models.classes import ClassNames, imagenet_classes
from thinktwice.models.state import eval_mode, exclusive, model_device, model_dtype

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CHANNEL_ORDERS = ("RGB", "BGR")


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    """(height, width) from one side or a pair; both positive integers."""
    values = list(size) if isinstance(size, Sequence) else [size]
    try:
        sides = [operator.index(v) for v in values if not isinstance(v, bool)]
    except TypeError:
        sides = []
    if len(sides) != len(values):  # a bool or a non-integer
        sides = []
    if len(sides) == 1:
        sides *= 2
    if len(sides) != 2 or min(sides) < 1:
        raise OptionError(f"input_size must be a positive int or (height, width), got {size!r}")
    return (sides[0], sides[1])


def _channel_values(name: str, values: Sequence[float]) -> tuple[float, float, float]:
    """Three per-channel numbers (mean or std of the R, G, B input)."""
    try:
        numbers = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        numbers = ()
    if len(numbers) != 3:
        raise OptionError(f"{name} needs one value per colour channel (3), got {values!r}")
    return numbers  # type: ignore[return-value]


class Classifier(nn.Module):
    """``network`` with its input scaling, input size and class names.

    ``forward`` takes RGB images with values in [0, 1], shape [N, 3, H, W] (moved to
    the model's device and dtype), and returns the network's class scores (logits,
    before softmax). ``mean`` and ``std`` are per input (RGB) channel; with
    ``channel_order="BGR"`` the normalised channels are then reversed for a network
    trained on BGR input. Building a Classifier does not change ``network``: not its
    mode, not its parameters.
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
        if not isinstance(network, nn.Module):
            raise OptionError(f"network must be a torch.nn.Module, got {type(network).__name__}")
        if channel_order not in CHANNEL_ORDERS:
            raise OptionError(f"channel_order must be RGB or BGR, got {channel_order!r}")
        mean, std = _channel_values("mean", mean), _channel_values("std", std)
        if min(std) <= 0:
            raise OptionError(f"std must be positive, got {std}")
        self.network = network
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.input_size = _pair(input_size)
        self.name = name
        self.gradcam_layer = self._layer_name(gradcam_layer)
        self.channel_order = channel_order
        # None: named when first needed, from the number of scores the network gives
        self._classes = None if class_names is None else _as_class_names(class_names)
        self.training = network.training  # the wrapper itself follows the network's mode

    @property
    def classes(self) -> ClassNames:
        """The class names: as given, else ImageNet's for a network with 1000 scores and
        ``class 0 .. class N-1`` for any other (found by one forward of a grey image)."""
        if self._classes is None:
            with exclusive(self):
                if self._classes is None:
                    self._classes = _default_names(self._count_scores())
        return self._classes

    @classes.setter
    def classes(self, names: ClassNames | Sequence[str]) -> None:
        self._classes = _as_class_names(names)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(device=self.mean.device, dtype=self.mean.dtype)
        normalised = (images - self.mean) / self.std
        if self.channel_order == "BGR":
            normalised = normalised.flip(1)
        if is_fx_symbolic_tracing():  # hooks.split traces the network itself: no lock, no check
            return self.network(normalised)
        with exclusive(self):  # waits while another thread's explanation has hooks installed
            scores = self.network(normalised)
        return self._checked_scores(scores, len(images))

    def _checked_scores(self, scores: object, count: int) -> torch.Tensor:
        """The network's output when it is what every method needs, [N, classes] scores; a
        ModelError saying what to change otherwise (a tuple, a dict, a feature map...)."""
        network = type(self.network).__name__
        if not isinstance(scores, torch.Tensor):
            raise ModelError(
                f"{network} returns a {type(scores).__name__}, not a tensor of class scores: "
                "thinktwice needs forward() to return [N, classes] logits; wrap a module whose "
                "forward returns just those (e.g. the first item of a tuple, the 'logits' entry "
                "of a dict)"
            )
        if scores.dim() != 2 or scores.shape[0] != count:
            raise ModelError(
                f"{network} returns scores of shape {tuple(scores.shape)} for {count} image(s): "
                "thinktwice needs [N, classes] logits (a feature map needs a global pool and "
                "nn.Flatten() at the end)"
            )
        if self._classes is not None and scores.shape[1] != len(self._classes):
            raise ModelError(
                f"{network} gives {scores.shape[1]} class scores but the model has "
                f"{len(self._classes)} class names; give one name per score "
                "(wrap(..., class_names=[...]))"
            )
        return scores

    def _count_scores(self) -> int:
        """How many class scores the network gives, from one forward of a grey image."""
        probe = torch.full((1, 3, *self.input_size), 0.5)
        probe = probe.to(device=model_device(self), dtype=model_dtype(self))
        with torch.no_grad(), eval_mode(self):
            try:
                scores = self(probe)
            except ModelError:
                raise
            except Exception as error:  # noqa: BLE001 - the user's network, any failure
                raise ModelError(
                    f"{type(self.network).__name__} fails on a [1, 3, {self.input_size[0]}, "
                    f"{self.input_size[1]}] input ({type(error).__name__}: "
                    f"{str(error).splitlines()[0] if str(error) else ''}); check input_size"
                ) from error
        return int(scores.shape[1])

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """An RGB photo resized (not cropped) to the input size, as a [3, H, W] tensor in [0, 1].

        Squashing the whole photo keeps every object in view and lets a saliency
        map be stretched back onto the original pixels.
        """
        height, width = self.input_size
        resized = image.convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
        array = np.asarray(resized, dtype=np.float32) / 255.0
        return torch.from_numpy(array.copy()).permute(2, 0, 1)

    def _layer_name(self, layer: str | None) -> str | None:
        """``layer`` as a module name of this Classifier: a name in ``network`` gets the
        ``network.`` prefix; an unknown name is refused now, with close names."""
        if layer is None:
            return None
        own = dict(self.named_modules())
        for candidate in (f"network.{layer}" if layer else "network", layer):
            if candidate in own:
                return candidate
        names = [n for n, _ in self.network.named_modules() if n]
        close = difflib.get_close_matches(layer, names, n=3, cutoff=0.5) or names[-3:]
        raise OptionError(
            f"gradcam_layer {layer!r} is not a module of the network; modules are named like "
            f"{', '.join(repr(n) for n in close)} (see network.named_modules())"
        )

    def extra_repr(self) -> str:
        order = f", channel_order={self.channel_order!r}" if self.channel_order != "RGB" else ""
        classes = len(self._classes) if self._classes is not None else "from the network"
        return f"name={self.name!r}, input_size={self.input_size}, classes={classes}{order}"


def as_classifier(model: object) -> Classifier:
    """``model`` itself when it is a :class:`Classifier`; else a :class:`ModelError` that
    says to wrap it (a bare module has no input scaling, input size or class names)."""
    if isinstance(model, Classifier):
        return model
    what = type(model).__name__
    if isinstance(model, nn.Module):
        raise ModelError(
            f"{what} is a plain torch module: wrap it first, "
            "thinktwice.wrap(module, mean, std, input_size, class_names), so thinktwice knows "
            "its input normalisation, input size and class names"
        )
    raise ModelError(f"expected a thinktwice Classifier (load_model() or wrap()), got {what}")


def _default_names(count: int) -> ClassNames:
    """ImageNet's names for 1000 scores; ``class 0 .. class N-1`` for any other number (a
    10-class network must not be shown ImageNet's first ten classes)."""
    names = imagenet_classes()
    return names if count == len(names) else ClassNames.numbered(count)


def _as_class_names(class_names: ClassNames | Sequence[str]) -> ClassNames:
    if isinstance(class_names, ClassNames):
        return class_names
    if isinstance(class_names, str) or not list(class_names):
        raise OptionError("class_names must be a non-empty list of names, one per class")
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
    ``class_names``: one name per score; by default ImageNet's when ``module`` gives 1000
    scores, else ``class 0 .. class N-1`` (a name such as ``"tabby"`` then means nothing, an
    index does). A network that returns anything but [N, classes] scores (a tuple, a dict,
    a feature map), or more or fewer scores than names, is a ModelError at first use.
    ``gradcam_layer`` names
    the module of ``module`` whose output Grad-CAM uses (default: the last spatial
    activation); an unknown name is an :class:`OptionError` here, not at first use.
    ``channel_order="BGR"`` is for networks trained on BGR input (Caffe): images
    stay RGB, ``mean``/``std`` stay in RGB order, and the channels are reversed
    after normalising. ``module`` itself is not changed (its train/eval mode
    included): every method runs it in eval mode and restores its flags afterwards.
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
