"""``device=`` end to end: CUDA by default when present, the CPU otherwise.

The CUDA cases run where a CUDA device exists and are skipped, saying so, where
none does (as on the CPU-only development machine).
"""

from __future__ import annotations

import pytest
import torch

import thinktwice
from thinktwice.attribution import METHODS
from thinktwice.models.state import default_device, model_device, on_device

CUDA = pytest.param(
    "cuda",
    marks=pytest.mark.skipif(
        not torch.cuda.is_available(), reason="no CUDA device on this machine: CPU only"
    ),
)


def test_the_default_device_is_cuda_when_present_else_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert default_device().type == expected
    assert model_device(thinktwice.load_model()).type == expected


@pytest.mark.parametrize("device", ["cpu", CUDA])
def test_load_model_puts_the_model_on_the_device(device):
    model = thinktwice.load_model(device=device)
    assert model_device(model).type == device
    with torch.no_grad():
        logits = model(torch.rand(1, 3, 224, 224))  # a CPU batch is moved to the model
    assert logits.device.type == device


@pytest.mark.parametrize("device", ["cpu", CUDA])
@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_computes_on_the_device_and_matches_the_cpu(lite0, cat_dog, device, method):
    image = cat_dog[0]
    options = {"max_iter": 1} if method == "feedback" else {}
    on_cpu = thinktwice.explain(lite0, image, 282, method=method, **options)
    result = thinktwice.explain(lite0, image, 282, method=method, device=device, **options)
    assert result.saliency.device.type == "cpu"  # explain() returns CPU tensors
    assert model_device(lite0).type == "cpu"  # moved there for the call, then back
    torch.testing.assert_close(result.saliency, on_cpu.saliency, rtol=1e-3, atol=1e-4)
    direct = METHODS[method](lite0, device=device, **options).attribute(image[None], 282)
    assert direct.saliency.device == image.device  # attribute(): on the inputs' device


@pytest.mark.parametrize("device", ["cpu", CUDA])
def test_on_device_moves_the_model_back_with_the_same_parameters(device):
    model = thinktwice.wrap(torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1), torch.nn.ReLU()),
                            input_size=4, class_names=["a", "b"])  # fmt: skip
    parameters = list(model.parameters())
    values = [p.detach().clone() for p in parameters]
    with on_device(model, device) as where:
        assert where.type == device and model_device(model).type == device
    assert model_device(model).type == "cpu"
    assert list(model.parameters()) == parameters
    for parameter, value in zip(parameters, values, strict=True):
        assert torch.equal(parameter, value)
