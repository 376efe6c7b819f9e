"""Reader of the "Deep Compression" weights format (songhan/SqueezeNet-Deep-Compression).

The file holds only convolution layers, all little-endian:

1. one uint32 per layer: ``stored``, how many (non-zero) weights it keeps;
2. per layer, in the same order: a codebook of 256 float32, one float32 bias per
   output channel, ``stored`` uint8 codebook indices, then ``ceil(stored / 2)``
   bytes of 4-bit gaps, low nibble first. Stored weight k sits at flat position
   ``cumsum(gap + 1)[k] - 1`` (C order over out, in, kh, kw); every other weight
   is ``codebook[0]``.

The layer shapes are not in the file, so the caller passes them. Decoding is
strict: the file must be consumed exactly, and anything else is a one-line
:class:`WeightsError` naming the file and what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thinktwice.errors import WeightsError

CODEBOOK_SIZE = 256
_FLOAT = np.dtype("<f4")
_COUNT = np.dtype("<u4")


class DeepCompressionError(WeightsError):
    """A file that does not decode as Deep Compression weights of the given layers."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: not a valid Deep Compression file: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class DecodedLayer:
    """One convolution's dense weights and biases."""

    name: str
    weight: np.ndarray  # float32, the layer's weight shape
    bias: np.ndarray  # float32, [out channels]


@dataclass(frozen=True)
class _Layout:
    """Where one layer's parts sit in the file."""

    name: str
    shape: tuple[int, ...]
    stored: int
    offset: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def channels(self) -> int:
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        return _FLOAT.itemsize * (CODEBOOK_SIZE + self.channels) + self.stored + _gap_bytes(self)

    @property
    def end(self) -> int:
        return self.offset + self.nbytes


def _gap_bytes(layer: _Layout) -> int:
    return (layer.stored + 1) // 2


def decode_deep_compression(
    path: str | Path, layers: Sequence[tuple[str, Sequence[int]]]
) -> list[DecodedLayer]:
    """The dense weights of ``layers`` (name, weight shape), in file order, from ``path``."""
    path = Path(path)
    data = _read(path)
    layout = _layout(path, data, [(name, tuple(int(n) for n in shape)) for name, shape in layers])
    return [_decode_layer(path, data, layer) for layer in layout]


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise WeightsError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _layout(path: Path, data: bytes, layers: list[tuple[str, tuple[int, ...]]]) -> list[_Layout]:
    """Each layer's stored count and offset, checked against its shape and the file size."""
    header = _COUNT.itemsize * len(layers)
    if len(data) < header:
        raise DeepCompressionError(
            path,
            f"truncated: {len(data)} bytes, fewer than the header of {len(layers)} "
            f"layer counts ({header} bytes)",
        )
    counts = np.frombuffer(data, dtype=_COUNT, count=len(layers)).tolist()
    layout: list[_Layout] = []
    offset = header
    for (name, shape), stored in zip(layers, counts, strict=True):
        layer = _Layout(name, shape, int(stored), offset)
        if layer.stored > layer.size:
            raise DeepCompressionError(
                path,
                f"layer {name} claims {layer.stored} stored weights but has only {layer.size}: "
                f"the header does not hold the {len(layers)} layer counts of this network "
                "(wrong layer count, or a file of another network?)",
            )
        layout.append(layer)
        offset = layer.end
    _check_size(path, len(data), layout)
    return layout


def _check_size(path: Path, actual: int, layout: list[_Layout]) -> None:
    """The file ends exactly where the last layer does."""
    expected = layout[-1].end if layout else 0
    summary = f"its header's {len(layout)} layer counts call for {expected} bytes, it has {actual}"
    if actual < expected:
        short = next(layer for layer in layout if layer.end > actual)
        raise DeepCompressionError(path, f"truncated in layer {short.name}: {summary}")
    if actual > expected:
        surplus = actual - expected
        raise DeepCompressionError(
            path, f"{surplus} trailing bytes after the last layer; {summary}"
        )


def _decode_layer(path: Path, data: bytes, layer: _Layout) -> DecodedLayer:
    offset = layer.offset
    codebook = np.frombuffer(data, dtype=_FLOAT, count=CODEBOOK_SIZE, offset=offset)
    offset += codebook.nbytes
    bias = np.frombuffer(data, dtype=_FLOAT, count=layer.channels, offset=offset)
    offset += bias.nbytes
    indices = np.frombuffer(data, dtype=np.uint8, count=layer.stored, offset=offset)
    offset += indices.nbytes
    packed = np.frombuffer(data, dtype=np.uint8, count=_gap_bytes(layer), offset=offset)
    positions = _positions(packed, layer.stored)
    if layer.stored and positions[-1] >= layer.size:
        raise DeepCompressionError(
            path,
            f"the gaps of layer {layer.name} run past its {layer.size} weights "
            f"(last stored weight at position {int(positions[-1])})",
        )
    weight = np.full(layer.size, codebook[0], dtype=np.float32)
    weight[positions] = codebook[indices]
    return DecodedLayer(layer.name, weight.reshape(layer.shape), bias.copy())


def _positions(packed: np.ndarray, stored: int) -> np.ndarray:
    """Flat positions of the stored weights from their 4-bit gaps (low nibble first)."""
    nibbles = np.empty(2 * len(packed), dtype=np.int64)
    nibbles[0::2] = packed & 0x0F
    nibbles[1::2] = packed >> 4
    return np.cumsum(nibbles[:stored] + 1) - 1
