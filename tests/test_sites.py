"""The site survey runs once per model and input shape, not once per batch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import thinktwice
from thinktwice.attribution import METHODS


class ThreeSites(nn.Module):
    """conv -> ReLU -> max-pool -> conv -> ReLU, global mean, linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.act1 = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv2, self.act2 = nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act2(self.conv2(self.pool(self.act1(self.conv1(x)))))
        return self.head(x.mean(dim=(2, 3)))


def _single_image_forwards(model: thinktwice.Classifier) -> list[int]:
    """A list that grows by one at every forward of one image (the survey's kind: the
    batches below hold two distinct images)."""
    calls: list[int] = []
    model.network.register_forward_pre_hook(
        lambda _module, inputs: calls.append(1) if len(inputs[0]) == 1 else None
    )
    return calls


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("guided_backprop", {}),
        ("deconvnet", {}),
        ("feedback", {"solver": "fsp", "layers": "all", "max_iter": 1, "saliency": "abs"}),
    ],
)
def test_a_batch_of_a_known_shape_runs_no_survey_forward(method, options):
    torch.manual_seed(0)
    model = thinktwice.wrap(ThreeSites(), input_size=16, class_names=["a", "b", "c"])
    attributor = METHODS[method](model, **options)
    surveys = _single_image_forwards(model)

    def batch(side: int) -> torch.Tensor:
        return torch.rand(2, 3, side, side)

    attributor.attribute(batch(16), [0, 1])  # the model's size: surveyed when it was built
    assert len(surveys) == 0
    attributor.attribute(batch(24), [0, 1])  # a new shape: one survey
    assert len(surveys) == 1
    first = attributor.attribute(batch(24), [2, 1])  # the same shape again: none
    assert len(surveys) == 1
    attributor.attribute(batch(32), [0, 1])  # another shape surveys again
    assert len(surveys) == 2
    assert first.saliency.shape == (2, 24, 24)
