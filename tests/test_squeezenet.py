"""SqueezeNet v1.0 (Caffe) in the zoo: the Deep Compression reader, the network, its input.

The real file is ``../shared/weights/squeezenet1_0-deep-compression/compressed_SqueezeNet.net``;
its size, sha256, parameter count and the photos' classes come from the README beside it.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import thinktwice
from thinktwice.cli.main import main
from thinktwice.errors import WeightsError
from thinktwice.hooks.sites import find_sites
from thinktwice.models.deep_compression import decode_deep_compression
from thinktwice.models.squeezenet import caffe_convolutions, squeezenet1_0
from thinktwice.models.zoo import MODELS

from .conftest import SHARED, require_shared

skimage_data = pytest.importorskip("skimage.data", reason="the demo extra (scikit-image)")

WEIGHTS_DIR = SHARED / "weights" / "squeezenet1_0-deep-compression"
WEIGHTS_FILE = WEIGHTS_DIR / "compressed_SqueezeNet.net"
README_SHA256 = "e4ab6960ae8cd81505e1c2136921201507e930966c53deaf15862a395b3a3261"
README_SIZE = 675_763
README_PARAMETERS = 1_248_424
LAYERS = 26
CAFFE_MEAN_BGR = (104.0, 117.0, 123.0)


@pytest.fixture(scope="module")
def weights_file() -> Path:
    require_shared(WEIGHTS_DIR)
    return WEIGHTS_FILE


@pytest.fixture(scope="module")
def squeezenet(weights_file: Path) -> thinktwice.Classifier:
    return thinktwice.load_model("squeezenet1_0", weights=weights_file)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    paths = {}
    for name in ("chelsea", "coffee"):
        paths[name] = folder / f"{name}.png"
        Image.fromarray(getattr(skimage_data, name)()).save(paths[name])
    return paths


def _layer_shapes() -> list[tuple[str, tuple[int, ...]]]:
    return [(name, tuple(conv.weight.shape)) for name, conv in caffe_convolutions(squeezenet1_0())]


def _probabilities(model: thinktwice.Classifier, path: Path) -> torch.Tensor:
    with torch.no_grad():
        return model(model.preprocess(Image.open(path))[None]).softmax(1)[0]


# --- the real file --------------------------------------------------------------------------------


def test_file_is_the_one_the_readme_describes(weights_file: Path):
    data = weights_file.read_bytes()
    assert len(data) == README_SIZE
    assert hashlib.sha256(data).hexdigest() == README_SHA256


def test_decoding_consumes_the_file_exactly(weights_file: Path):
    data = weights_file.read_bytes()
    layers = decode_deep_compression(weights_file, _layer_shapes())
    assert len(layers) == LAYERS
    stored = struct.unpack(f"<{LAYERS}I", data[: 4 * LAYERS])
    # Header, then per layer: codebook, biases, one index byte per stored weight, nibble gaps.
    accounted = 4 * LAYERS + sum(
        4 * 256 + 4 * layer.bias.size + count + math.ceil(count / 2)
        for layer, count in zip(layers, stored, strict=True)
    )
    assert accounted == len(data)
    assert sum(layer.weight.size + layer.bias.size for layer in layers) == README_PARAMETERS
    for layer, count in zip(layers, stored, strict=True):
        assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
        assert np.count_nonzero(layer.weight) <= count, layer.name
        assert np.isfinite(layer.weight).all() and np.isfinite(layer.bias).all()


def test_loaded_network_holds_the_decoded_weights(
    weights_file: Path, squeezenet: thinktwice.Classifier
):
    layers = decode_deep_compression(weights_file, _layer_shapes())
    convolutions = caffe_convolutions(squeezenet.network)
    assert sum(p.numel() for p in squeezenet.network.parameters()) == README_PARAMETERS
    for (name, conv), layer in zip(convolutions, layers, strict=True):
        assert name == layer.name
        assert torch.equal(conv.weight, torch.from_numpy(layer.weight)), name
        assert torch.equal(conv.bias, torch.from_numpy(layer.bias)), name


def test_photos_get_the_readme_classes(squeezenet: thinktwice.Classifier, photos):
    chelsea = _probabilities(squeezenet, photos["chelsea"])
    assert torch.topk(chelsea, 3).indices.tolist() == [285, 282, 281]  # Egyptian, tiger, tabby
    assert chelsea[285].item() == pytest.approx(0.78, abs=0.02)
    coffee = _probabilities(squeezenet, photos["coffee"])
    assert coffee.argmax().item() == 967  # espresso
    assert coffee[967].item() > 0.98


def test_network_sees_caffe_input(squeezenet: thinktwice.Classifier):
    """RGB in [0, 1] becomes BGR pixel values 0..255 minus Caffe's mean, with no std."""
    pixels = np.random.default_rng(0).integers(0, 256, size=(2, 227, 227, 3), dtype=np.uint8)
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
    caffe = torch.from_numpy(pixels[..., ::-1].astype(np.float32) - np.float32(CAFFE_MEAN_BGR))
    with torch.no_grad():
        expected = squeezenet.network(caffe.permute(0, 3, 1, 2).contiguous())
        actual = squeezenet(images)
        swapped = squeezenet.network(caffe.flip(3).permute(0, 3, 1, 2).contiguous())
    scale = expected.abs().max().item()
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4 * scale)
    assert not torch.allclose(swapped, expected, rtol=1e-3, atol=1e-3 * scale)
    assert squeezenet.input_size == (227, 227)


def test_state_dict_round_trips(squeezenet: thinktwice.Classifier, photos, tmp_path: Path):
    saved = tmp_path / "squeezenet1_0.pth"
    torch.save(squeezenet.network.state_dict(), saved)
    legacy = tmp_path / "legacy-format.net"  # a torch file despite its name: content decides
    torch.save(squeezenet.network.state_dict(), legacy, _use_new_zipfile_serialization=False)
    for path in (saved, legacy):
        reloaded = thinktwice.load_model("squeezenet1_0", weights=path)
        original = squeezenet.network.state_dict()
        for key, value in reloaded.network.state_dict().items():
            assert torch.equal(value, original[key]), key
        torch.testing.assert_close(
            _probabilities(reloaded, photos["chelsea"]),
            _probabilities(squeezenet, photos["chelsea"]),
        )


def test_deep_compression_file_is_recognised_by_content(weights_file: Path, tmp_path: Path):
    renamed = tmp_path / "squeezenet-weights.bin"
    shutil.copyfile(weights_file, renamed)
    model = thinktwice.load_model("squeezenet1_0", weights=renamed)
    reference = decode_deep_compression(weights_file, _layer_shapes())[0]
    assert torch.equal(model.network.features[0].weight, torch.from_numpy(reference.weight))


def _header_counts(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{LAYERS}I", data[: 4 * LAYERS]))


def _gaps_of_conv1_all_15(data: bytes) -> bytes:
    """conv1's gap bytes set to 0xFF: 16 positions per stored weight, past its 14,112 weights."""
    stored = _header_counts(data)[0]
    start = 4 * LAYERS + 4 * 256 + 4 * 96 + stored
    length = math.ceil(stored / 2)
    return data[:start] + b"\xff" * length + data[start + length :]


def _cut_in_fire2(data: bytes) -> bytes:
    """The file cut 10 bytes into fire2/conv1x1_1, the layer after conv1."""
    stored = _header_counts(data)[0]
    conv1_end = 4 * LAYERS + 4 * 256 + 4 * 96 + stored + math.ceil(stored / 2)
    return data[: conv1_end + 10]


def _conv1_claims_too_many(data: bytes) -> bytes:
    return struct.pack("<I", 96 * 3 * 7 * 7 + 1) + data[4:]


DAMAGES = {
    "one byte short": (lambda d: d[:-1], "truncated in layer conv_final"),
    "cut in fire2": (_cut_in_fire2, "truncated in layer fire2/conv1x1_1"),
    "cut in the header": (lambda d: d[:50], "truncated"),
    "empty": (lambda d: b"", "truncated"),
    "one byte padded": (lambda d: d + b"\x00", "1 trailing bytes"),
    "a block appended": (lambda d: d + bytes(4096), "4096 trailing bytes"),
    "header of 25 counts": (lambda d: d[4:], "wrong layer count"),
    "header of 27 counts": (lambda d: d[:4] + d, "wrong layer count"),
    "gap past the layer": (_gaps_of_conv1_all_15, "run past its 14112 weights"),
    "count above the layer size": (_conv1_claims_too_many, "wrong layer count"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_file_is_one_line_weights_error(weights_file: Path, tmp_path: Path, damage: str):
    change, expected = DAMAGES[damage]
    damaged = tmp_path / "compressed_SqueezeNet.net"
    damaged.write_bytes(change(weights_file.read_bytes()))
    with pytest.raises(WeightsError) as info:
        thinktwice.load_model("squeezenet1_0", weights=damaged)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert str(damaged) in message
    assert expected in message


def test_weights_of_another_network_are_rejected(weights_file: Path):
    lite0 = MODELS["efficientnet_lite0"].default_weights()
    with pytest.raises(WeightsError) as info:
        thinktwice.load_model("squeezenet1_0", weights=lite0)
    message = str(info.value)
    assert str(lite0) in message and "squeezenet1_0" in message and "missing keys" in message


def test_file_of_no_known_kind_is_rejected(photos, tmp_path: Path):
    disguised = tmp_path / "weights.pth"
    shutil.copyfile(photos["chelsea"], disguised)
    with pytest.raises(WeightsError) as info:
        thinktwice.load_model("squeezenet1_0", weights=disguised)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and str(disguised) in message
    assert "neither a PyTorch state dict" in message and "Deep Compression" in message


def test_missing_file_is_named(tmp_path: Path):
    absent = tmp_path / "compressed_SqueezeNet.net"
    with pytest.raises(WeightsError, match="not found"):
        thinktwice.load_model("squeezenet1_0", weights=absent)


def test_no_weights_says_which_file_to_pass():
    with pytest.raises(WeightsError) as info:
        thinktwice.load_model("squeezenet1_0")
    message = str(info.value)
    assert "compressed_SqueezeNet.net" in message
    assert "Deep Compression release of SqueezeNet v1.0" in message
    assert "weights=PATH" in message and "--weights" in message


# --- the command line -----------------------------------------------------------------------------


def test_cli_predict(weights_file: Path, photos, capsys):
    status = main(["predict", str(photos["chelsea"]), str(photos["coffee"]),
                   "--model", "squeezenet1_0", "--weights", str(weights_file)])  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert status == 0 and len(out) == 12
    assert out[1].split()[0] == "285" and "Egyptian cat" in out[1]
    assert out[7].split()[0] == "967" and "espresso" in out[7]


def test_cli_without_weights_names_the_file(photos, capsys):
    status = main(["predict", str(photos["chelsea"]), "--model", "squeezenet1_0"])
    err = capsys.readouterr().err
    assert status == 2 and len(err.splitlines()) == 1
    assert "compressed_SqueezeNet.net" in err


# --- the network, without weights -----------------------------------------------------------------


def _torchvision_keys() -> set[str]:
    """torchvision's squeezenet1_0 state dict keys (read off torchvision/models/squeezenet.py)."""
    keys = {"features.0.weight", "features.0.bias", "classifier.1.weight", "classifier.1.bias"}
    for index in (3, 4, 5, 7, 8, 9, 10, 12):
        for conv in ("squeeze", "expand1x1", "expand3x3"):
            keys |= {f"features.{index}.{conv}.weight", f"features.{index}.{conv}.bias"}
    return keys


def test_state_dict_keys_are_torchvision_s():
    network = squeezenet1_0()
    assert set(network.state_dict()) == _torchvision_keys()
    assert sum(p.numel() for p in network.parameters()) == README_PARAMETERS
    names = [name for name, _ in caffe_convolutions(network)]
    assert len(names) == LAYERS and names[0] == "conv1" and names[-1] == "conv_final"
    assert names[1:4] == ["fire2/conv1x1_1", "fire2/conv1x1_2", "fire2/conv3x3_2"]


def _random_classifier() -> thinktwice.Classifier:
    spec = MODELS["squeezenet1_0"]
    torch.manual_seed(0)
    return thinktwice.wrap(
        spec.build(),
        spec.mean,
        spec.std,
        spec.input_size,
        gradcam_layer=spec.gradcam_layer,
        channel_order=spec.channel_order,
    )


def test_every_relu_and_max_pool_is_a_gate_site():
    model = _random_classifier()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # find_sites warns about functional relu / max-pool
        sites = find_sites(model, torch.rand(1, 3, 227, 227))
    modules = dict(model.named_modules())
    relus = [n for n, m in modules.items() if isinstance(m, nn.ReLU)]
    pools = [n for n, m in modules.items() if isinstance(m, nn.MaxPool2d)]
    assert len(sites) == 29 and len(relus) == 26 and len(pools) == 3
    assert sorted(s.name for s in sites) == sorted(relus + pools)
    assert all(s.call == 0 for s in sites)
    pooled = [s.shape for s in sites if s.kind == "pool"]
    assert pooled == [(96, 55, 55), (256, 27, 27), (512, 13, 13)]
    assert sites[-1].name == "network.classifier.2" and sites[-1].shape == (1000, 15, 15)


def test_pools_round_up_like_caffe():
    """At 227 px rounding never matters (111 -> 55 -> 27 -> 13); at 229 conv1 gives 112."""
    network = squeezenet1_0().eval()
    with torch.no_grad():
        pooled = network.features[:3](torch.rand(1, 3, 229, 229))  # conv1 -> 112, pool -> 56
    assert pooled.shape[-2:] == (56, 56)


def test_gradcam_layer_is_the_last_fire_output():
    model = _random_classifier()
    layer = dict(model.named_modules())[MODELS["squeezenet1_0"].gradcam_layer]
    shapes = []
    handle = layer.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape)))
    try:
        with torch.no_grad():
            model(torch.rand(1, 3, 227, 227))
    finally:
        handle.remove()
    assert shapes == [(1, 512, 13, 13)]


def test_channel_order_is_checked():
    with pytest.raises(ValueError, match="channel_order"):
        thinktwice.wrap(nn.Identity(), channel_order="GBR")


# --- the format, on a hand-made file --------------------------------------------------------------


def _pack_gaps(gaps: list[int]) -> bytes:
    """Two 4-bit gaps per byte, the first in the low nibble; an odd count pads with 0."""
    padded = gaps + [0] * (len(gaps) % 2)
    return bytes(low | (high << 4) for low, high in zip(padded[0::2], padded[1::2], strict=True))


def _hand_made_layer(codebook: list[float], bias: list[float], stored: dict[int, int]) -> bytes:
    """One layer's bytes; ``stored`` maps flat position -> codebook index."""
    positions = sorted(stored)
    gaps = [p - q - 1 for q, p in zip([-1, *positions], positions, strict=False)]
    assert all(0 <= g <= 15 for g in gaps)
    return (
        struct.pack("<256f", *codebook)
        + struct.pack(f"<{len(bias)}f", *bias)
        + bytes(stored[p] for p in positions)
        + _pack_gaps(gaps)
    )


def test_hand_made_file_decodes_to_the_expected_weights(tmp_path: Path):
    codebook_a = [-0.25] + [0.5 * i for i in range(1, 256)]  # codebook[0] fills unstored weights
    codebook_b = [0.0] + [-1.0 - i for i in range(1, 256)]
    # Layer a (2, 3, 3, 3), 54 weights: gaps 3, 1, 15, 0, 14, 15 (index 0 at 21: a filler entry
    # bridging a run longer than 16). Layer b (3, 1, 1, 1): three stored weights, odd count.
    # Layer c (2, 1, 1, 1): nothing stored.
    stored_a = {3: 7, 5: 255, 21: 0, 22: 1, 37: 2, 53: 9}
    stored_b = {0: 3, 1: 1, 2: 200}

    def tiny_file(stored_b: dict[int, int]) -> bytes:
        return (
            struct.pack("<3I", len(stored_a), len(stored_b), 0)
            + _hand_made_layer(codebook_a, [1.0, -2.0], stored_a)
            + _hand_made_layer(codebook_b, [0.1, 0.2, 0.3], stored_b)
            + _hand_made_layer([0.0] * 256, [4.0, 5.0], {})
        )

    path = tmp_path / "tiny.net"
    path.write_bytes(tiny_file(stored_b))
    shapes = [("a", (2, 3, 3, 3)), ("b", (3, 1, 1, 1)), ("c", (2, 1, 1, 1))]
    a, b, c = decode_deep_compression(path, shapes)

    expected_a = np.full(54, -0.25, dtype=np.float32)
    expected_a[[3, 5, 22, 37, 53]] = [3.5, 127.5, 0.5, 1.0, 4.5]  # 0.5 * index
    np.testing.assert_array_equal(a.weight, expected_a.reshape(2, 3, 3, 3))
    np.testing.assert_array_equal(a.bias, np.float32([1.0, -2.0]))
    np.testing.assert_array_equal(b.weight.ravel(), np.float32([-4.0, -2.0, -201.0]))
    np.testing.assert_array_equal(b.bias, np.float32([0.1, 0.2, 0.3]))
    np.testing.assert_array_equal(c.weight, np.zeros((2, 1, 1, 1), dtype=np.float32))
    np.testing.assert_array_equal(c.bias, np.float32([4.0, 5.0]))
    assert [layer.name for layer in (a, b, c)] == ["a", "b", "c"]

    # b's last gap one larger: its last stored weight would sit at position 3 of 3.
    path.write_bytes(tiny_file({0: 3, 1: 1, 3: 200}))
    with pytest.raises(WeightsError, match=r"gaps of layer b run past its 3 weights"):
        decode_deep_compression(path, shapes)
