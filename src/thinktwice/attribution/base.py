"""The one interface every saliency method implements.

As in Captum, a method is a class built around a model whose ``attribute``
takes a batch of images and one target class per image; a batch row is an
(image, class) pair, so one image with several classes is several rows.

Captum habits work: a target may be a class name (``"tiger cat"``), an int, a
numpy or torch integer scalar (one class for every row) or one per row; float64
or other float inputs are converted to the model's dtype and device. Inputs
must be images in [0, 1] (the :class:`Classifier` applies the network's own
normalisation): anything outside is refused, since already-normalised input
would silently give a map of the wrong image. The model is never changed:
every forward runs under :func:`~thinktwice.models.state.eval_mode`.
"""

from __future__ import annotations

import hashlib
import inspect
import operator
import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

import numpy as np
import torch

from thinktwice.errors import InputError, ModelError, OptionError, TargetError
from thinktwice.hooks.install import frozen_parameters
from thinktwice.hooks.sites import HANDLED, SiteSurvey
from thinktwice.models.classes import ClassNames
from thinktwice.models.classifier import Classifier, as_classifier
from thinktwice.models.state import eval_mode, model_device, model_dtype, on_device, resolve_device
from thinktwice.pairs import distinct_rows, occurrence_rounds, one_hot_seed

TargetLike = int | str | Sequence[int | str] | torch.Tensor | np.ndarray | np.integer
#: How far outside [0, 1] an input value may lie (float round-off of resizing), no further.
RANGE_TOLERANCE = 1e-3


@dataclass
class Attribution:
    """Saliency of N (image, class) pairs.

    ``saliency[n]`` is the map ``M(i, j) = max_colour |T_c(i, j, :)|`` (Grad-CAM:
    its upsampled class activation map); ``template[n]`` is ``T_c = dS_c/dI``
    (None for Grad-CAM, which has no input-space template); ``scores[k, n]`` is
    the target score after pass k (a single row for one-pass methods).
    """

    saliency: torch.Tensor  # [N, H, W]
    template: torch.Tensor | None  # [N, 3, H, W]
    scores: torch.Tensor  # [passes, N]
    targets: torch.Tensor  # [N]
    method: str
    details: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.targets)

    def to(self, device: torch.device | str) -> Attribution:
        """The same attribution with every tensor (details included) on ``device``."""
        moved = {
            f.name: _to_device(getattr(self, f.name), device)
            for f in fields(self)
            if f.name != "method"
        }
        return replace(self, **moved)


def _to_device(value: Any, device: torch.device | str) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {key: _to_device(item, device) for key, item in value.items()}
    return value


def saliency_from_template(template: torch.Tensor) -> torch.Tensor:
    """The paper's class saliency: the largest magnitude over colour channels."""
    return template.abs().amax(dim=1)


def one_pass_attribution(
    scores: torch.Tensor, template: torch.Tensor, targets: torch.Tensor, method: str
) -> Attribution:
    """The result of a method that takes one gradient pass: the template's saliency."""
    return Attribution(
        saliency=saliency_from_template(template),
        template=template,
        scores=scores.unsqueeze(0),
        targets=targets,
        method=method,
    )


def as_target_tensor(
    target: TargetLike, batch: int, classes: ClassNames | None = None
) -> torch.Tensor:
    """One class index per batch row.

    A single target (an int, a numpy/torch integer scalar, a class name looked up
    in ``classes``) applies to every row; a sequence or a 1-D tensor/array gives
    one per row.
    """
    if _is_single(target):
        return torch.full((batch,), _class_index(target, classes), dtype=torch.long)
    if isinstance(target, (torch.Tensor, np.ndarray)):
        tensor = torch.as_tensor(target)
        if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
            raise TargetError(f"targets must be integer class indices, got {tensor.dtype}")
        values = tensor.detach().flatten().long().cpu()
    elif isinstance(target, Sequence):
        values = torch.tensor([_class_index(t, classes) for t in target], dtype=torch.long)
    else:
        raise TargetError(
            f"a target is a class index or name, or one per image; got {type(target).__name__}"
        )
    if values.numel() != batch:
        raise TargetError(f"got {values.numel()} targets for {batch} images; give one per image")
    return values


def _is_single(target: object) -> bool:
    if isinstance(target, (str, int, np.integer)):
        return True
    return isinstance(target, (torch.Tensor, np.ndarray)) and target.ndim == 0


def _class_index(target: object, classes: ClassNames | None) -> int:
    """A class index from an int-like value or (with ``classes``) a name."""
    if isinstance(target, str):
        if classes is None:
            raise TargetError(f"target {target!r}: class names need a model with class names")
        return classes.lookup(target)
    if isinstance(target, (bool, np.bool_)) or (
        isinstance(target, (torch.Tensor, np.ndarray)) and target.dtype in (torch.bool, np.bool_)
    ):
        raise TargetError(f"a target is a class index or name, got {target!r}")
    try:
        return operator.index(target.item() if hasattr(target, "item") else target)
    except TypeError:
        raise TargetError(
            f"a target is a class index or name, got {target!r} ({type(target).__name__})"
        ) from None


def check_images(inputs: object) -> torch.Tensor:
    """``inputs`` checked to be a float [N, 3, H, W] batch of finite values in [0, 1]."""
    if not isinstance(inputs, torch.Tensor):
        raise InputError(
            f"inputs must be a torch tensor [N, 3, H, W] in [0, 1], got {type(inputs).__name__}; "
            "thinktwice.explain() also takes paths, PIL images and arrays"
        )
    if inputs.dim() != 4 or inputs.shape[1] != 3:
        raise InputError(f"inputs must be [N, 3, H, W], got {tuple(inputs.shape)}")
    if not inputs.is_floating_point():
        raise InputError(
            f"inputs must be float images in [0, 1], got {inputs.dtype} "
            "(divide 8-bit images by 255)"
        )
    if 0 in inputs.shape[2:]:
        raise InputError(f"inputs {tuple(inputs.shape)} hold images without pixels (H or W is 0)")
    if inputs.numel() == 0:
        return inputs
    if not bool(torch.isfinite(inputs).all()):
        raise InputError("inputs contain NaN or infinite values")
    low, high = float(inputs.min()), float(inputs.max())
    if low < -RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
        raise InputError(
            f"inputs must be images with values in [0, 1], got values in [{low:.3g}, {high:.3g}]; "
            "already normalised? pass the images before normalisation: the model applies its "
            "own mean and std"
        )
    return inputs


def warn_ungated(survey: SiteSurvey, method: str) -> None:
    """Say which activations ``method`` cannot reach (they pass the plain gradient)."""
    if survey.ungated():
        warnings.warn(
            f"{method} cannot act on {survey.ungated()}: they pass the plain gradient "
            f"unchanged ({method} handles {HANDLED}, one module per use)",
            stacklevel=3,
        )


def require_sites(model: torch.nn.Module, survey: SiteSurvey, method: str, kinds: str) -> None:
    """Raise a :class:`ModelError` saying why ``method`` has no ``kinds`` to act on."""
    network = getattr(model, "network", model)
    uses = survey.ungated()
    why = (
        f"; it uses {uses}, which no hook can gate (a gate needs an activation module with an "
        "on/off state)"
        if uses
        else ""
    )
    raise ModelError(
        f"{method}: {type(network).__name__} has no {kinds} to act on: {method} handles "
        f"{HANDLED}{why}. Build the network from such modules (one per use), or use "
        "method='gradient' or 'gradcam'"
    )


#: Every method class that set its own ``name``, by name (filled by the classes themselves).
_REGISTRY: dict[str, type[AttributionMethod]] = {}
#: How long a variant's file key may grow before its tail is replaced by a hash.
_KEY_LENGTH = 80


def registered_methods() -> dict[str, type[AttributionMethod]]:
    """Every method registered so far, in their display order (``order``, then ``name``)."""
    ranked = sorted(_REGISTRY.values(), key=lambda cls: (cls.order, cls.name))
    return {cls.name: cls for cls in ranked}


def _register(cls: type[AttributionMethod]) -> None:
    known = _REGISTRY.get(cls.name)
    if known is not None and known.__qualname__ != cls.__qualname__:
        raise TypeError(
            f"attribution method name {cls.name!r} is taken by {known.__module__}."
            f"{known.__qualname__}"
        )
    _REGISTRY[cls.name] = cls


def file_safe(text: str) -> str:
    """``text`` as a lower-case file-name part: runs of other characters become '-'."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


class AttributionMethod(ABC):
    """A saliency method for one classifier; subclasses implement :meth:`_attribute`.

    ``device``: where the work runs (default: where the model is; a model
    elsewhere is moved there for the call and moved back).

    A subclass that sets ``name`` registers itself (:func:`registered_methods`;
    ``thinktwice.attribution.METHODS``): adding a method is one new module in
    ``thinktwice/attribution/`` with such a class. ``name``, ``label`` and
    ``order`` must be literals there: the command line reads them from the source
    without importing torch (:data:`thinktwice.options.METHOD_LABELS`).
    """

    #: The key users pass (``explain(method=...)``, ``--methods``).
    name: ClassVar[str]
    #: The name figures and tables show; options add to it (:meth:`display_name`).
    label: ClassVar[str]
    #: Place in tables and figures: baselines first, feedback last.
    order: ClassVar[int] = 100

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in vars(cls):
            _register(cls)

    @classmethod
    def option_words(cls, resolved: Mapping[str, Any]) -> list[str]:
        """The options of ``resolved`` (see :meth:`resolved_options`) that differ from the
        method's defaults, in words; [] for the defaults."""
        defaults = {
            p.name: p.default
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.default is not inspect.Parameter.empty
        }
        return [
            f"{key} {_in_words(value)}"
            for key, value in resolved.items()
            if key not in defaults or defaults[key] != value
        ]

    @classmethod
    def description(cls, resolved: Mapping[str, Any]) -> list[str]:
        """What the display name adds to the label (by default the changed options)."""
        return cls.option_words(resolved)

    @classmethod
    def display_name(cls, options: Mapping[str, Any] | None = None) -> str:
        """The method with ``options`` as figures and reports name it: the label, and after
        a middle dot what the options make it ("Feedback · FSP, all sites, paper map")."""
        words = cls.description(cls.resolved_options(**dict(options or {})))
        return f"{cls.label} · {', '.join(words)}" if words else cls.label

    @classmethod
    def variant_key(cls, options: Mapping[str, Any] | None = None) -> str:
        """A file-name key for the method with ``options``: its ``name`` with the defaults,
        else the name and its description, so two variants never share a file."""
        resolved = cls.resolved_options(**dict(options or {}))
        if not cls.option_words(resolved):
            return cls.name
        key = f"{cls.name}-{file_safe(', '.join(cls.description(resolved)))}"
        if len(key) <= _KEY_LENGTH:
            return key
        digest = hashlib.sha1(key.encode()).hexdigest()[:8]
        return f"{key[: _KEY_LENGTH - 9]}-{digest}"

    def __init__(self, model: Classifier, *, device: str | torch.device | None = None):
        self.model = as_classifier(model)
        self.device = None if device is None else resolve_device(device)

    @classmethod
    def resolved_options(cls, **options: Any) -> dict[str, Any]:
        """The options a method built with ``options`` really uses, defaults filled in.

        Recorded with an evaluation, so a resume notices a changed default.
        """
        return dict(options)

    @classmethod
    def complete_options(cls, **options: Any) -> dict[str, Any]:
        """Every option a method built with ``options`` runs with, for people to read (the
        resolved options and any default the method's parts fill in themselves)."""
        return cls.resolved_options(**options)

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        """An :class:`OptionError` naming the valid options when ``options`` has others."""
        parameters = inspect.signature(cls.__init__).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return  # the method checks its free-form options itself
        valid = [n for n in parameters if n not in ("self", "model", "device")]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise OptionError(
                f"{cls.name} takes no option {', '.join(unknown)}; "
                f"its options: {', '.join(valid) or 'none'}"
            )

    def attribute(self, inputs: torch.Tensor, target: TargetLike) -> Attribution:
        """Saliency for each row of ``inputs`` ([N, 3, H, W], values in [0, 1]) and its target.

        The result is on the device of ``inputs``.
        """
        images = check_images(inputs)
        classes = self.model.classes
        targets = as_target_tensor(target, len(images), classes)
        if targets.numel() and (targets.min() < 0 or targets.max() >= len(classes)):
            raise TargetError(
                f"target index out of range 0..{len(classes) - 1}: {targets.tolist()}"
            )
        with eval_mode(self.model), on_device(self.model, self.device) as device:
            x = images.detach().to(device=device, dtype=model_dtype(self.model))
            result = self._attribute(x, targets.to(device))
        return result.to(images.device)

    @abstractmethod
    def _attribute(self, inputs: torch.Tensor, targets: torch.Tensor) -> Attribution: ...

    def probe(self) -> torch.Tensor:
        """A grey [1, 3, H, W] input of the model's size, to find its sites before any image."""
        height, width = self.model.input_size
        return torch.full(
            (1, 3, height, width),
            0.5,
            device=model_device(self.model),
            dtype=model_dtype(self.model),
        )


def _in_words(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "+".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def target_scores(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """[N]: each row's score for its own target class."""
    return logits.gather(1, targets.view(-1, 1)).squeeze(1)


def input_gradient(
    model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores [N], dS/dI [N, 3, H, W]) through whatever rules are installed on ``model``.

    An image that appears in several rows (one per class) goes forward once; one
    backward per use then gives each of its classes its own gradient (a batch of
    distinct images takes one backward).
    """
    firsts, inverse = distinct_rows(inputs)
    rounds = occurrence_rounds(inverse)
    template = inputs.new_empty(inputs.shape)
    with frozen_parameters(model), torch.enable_grad():
        x = inputs[firsts].detach().requires_grad_(True)
        logits = model(x)
        for k, rows in enumerate(rounds):
            seed = one_hot_seed(logits, inverse[rows], targets[rows])
            (grad,) = torch.autograd.grad(logits, x, seed, retain_graph=k + 1 < len(rounds))
            template[rows] = grad[inverse[rows]]
    return target_scores(logits.detach()[inverse], targets), template
