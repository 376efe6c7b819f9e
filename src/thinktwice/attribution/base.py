"""The one interface every saliency method implements.

As in Captum, a method is a class built around a model whose ``attribute``
takes a batch of images and one target class per image; a batch row is an
(image, class) pair, so one image with several classes is several rows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from thinktwice.errors import TargetError
from thinktwice.gating.hooks import frozen_parameters
from thinktwice.gating.solvers.base import gated_pass
from thinktwice.models.classifier import Classifier


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


def saliency_from_template(template: torch.Tensor) -> torch.Tensor:
    """The paper's class saliency: the largest magnitude over colour channels."""
    return template.abs().amax(dim=1)


def as_target_tensor(target: int | Sequence[int] | torch.Tensor, batch: int) -> torch.Tensor:
    """One class index per batch row; a single int applies to every row."""
    if isinstance(target, int):
        return torch.full((batch,), target, dtype=torch.long)
    tensor = torch.as_tensor(target, dtype=torch.long).flatten()
    if tensor.numel() != batch:
        raise TargetError(f"got {tensor.numel()} targets for {batch} images; give one per image")
    return tensor


class AttributionMethod(ABC):
    """A saliency method for one classifier; subclasses implement :meth:`_attribute`."""

    name: ClassVar[str]

    def __init__(self, model: Classifier):
        self.model = model

    def attribute(
        self, inputs: torch.Tensor, target: int | Sequence[int] | torch.Tensor
    ) -> Attribution:
        """Saliency for each row of ``inputs`` ([N, 3, H, W], values in [0, 1]) and its target."""
        if inputs.dim() != 4 or inputs.shape[1] != 3:
            raise ValueError(f"inputs must be [N, 3, H, W], got {tuple(inputs.shape)}")
        targets = as_target_tensor(target, len(inputs))
        classes = len(self.model.classes)
        if targets.numel() and (targets.min() < 0 or targets.max() >= classes):
            raise TargetError(f"target index out of range 0..{classes - 1}: {targets.tolist()}")
        return self._attribute(inputs.detach(), targets)

    @abstractmethod
    def _attribute(self, inputs: torch.Tensor, targets: torch.Tensor) -> Attribution: ...


def target_scores(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """[N]: each row's score for its own target class."""
    return logits.gather(1, targets.view(-1, 1)).squeeze(1)


def input_gradient(
    model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores [N], dS/dI [N, 3, H, W]) through whatever rules are installed on ``model``."""
    with frozen_parameters(model):
        out = gated_pass(model, inputs, targets)
    assert out.template is not None
    return out.scores, out.template
