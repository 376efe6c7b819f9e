"""``explain``: saliency for (image, class) pairs, from photos, in one call.

It turns what a user has (paths, PIL images or tensors; class indices, names,
``"top1"``/``"top5"``) into a batch of (image, class) pairs, runs one method
over them in batches, and returns every map with its provenance.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from thinktwice.attribution import METHODS, Attribution, AttributionMethod
from thinktwice.attribution.base import check_images
from thinktwice.checks import check_choice, check_count
from thinktwice.errors import InputError, TargetError
from thinktwice.io.images import load_image
from thinktwice.models.classifier import Classifier, as_classifier
from thinktwice.models.state import eval_mode, on_device
from thinktwice.options import METHOD_NAMES, TOP_SPECS
from thinktwice.pairs import Pair, PairBatch, ranked_classes

ImageLike = str | Path | Image.Image | np.ndarray | torch.Tensor
TargetSpec = int | str


@dataclass
class Explanation(Attribution):
    """An :class:`Attribution` for pairs built from several images.

    ``image_index[n]`` says which input image pair n explains, ``sources`` names
    the images, ``inputs`` holds them as the model saw them ([images, 3, H, W]).
    """

    image_index: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    sources: list[str] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    inputs: torch.Tensor | None = field(default=None, repr=False)


def explain(
    model: Classifier,
    images: ImageLike | Sequence[ImageLike],
    targets: TargetSpec | Sequence[TargetSpec | Sequence[TargetSpec]] = "top1",
    method: str = "feedback",
    *,
    batch_size: int = 16,
    progress: bool | None = None,
    device: str | torch.device | None = None,
    **options: Any,
) -> Explanation:
    """Saliency of ``model`` for each (image, class) pair.

    ``images``: one image or a list (paths, PIL images, HxWx3 uint8 arrays, or
    [3, H, W] / [N, 3, H, W] tensors in [0, 1]). ``targets``: for one image, a
    class or a list of classes; for a list of images, one entry per image (each
    a class or a list of classes), or a single class for all. A class is an
    index, a name (``"tabby"``), ``"top1"`` or ``"top5"``. ``options`` go to the
    method (for ``feedback``: ``solver``, ``layers``, ``max_iter``, ...); every
    option is checked before any image is read (:class:`OptionError`).
    ``device``: where to compute (default: where the model is; a model elsewhere
    is moved there for the call and moved back). The result is on the CPU.
    The model is left as it was (mode, parameters, buffers, hooks).
    """
    model = as_classifier(model)
    if "target" in options:
        raise TargetError(
            "explain() takes targets=..., not target= (Captum's spelling, which "
            "Method(model).attribute(inputs, target=...) takes): write "
            f"explain(model, images, targets={options['target']!r})"
        )
    check_choice("method", method, METHOD_NAMES)
    check_count("batch_size", batch_size)
    METHODS[method].check_options(options)
    with eval_mode(model), on_device(model, device):
        attributor: AttributionMethod = METHODS[method](model, **options)
        inputs, sources, single = _prepare_images(model, images)
        per_image = _targets_per_image(targets, len(inputs), single)
        pairs = _resolve_pairs(model, inputs, per_image)
        parts = [
            attributor.attribute(inputs[batch.rows()], batch.targets()).to("cpu")
            for batch in _batches(pairs, batch_size, progress, method)
        ]
    return _concatenate(parts, pairs, inputs, sources, model, method)


def _prepare_images(
    model: Classifier, images: ImageLike | Sequence[ImageLike]
) -> tuple[torch.Tensor, list[str], bool]:
    """Every image as the model's input ([N, 3, H, W] in [0, 1]) with a name for each."""
    single = not isinstance(images, (list, tuple)) and not (
        isinstance(images, torch.Tensor) and images.dim() == 4
    )
    items = [images] if single else list(images)
    if not items:
        raise InputError("no images given")
    tensors, sources = [], []
    for position, item in enumerate(items):
        tensors.append(_as_input(model, item))
        sources.append(str(item) if isinstance(item, (str, Path)) else f"image {position}")
    return torch.stack(tensors), sources, single


def _as_input(model: Classifier, item: ImageLike) -> torch.Tensor:
    if isinstance(item, (str, Path)):
        return model.preprocess(load_image(item))
    if isinstance(item, Image.Image):
        if 0 in item.size:
            raise InputError(f"a PIL image of {item.width}x{item.height} pixels has no pixels")
        return model.preprocess(item)
    if isinstance(item, np.ndarray):
        return model.preprocess(Image.fromarray(_checked_array(item)))
    if isinstance(item, torch.Tensor):
        if item.dim() != 3 or item.shape[0] != 3:
            raise InputError(f"an image tensor must be [3, H, W], got {tuple(item.shape)}")
        tensor = check_images(item.detach()[None])[0].float().cpu()
        if tuple(tensor.shape[-2:]) != model.input_size:
            tensor = F.interpolate(
                tensor[None], size=model.input_size, mode="bilinear", antialias=True
            )[0]
        return tensor
    raise InputError(
        f"cannot read an image from {type(item).__name__}; give a path, a PIL image, "
        "an HxWx3 uint8 array or a [3, H, W] tensor in [0, 1]"
    )


def _checked_array(array: np.ndarray) -> np.ndarray:
    """A photo array as Pillow takes it: uint8 (H, W), (H, W, 3) or (H, W, 4), not empty."""
    shape_ok = array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))
    if array.dtype != np.uint8 or not shape_ok or 0 in array.shape:
        raise InputError(
            f"an image array must be HxWx3 uint8 (values 0..255) with pixels, got shape "
            f"{array.shape} of {array.dtype}; for floats in [0, 1] pass a [3, H, W] tensor"
        )
    return np.ascontiguousarray(array)


def _targets_per_image(
    targets: TargetSpec | Sequence[TargetSpec | Sequence[TargetSpec]], count: int, single: bool
) -> list[list[TargetSpec]]:
    """One list of class specs per image (a tensor or an array of indices is read as the
    list of its values, as Captum's ``target`` is)."""
    targets = _as_python(targets)
    if isinstance(targets, (int, str, np.integer)):
        return [[_as_spec(targets)] for _ in range(count)]
    if not isinstance(targets, Sequence):
        raise TargetError(
            f"targets are class indices, names, 'top1' or 'top5' (one, or one entry per "
            f"image); got {targets!r}"
        )
    entries = list(targets)
    if single:
        return [_as_spec_list(entries)]
    if len(entries) != count:
        raise TargetError(
            f"got {len(entries)} target entries for {count} images; give one entry per image "
            "(a class or a list of classes), or one class for all"
        )
    return [_as_spec_list(entry) for entry in entries]


def _as_python(value: object) -> object:
    """A torch tensor or a numpy array of class indices as a Python int (0-d) or list."""
    if isinstance(value, torch.Tensor):
        wrong = value.is_floating_point() or value.is_complex() or value.dtype == torch.bool
    elif isinstance(value, np.ndarray):
        wrong = not np.issubdtype(value.dtype, np.integer)
    else:
        return value
    if wrong:
        raise TargetError(f"targets must be integer class indices, got {value.dtype}")
    return value.tolist()


def _as_spec_list(entry: TargetSpec | Sequence[TargetSpec]) -> list[TargetSpec]:
    entry = _as_python(entry)
    if isinstance(entry, (int, str, np.integer)):
        return [_as_spec(entry)]
    if not isinstance(entry, Sequence):
        return [_as_spec(entry)]  # an error naming what a target is
    specs = [_as_spec(spec) for spec in entry]
    if not specs:
        raise TargetError("an image was given an empty list of targets")
    return specs


def _as_spec(spec: object) -> TargetSpec:
    """A class spec: a name or top-k spec (str), or an index (numpy integers and 0-d tensors
    become ints)."""
    spec = _as_python(spec)
    if isinstance(spec, str) or (isinstance(spec, int) and not isinstance(spec, bool)):
        return spec
    if isinstance(spec, np.integer):
        return int(spec)
    raise TargetError(f"a target is a class index, a name, 'top1' or 'top5'; got {spec!r}")


def _resolve_pairs(
    model: Classifier, inputs: torch.Tensor, per_image: list[list[TargetSpec]]
) -> PairBatch:
    """The (image, class) pairs, each once; ``top1``/``top5`` read one batched ranking."""
    wants_ranking = any(
        isinstance(s, str) and s.lower() in TOP_SPECS for specs in per_image for s in specs
    )
    ranked = ranked_classes(model, inputs) if wants_ranking else None
    pairs: list[Pair] = []
    for image, specs in enumerate(per_image):
        for spec in specs:
            if isinstance(spec, str) and spec.lower() in TOP_SPECS:
                assert ranked is not None
                classes = ranked[image][: TOP_SPECS[spec.lower()]]
            else:
                classes = [model.classes.lookup(spec)]
            pairs.extend(Pair(image, c) for c in classes)
    return PairBatch.of(pairs)


def _batches(
    pairs: PairBatch, batch_size: int, progress: bool | None, method: str
) -> Iterator[PairBatch]:
    """The pairs in batches, with a progress bar in pairs: by default on a terminal whenever
    there is more than one pair (a single batch of a dozen feedback pairs takes seconds, and
    silence reads as a hang)."""
    show = progress if progress is not None else (len(pairs) > 1 and sys.stderr.isatty())
    with tqdm(total=len(pairs), desc=method, unit="pair", disable=not show) as bar:
        for batch in pairs.chunks(batch_size):
            yield batch
            bar.update(len(batch))


def _pad_passes(values: torch.Tensor, passes: int) -> torch.Tensor:
    """Repeat the last pass so batches that stopped earlier line up (their values stay)."""
    if values.shape[0] == passes:
        return values
    tail = values[-1:].expand(passes - values.shape[0], *values.shape[1:])
    return torch.cat([values, tail])


def _merge_details(parts: list[Attribution], passes: int) -> dict[str, Any]:
    """Per-batch details joined: tensors have the pair axis last (and passes first if 2-D+)."""
    merged: dict[str, Any] = {}
    for key, first in parts[0].details.items():
        values = [part.details[key] for part in parts]
        if isinstance(first, torch.Tensor):
            if first.dim() >= 2:
                values = [_pad_passes(v, passes) for v in values]
            merged[key] = torch.cat(values, dim=-1)
        else:
            merged[key] = first
    return merged


def _concatenate(
    parts: list[Attribution],
    pairs: PairBatch,
    inputs: torch.Tensor,
    sources: list[str],
    model: Classifier,
    method: str,
) -> Explanation:
    passes = max(part.scores.shape[0] for part in parts)
    templates = [part.template for part in parts]
    return Explanation(
        saliency=torch.cat([part.saliency for part in parts]),
        template=None if templates[0] is None else torch.cat(templates),  # type: ignore[arg-type]
        scores=torch.cat([_pad_passes(part.scores, passes) for part in parts], dim=1),
        targets=pairs.targets(),
        method=method,
        details=_merge_details(parts, passes),
        image_index=pairs.rows(),
        sources=sources,
        class_names=[model.classes.name(p.target) for p in pairs.pairs],
        inputs=inputs,
    )
