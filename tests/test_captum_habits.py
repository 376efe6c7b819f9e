"""What a Captum user types works, or fails with a message that says what to do instead."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import thinktwice
from thinktwice.attribution import METHODS
from thinktwice.errors import InputError, ModelError, TargetError, ThinkTwiceError

TIGER_CAT = 282
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def four_images(cat_dog) -> torch.Tensor:
    image = cat_dog[0]
    torch.manual_seed(0)
    return torch.stack([image, image.flip(-1), torch.rand(3, 224, 224), image * 0.5])


@pytest.mark.parametrize(
    "target",
    ["tiger cat", "Tiger Cat", np.int64(TIGER_CAT), torch.tensor(TIGER_CAT), np.array(TIGER_CAT)],
    ids=["name", "name-case", "numpy-int64", "torch-scalar", "numpy-0d"],
)
def test_one_target_of_any_scalar_kind_applies_to_every_row(lite0, four_images, target):
    ours = METHODS["gradient"](lite0).attribute(four_images, target)
    reference = METHODS["gradient"](lite0).attribute(four_images, TIGER_CAT)
    assert ours.targets.tolist() == [TIGER_CAT] * 4
    torch.testing.assert_close(ours.template, reference.template)


def test_per_row_targets_may_mix_names_and_numpy_integers(lite0, four_images):
    targets = ["tiger cat", np.int64(207), 285, torch.tensor(967)]
    result = METHODS["gradient"](lite0).attribute(four_images, targets)
    assert result.targets.tolist() == [TIGER_CAT, 207, 285, 967]
    array = METHODS["gradient"](lite0).attribute(four_images, np.array([282, 207, 285, 967]))
    torch.testing.assert_close(array.template, result.template)


def test_bad_targets_say_what_a_target_is(lite0, four_images):
    gradient = METHODS["gradient"](lite0)
    with pytest.raises(TargetError, match="class index or name"):
        gradient.attribute(four_images, 282.0)
    with pytest.raises(TargetError, match="integer class indices"):
        gradient.attribute(four_images, torch.tensor([1.0, 2.0, 3.0, 4.0]))
    with pytest.raises(ThinkTwiceError, match="close names"):
        gradient.attribute(four_images, "tiger catt")


def test_float64_input_is_converted_to_the_models_dtype(lite0, four_images):
    as_double = METHODS["guided_backprop"](lite0).attribute(four_images.double(), TIGER_CAT)
    as_float = METHODS["guided_backprop"](lite0).attribute(four_images, TIGER_CAT)
    assert as_double.template.dtype == torch.float32
    torch.testing.assert_close(as_double.template, as_float.template)


def test_an_unwrapped_module_is_refused_with_the_way_to_wrap_it(lite0):
    bare = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten())
    for method in METHODS.values():
        with pytest.raises(ModelError, match=r"thinktwice\.wrap\("):
            method(bare)
    with pytest.raises(ModelError, match=r"thinktwice\.wrap\("):
        thinktwice.explain(bare, torch.rand(3, 32, 32), 0, method="gradient")
    with pytest.raises(ModelError, match="Classifier"):
        METHODS["gradient"]("efficientnet_lite0")


def test_imagenet_normalised_tensors_are_refused(lite0, four_images):
    normalised = (four_images - IMAGENET_MEAN) / IMAGENET_STD
    with pytest.raises(InputError, match=r"\[0, 1\].*normalis"):
        METHODS["gradient"](lite0).attribute(normalised, TIGER_CAT)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        thinktwice.explain(lite0, normalised[0], TIGER_CAT, method="gradient")
    with pytest.raises(InputError, match="255"):
        METHODS["gradient"](lite0).attribute((four_images * 255).to(torch.uint8), TIGER_CAT)
    with pytest.raises(InputError, match=r"\[N, 3, H, W\]"):
        METHODS["gradient"](lite0).attribute(four_images[0], TIGER_CAT)


class FunctionalReLU(nn.Module):
    """A net that calls torch.relu and F.max_pool2d: hooks cannot see either."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.head(x.mean(dim=(2, 3)))


def _silu_net(extra_relu: bool = False) -> nn.Module:
    layers = [nn.Conv2d(3, 4, 3, padding=1), nn.SiLU(), nn.Conv2d(4, 4, 3, padding=1)]
    layers += [nn.ReLU()] if extra_relu else [nn.SiLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


def _wrapped(network: nn.Module) -> thinktwice.Classifier:
    torch.manual_seed(0)
    return thinktwice.wrap(network, input_size=16, class_names=["a", "b", "c"])


@pytest.mark.parametrize(
    ("network", "named"),
    [(FunctionalReLU, "torch.relu"), (_silu_net, "nn.SiLU")],
    ids=["functional-relu", "silu"],
)
def test_feedback_without_gate_sites_says_so_and_why(network, named):
    model = _wrapped(network())
    with pytest.raises(ModelError, match="no gate sites") as raised:
        METHODS["feedback"](model)
    message = str(raised.value)
    assert named in message and "nn.ReLU" in message and "max-pool" in message
    with pytest.raises(ModelError, match="no gate sites"):
        thinktwice.explain(model, torch.rand(3, 16, 16), "a", method="feedback")


@pytest.mark.parametrize("method", ["guided_backprop", "deconvnet"])
def test_guided_backprop_on_silu_is_refused_not_silently_the_gradient(method):
    model = _wrapped(_silu_net())
    with pytest.raises(ModelError, match="nn.SiLU") as raised:
        METHODS[method](model)
    assert "nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU" in str(raised.value)


def test_guided_backprop_names_the_activations_it_leaves_alone():
    model = _wrapped(_silu_net(extra_relu=True))
    with pytest.warns(UserWarning, match=r"1 nn\.SiLU module.*plain gradient"):
        guided = METHODS["guided_backprop"](model)
    x = torch.rand(2, 3, 16, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, when the method is built
        result = guided.attribute(x, [0, 2])
    plain = METHODS["gradient"](model).attribute(x, [0, 2])
    assert not torch.allclose(result.template, plain.template)  # the ReLU does get the rule
