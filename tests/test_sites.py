"""The site survey runs once per model and input shape, not once per batch."""

from __future__ import annotations

import pytest
import torch

import thinktwice
from thinktwice.attribution import METHODS

from .test_options import ThreeSites


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
