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
from thinktwice.models.classifier import Classifier
from thinktwice.pairs import distinct_rows, occurrence_rounds, one_hot_seed


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

    @classmethod
    def resolved_options(cls, **options: Any) -> dict[str, Any]:
        """The options a method built with ``options`` really uses, defaults filled in.

        Recorded with an evaluation, so a resume notices a changed default.
        """
        return dict(options)

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
