"""VGG16, AlexNet and GoogLeNet in the zoo: torchvision-compatible keys, gateable modules.

No real checkpoints exist here, so the networks get random weights; the key names,
shapes and counts below were read off torchvision's model sources
(torchvision/models/{vgg,alexnet,googlenet}.py) and its published ``num_params``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

import thinktwice
from thinktwice.errors import WeightsError
from thinktwice.models.classifier import IMAGENET_MEAN, IMAGENET_STD, wrap
from thinktwice.models.zoo import MODELS, list_models

NAMES = ("vgg16", "alexnet", "googlenet")

CHECKPOINT_FILES = {
    "vgg16": "vgg16-397923af.pth",
    "alexnet": "alexnet-owt-7be5be79.pth",
    "googlenet": "googlenet-1378be20.pth",
}

# Number of entries in each published state dict (parameters and buffers).
# vgg16: 13 convs + 3 linears, weight + bias each. alexnet: 5 convs + 3 linears.
# googlenet: 59 BasicConv2d (3 stem + 9 inceptions x 6 + 2 aux) x 6 entries
# (conv.weight, bn.weight/bias/running_mean/running_var/num_batches_tracked),
# + aux1/aux2 fc1/fc2 weight+bias (8) + fc weight+bias (2).
KEY_COUNTS = {"vgg16": 32, "alexnet": 16, "googlenet": 364}

# torchvision's Weights meta "num_params" (for googlenet: without the aux heads,
# which torchvision drops after loading).
NUM_PARAMS = {"vgg16": 138_357_544, "alexnet": 61_100_840, "googlenet": 6_624_904}

REPRESENTATIVE_KEYS: dict[str, dict[str, tuple[int, ...]]] = {
    "vgg16": {
        "features.0.weight": (64, 3, 3, 3),
        "features.2.weight": (64, 64, 3, 3),
        "features.5.weight": (128, 64, 3, 3),
        "features.28.weight": (512, 512, 3, 3),
        "features.28.bias": (512,),
        "classifier.0.weight": (4096, 512 * 7 * 7),
        "classifier.3.weight": (4096, 4096),
        "classifier.6.weight": (1000, 4096),
        "classifier.6.bias": (1000,),
    },
    "alexnet": {
        "features.0.weight": (64, 3, 11, 11),
        "features.3.weight": (192, 64, 5, 5),
        "features.6.weight": (384, 192, 3, 3),
        "features.8.weight": (256, 384, 3, 3),
        "features.10.weight": (256, 256, 3, 3),
        "classifier.1.weight": (4096, 256 * 6 * 6),
        "classifier.4.weight": (4096, 4096),
        "classifier.6.weight": (1000, 4096),
    },
    "googlenet": {
        "conv1.conv.weight": (64, 3, 7, 7),
        "conv1.bn.running_var": (64,),
        "conv1.bn.num_batches_tracked": (),
        "conv3.conv.weight": (192, 64, 3, 3),
        "inception3a.branch1.conv.weight": (64, 192, 1, 1),
        "inception3a.branch3.1.conv.weight": (32, 16, 3, 3),  # torchvision's 3x3 "5x5"
        "inception3a.branch4.1.conv.weight": (32, 192, 1, 1),
        "inception5b.branch2.1.conv.weight": (384, 192, 3, 3),
        "inception5b.branch4.1.bn.running_mean": (128,),
        "aux1.conv.conv.weight": (128, 512, 1, 1),
        "aux2.conv.conv.weight": (128, 528, 1, 1),
        "aux1.fc1.weight": (1024, 2048),
        "aux1.fc2.weight": (1000, 1024),
        "aux2.fc2.bias": (1000,),
        "fc.weight": (1000, 1024),
    },
}

# Output shape (one sample, 224 px input) of the module Grad-CAM reads.
GRADCAM_SHAPES = {
    "vgg16": (512, 14, 14),
    "alexnet": (256, 13, 13),
    "googlenet": (1024, 7, 7),
}

GATED = (nn.ReLU, nn.MaxPool2d)
FUNCTIONAL_NAMES = {"relu", "relu_", "max_pool2d", "max_pool2d_with_indices", "_max_pool2d"}


def _randomise(network: nn.Module, seed: int) -> nn.Module:
    """Random weights and batch-norm statistics, so a lost buffer changes the output."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.copy_(1 + 0.1 * torch.randn(module.weight.shape, generator=generator))
                module.bias.normal_(0, 0.1, generator=generator)
                module.running_mean.normal_(0, 0.1, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
                module.num_batches_tracked.fill_(seed)
    return network.eval()


@pytest.fixture(scope="module")
def networks() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {name: _randomise(MODELS[name].build(), seed=i + 1) for i, name in enumerate(NAMES)}


@pytest.fixture(scope="module")
def checkpoints(networks: dict[str, nn.Module], tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("checkpoints")
    paths = {}
    for name, network in networks.items():
        paths[name] = folder / CHECKPOINT_FILES[name]
        torch.save(network.state_dict(), paths[name])
    return paths


class _FunctionalCounter(TorchFunctionMode):
    """Counts relu / max-pool function calls, and those made outside a gated module."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0
        self.outside = 0
        self.depth = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        if getattr(func, "__name__", "") in FUNCTIONAL_NAMES:
            self.total += 1
            self.outside += self.depth == 0
        return func(*args, **(kwargs or {}))


@dataclass
class Trace:
    """What one forward pass of a zoo classifier did, module by module."""

    calls: dict[str, int] = field(default_factory=dict)
    types: dict[str, type[nn.Module]] = field(default_factory=dict)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    functional_total: int = 0
    functional_outside: int = 0


def _trace(name: str, network: nn.Module) -> Trace:
    spec = MODELS[name]
    classifier = wrap(
        network, spec.mean, spec.std, spec.input_size, name=name, gradcam_layer=spec.gradcam_layer
    )
    modules = dict(classifier.named_modules())
    trace = Trace(calls=dict.fromkeys(modules, 0), types={n: type(m) for n, m in modules.items()})
    counter = _FunctionalCounter()
    handles = []
    for module_name, module in classifier.named_modules():
        gated = isinstance(module, GATED)

        def before(_module, _inputs, gated=gated):
            counter.depth += gated

        def after(_module, _inputs, output, module_name=module_name, gated=gated):
            counter.depth -= gated
            trace.calls[module_name] += 1
            trace.shapes[module_name] = tuple(output.shape[1:])

        handles.append(module.register_forward_pre_hook(before))
        handles.append(module.register_forward_hook(after))
    try:
        with torch.no_grad(), counter:
            classifier(torch.rand(1, 3, 224, 224))
    finally:
        for handle in handles:
            handle.remove()
    trace.functional_total = counter.total
    trace.functional_outside = counter.outside
    return trace


@pytest.fixture(scope="module")
def traces(networks: dict[str, nn.Module]) -> dict[str, Trace]:
    return {name: _trace(name, network) for name, network in networks.items()}


def test_models_are_registered():
    assert set(NAMES) <= set(list_models())
    for name in NAMES:
        spec = MODELS[name]
        assert spec.input_size == 224
        assert spec.default_weights is None
        assert CHECKPOINT_FILES[name] in spec.weights_hint


@pytest.mark.parametrize("name", NAMES)
def test_output_shape(name: str, networks: dict[str, nn.Module]):
    with torch.no_grad():
        scores = networks[name](torch.randn(2, 3, 224, 224))
    assert scores.shape == (2, 1000)
    assert torch.isfinite(scores).all()


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_matches_torchvision_layout(name: str, networks: dict[str, nn.Module]):
    state = networks[name].state_dict()
    assert len(state) == KEY_COUNTS[name]
    for key, shape in REPRESENTATIVE_KEYS[name].items():
        assert key in state, key
        assert tuple(state[key].shape) == shape, key
    params = {k: v for k, v in networks[name].named_parameters() if not k.startswith("aux")}
    assert sum(p.numel() for p in params.values()) == NUM_PARAMS[name]


def test_vgg16_conv_indices_match_torchvision(networks: dict[str, nn.Module]):
    conv_indices = sorted(
        int(key.split(".")[1])
        for key in networks["vgg16"].state_dict()
        if key.startswith("features.") and key.endswith(".weight")
    )
    assert conv_indices == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_roundtrip_through_load_model(
    name: str, networks: dict[str, nn.Module], checkpoints: dict[str, Path]
):
    classifier = thinktwice.load_model(name, weights=checkpoints[name])
    assert classifier.name == name
    assert classifier.input_size == (224, 224)
    loaded = classifier.network.state_dict()
    original = networks[name].state_dict()
    assert loaded.keys() == original.keys()
    for key, value in original.items():
        assert torch.equal(loaded[key], value), key

    spec = MODELS[name]
    images = torch.rand(1, 3, 224, 224)
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = networks[name]((images - mean) / std)
        actual = classifier(images)
    scale = expected.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize(("name", "other"), [("vgg16", "alexnet"), ("alexnet", "googlenet")])
def test_wrong_architecture_checkpoint_is_rejected(
    name: str, other: str, checkpoints: dict[str, Path]
):
    with pytest.raises(WeightsError) as info:
        thinktwice.load_model(name, weights=checkpoints[other])
    assert str(checkpoints[other]) in str(info.value)
    assert name in str(info.value)


def test_googlenet_without_aux_keys_is_rejected(networks: dict[str, nn.Module], tmp_path: Path):
    state = {k: v for k, v in networks["googlenet"].state_dict().items() if "aux" not in k}
    path = tmp_path / "googlenet-no-aux.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match="missing keys"):
        thinktwice.load_model("googlenet", weights=path)


@pytest.mark.parametrize("name", NAMES)
def test_missing_weights_names_the_checkpoint(name: str):
    with pytest.raises(WeightsError) as info:
        thinktwice.load_model(name)
    assert CHECKPOINT_FILES[name] in str(info.value)


@pytest.mark.parametrize("name", NAMES)
def test_every_relu_and_pool_is_a_module_called_once(name: str, traces: dict[str, Trace]):
    trace = traces[name]
    gated = [n for n, kind in trace.types.items() if issubclass(kind, GATED)]
    assert gated
    assert all(count <= 1 for count in trace.calls.values())
    for module_name in gated:
        in_aux = module_name.startswith(("network.aux1.", "network.aux2."))
        assert trace.calls[module_name] == (0 if in_aux else 1), module_name
    # Each gated module calls its function once; nothing calls relu/max-pool directly.
    called_gated = sum(trace.calls[n] for n in gated)
    assert trace.functional_total == called_gated
    assert trace.functional_outside == 0


def test_googlenet_aux_heads_are_not_run(traces: dict[str, Trace]):
    calls = traces["googlenet"].calls
    aux = [n for n in calls if n.startswith(("network.aux1", "network.aux2"))]
    assert aux and all(calls[n] == 0 for n in aux)


@pytest.mark.parametrize("name", NAMES)
def test_gradcam_layer_is_the_last_spatial_feature_map(name: str, traces: dict[str, Trace]):
    layer = MODELS[name].gradcam_layer
    trace = traces[name]
    assert layer in trace.calls and trace.calls[layer] == 1
    assert trace.shapes[layer] == GRADCAM_SHAPES[name]


@pytest.mark.parametrize("name", ["vgg16", "alexnet"])
def test_vgg_alexnet_gradcam_layer_is_the_last_conv_relu(name: str, traces: dict[str, Trace]):
    trace = traces[name]
    layer = MODELS[name].gradcam_layer
    assert trace.types[layer] is nn.ReLU
    relus = [n for n, kind in trace.types.items() if kind is nn.ReLU and ".features." in n]
    assert relus[-1] == layer


def test_googlenet_pools_use_ceil_mode(traces: dict[str, Trace]):
    shapes = traces["googlenet"].shapes
    # ceil_mode=True: 112 -> 56 (floor mode would give 55), 56 -> 28, 28 -> 14, 14 -> 7.
    assert shapes["network.maxpool1"] == (64, 56, 56)
    assert shapes["network.maxpool2"] == (192, 28, 28)
    assert shapes["network.maxpool3"] == (480, 14, 14)
    assert shapes["network.maxpool4"] == (832, 7, 7)
    assert shapes["network.inception4d"] == (528, 14, 14)


def test_alexnet_feature_sizes(traces: dict[str, Trace]):
    shapes = traces["alexnet"].shapes
    assert shapes["network.features.2"] == (64, 27, 27)
    assert shapes["network.features.12"] == (256, 6, 6)


def _torchvision_transform_input(x: torch.Tensor) -> torch.Tensor:
    """torchvision GoogLeNet._transform_input, applied to ImageNet-normalised ``x``."""
    channels = [
        x[:, c : c + 1] * (IMAGENET_STD[c] / 0.5) + (IMAGENET_MEAN[c] - 0.5) / 0.5 for c in range(3)
    ]
    return torch.cat(channels, dim=1)


def test_googlenet_scaling_equals_torchvision_transform_input():
    spec = MODELS["googlenet"]
    images = torch.rand(2, 3, 16, 16)
    imagenet_mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    imagenet_std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torchvision_input = _torchvision_transform_input((images - imagenet_mean) / imagenet_std)
    ours = (images - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(
        1, 3, 1, 1
    )
    torch.testing.assert_close(ours, torchvision_input)
    assert MODELS["vgg16"].mean == MODELS["alexnet"].mean == IMAGENET_MEAN
    assert MODELS["vgg16"].std == MODELS["alexnet"].std == IMAGENET_STD
