"""Excitation backprop and its contrastive variant: a network worked out by hand, the
probability EBP conserves, BatchNorm folding, batching, and the real networks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import thinktwice
from thinktwice.attribution import METHODS, ContrastiveExcitationBackprop, ExcitationBackprop
from thinktwice.errors import OptionError

from .conftest import SHARED, SHARED_IMAGES, require_shared

SQUEEZENET_WEIGHTS = SHARED / "weights" / "squeezenet1_0-deep-compression"


class HandNet(nn.Module):
    """conv1 (1x1, picks channels 0 and 1) -> ReLU -> conv2 (1x1) -> ReLU -> global average
    -> fc, on a 1 x 2 image; every weight below is used in the hand computation."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 2, 1, bias=False)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(2, 2, 1)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 2)
        with torch.no_grad():
            self.conv1.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1, 0]]).view(2, 3, 1, 1))
            self.conv2.weight.copy_(torch.tensor([[2.0, -1], [1, 1]]).view(2, 2, 1, 1))
            self.conv2.bias.zero_()
            self.fc.weight.copy_(torch.tensor([[1.0, 1], [1, -1]]))
            self.fc.bias.copy_(torch.tensor([5.0, -5.0]))  # EBP ignores biases

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        return self.fc(self.pool(x).flatten(1))


def hand_model() -> thinktwice.Classifier:
    return thinktwice.wrap(
        HandNet(), mean=(0, 0, 0), std=(1, 1, 1), input_size=(1, 2), class_names=["a", "b"]
    )


# pixel 0 = (1, 0.5, 0), pixel 1 = (0.5, 1, 0): h = relu1 output = [[1, 0.5], [0.5, 1]]
# (channel x pixel); conv2 gives z = [[1.5, 0], [1.5, 1.5]]; the average a = (0.75, 1.5).
HAND_IMAGE = torch.tensor([[[[1.0, 0.5]], [[0.5, 1.0]], [[0.0, 0.0]]]])


def excitation_at(method: ExcitationBackprop, target: int) -> torch.Tensor:
    excitation, _ = method._excitation(HAND_IMAGE, torch.tensor([target]))
    return excitation[0, :, 0, :]  # channel x pixel


def test_excitation_backprop_on_a_network_worked_out_by_hand() -> None:
    """Class a: fc shares 1 as (0.75, 1.5) / 2.25 = (1/3, 2/3); the average hands channel 0's
    1/3 to pixel 0 (z = 1.5, 0) and splits channel 1's 2/3 as (1/3, 1/3); conv2 at pixel 0:
    channel 0's 1/3 all to h0 (contributions 2, -0.5: only 2 excites), channel 1's 1/3 as
    (1, 0.5) -> (2/9, 1/9); at pixel 1 channel 1's 1/3 as (0.5, 1) -> (1/9, 2/9).
    Class b: fc row (1, -1) has one excitatory input, channel 0 -> all of it on h0 at pixel 0."""
    ebp = ExcitationBackprop(hand_model(), layer="relu1")
    assert ebp.layer == "network.relu1"
    expected = torch.tensor([[1 / 3 + 2 / 9, 1 / 9], [1 / 9, 2 / 9]])
    torch.testing.assert_close(excitation_at(ebp, 0), expected)
    torch.testing.assert_close(excitation_at(ebp, 1), torch.tensor([[1.0, 0], [0, 0]]))
    result = ebp.attribute(HAND_IMAGE.expand(2, -1, -1, -1), [0, 1])
    torch.testing.assert_close(result.saliency[:, 0], torch.tensor([[2 / 3, 1 / 3], [1.0, 0]]))
    torch.testing.assert_close(result.details["mass"], torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(result.scores[0], torch.tensor([2.25 + 5, -0.75 - 5]))


def test_contrastive_excitation_backprop_on_the_same_network() -> None:
    """Class b: the class's share at a, (1, 0), minus its dual's, (0, 1) (the only negative
    contribution is channel 1's -1.5): +1 on h0 at pixel 0; -1 split by the average as
    (-1/2, -1/2) and by conv2's channel 1 as (1, 0.5) -> (-1/3, -1/6) at pixel 0 and (0.5, 1)
    -> (-1/6, -1/3) at pixel 1. The map is the positive part of the channel sum: (1/2, 0).
    Class a has no negative contribution: its dual has nothing, the map is EBP's."""
    cebp = ContrastiveExcitationBackprop(hand_model(), layer="relu1")
    expected = torch.tensor([[1 - 1 / 3, -1 / 6], [-1 / 6, -1 / 3]])
    torch.testing.assert_close(excitation_at(cebp, 1), expected)
    result = cebp.attribute(HAND_IMAGE.expand(2, -1, -1, -1), [0, 1])
    torch.testing.assert_close(result.saliency[:, 0], torch.tensor([[2 / 3, 1 / 3], [0.5, 0]]))
    torch.testing.assert_close(result.details["mass"], torch.tensor([1.0, 0.0]))


# --- properties on random networks without biases: probability is conserved --------------------


class BiasFreeNet(nn.Module):
    """Everything EBP meets in the shipped nets, without biases (so every active neuron has an
    excitatory input and EBP conserves probability exactly): conv + BatchNorm without shift,
    ReLU6, max-pool, a linear bottleneck with a residual sum, average pools, a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8, affine=True)
        self.act1 = nn.ReLU6()
        self.pool = nn.MaxPool2d(2)
        self.expand = nn.Conv2d(8, 16, 1, bias=False)
        self.act2 = nn.ReLU()
        self.project = nn.Conv2d(16, 8, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.conv3 = nn.Conv2d(8, 12, 3, padding=1, bias=False)
        self.act3 = nn.ReLU(inplace=True)
        self.average = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(12, 5, bias=False)
        with torch.no_grad():
            for norm in (self.bn1, self.bn2):
                norm.weight.uniform_(-1.0, 2.0)  # some negative scales
                norm.bias.zero_()
                norm.running_var.uniform_(0.5, 2.0)  # running_mean stays 0: no shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.act1(self.bn1(self.conv1(x))))
        x = x + self.bn2(self.project(self.act2(self.expand(x))))  # signed: no activation
        x = self.act3(self.conv3(x))
        return self.fc(self.average(x).flatten(1))


@pytest.fixture(scope="module")
def bias_free() -> thinktwice.Classifier:
    torch.manual_seed(0)
    return thinktwice.wrap(BiasFreeNet().eval(), input_size=16, class_names=list("abcde"))


@pytest.mark.parametrize("layer", ["act1", "pool", "conv3", "act3"])
def test_ebp_conserves_probability_without_biases(bias_free, layer) -> None:
    """Seed 1 at the class; at every layer the excitation sums to 1, none negative, through
    the folded BatchNorms (negative scales included), ReLU6, max-pool, the residual sum of a
    signed bottleneck and the average pool."""
    images = torch.rand(4, 3, 16, 16)
    ebp = ExcitationBackprop(bias_free, layer=layer)
    excitation, _ = ebp._excitation(images, torch.tensor([0, 1, 2, 4]))
    assert excitation.min() >= 0
    torch.testing.assert_close(excitation.flatten(1).sum(1), torch.ones(4))
    cebp = ContrastiveExcitationBackprop(bias_free, layer=layer)
    contrast, _ = cebp._excitation(images, torch.tensor([0, 1, 2, 4]))
    # both the class's share and its dual's carry all of the probability: they cancel
    torch.testing.assert_close(contrast.flatten(1).sum(1), torch.zeros(4), atol=1e-5, rtol=0)


def test_batchnorm_is_folded_into_the_layer_that_feeds_it(bias_free) -> None:
    """The same network with each BatchNorm folded by hand into its convolution (weights
    s * W, the shift as a bias) has the same forward and the same excitation."""
    folded = BiasFreeNet()
    folded.load_state_dict(bias_free.network.state_dict())
    with torch.no_grad():
        for conv_name, norm_name in (("conv1", "bn1"), ("project", "bn2")):
            conv, norm = getattr(folded, conv_name), getattr(folded, norm_name)
            scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
            conv.weight.mul_(scale.view(-1, 1, 1, 1))
            setattr(folded, norm_name, nn.Identity())
    hand = thinktwice.wrap(folded.eval(), input_size=16, class_names=list("abcde"))
    images, targets = torch.rand(3, 3, 16, 16), torch.tensor([0, 3, 4])
    torch.testing.assert_close(hand(images), bias_free(images), atol=1e-5, rtol=1e-5)
    for method in (ExcitationBackprop, ContrastiveExcitationBackprop):
        ours = method(bias_free, layer="act1").attribute(images, targets)
        by_hand = method(hand, layer="act1").attribute(images, targets)
        torch.testing.assert_close(ours.saliency, by_hand.saliency, atol=1e-6, rtol=1e-4)


def test_batched_pairs_equal_one_at_a_time_and_the_model_is_left_as_it_was(bias_free) -> None:
    images = torch.rand(3, 3, 16, 16)
    pairs = images[[0, 0, 1, 2]], torch.tensor([1, 3, 1, 0])  # one image, two classes
    state = {k: v.clone() for k, v in bias_free.state_dict().items()}
    for method in (ExcitationBackprop(bias_free), ContrastiveExcitationBackprop(bias_free)):
        batch = method.attribute(*pairs)
        alone = [method.attribute(pairs[0][i : i + 1], int(pairs[1][i])) for i in range(4)]
        torch.testing.assert_close(batch.saliency, torch.cat([a.saliency for a in alone]))
        assert batch.template is None and batch.saliency.min() >= 0
    assert bias_free.network.act3.inplace  # switched off during the call only
    assert all(torch.equal(v, bias_free.state_dict()[k]) for k, v in state.items())
    assert not any(m._forward_hooks for m in bias_free.modules())


def test_layer_option_is_checked() -> None:
    with pytest.raises(OptionError, match="not a module"):
        ExcitationBackprop(hand_model(), layer="nowhere")
    assert set(METHODS) >= {"excitation_backprop", "contrastive_excitation_backprop"}


# --- the real networks ---------------------------------------------------------------------------


def test_lite0_layer_and_maps(lite0, cat_dog) -> None:
    """The map's layer on each network (the input of its last downsampling layer) and, on the
    paper's cat-and-dog photo, maps that are non-negative and differ between the classes; EBP
    never creates probability (part of it enters through biases, which EBP ignores)."""
    image, _ = cat_dog
    images, targets = image[None].expand(2, -1, -1, -1), torch.tensor([281, 207])
    ebp = ExcitationBackprop(lite0)
    assert ebp.layer == "network._blocks.11._act0" and ebp.layout.classifier == "network._fc"
    assert len(ebp.layout.folded) == 49  # every convolution of Lite0 feeds a BatchNorm
    result = ebp.attribute(images, targets)
    assert result.saliency.shape == (2, 224, 224) and result.saliency.min() >= 0
    assert (result.details["mass"] <= 1 + 1e-4).all() and (result.details["mass"] > 0).all()
    assert not torch.allclose(result.saliency[0], result.saliency[1])
    contrastive = ContrastiveExcitationBackprop(lite0).attribute(images, targets)
    assert contrastive.saliency.min() >= 0
    assert not torch.allclose(contrastive.saliency, result.saliency)


def test_squeezenet_layer_and_maps(cat_dog) -> None:
    require_shared(SQUEEZENET_WEIGHTS)
    weights = next(SQUEEZENET_WEIGHTS.glob("*.net"))
    model = thinktwice.load_model("squeezenet1_0", weights=str(weights))
    image = model.preprocess(thinktwice.io.load_image(SHARED_IMAGES / cat_dog[1]["file"]))
    ebp = ExcitationBackprop(model)
    assert ebp.layer == "network.features.10" and ebp.layout.classifier == "network.classifier.1"
    result = ebp.attribute(image[None].expand(2, -1, -1, -1), [281, 207])
    assert result.saliency.shape == (2, 227, 227) and result.saliency.min() >= 0
    assert (result.details["mass"] <= 1 + 1e-4).all() and (result.details["mass"] > 0).all()
    cebp = ContrastiveExcitationBackprop(model).attribute(image[None], [281])
    assert cebp.saliency.min() >= 0 and cebp.saliency.max() > 0
