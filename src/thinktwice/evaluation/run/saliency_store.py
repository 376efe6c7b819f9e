"""Every saliency map of a run, kept at the model's input size, so a run can be re-scored.

``RUN_DIR/saliency/<image id>.sal`` holds, per method, each explained class's map
in a compact form: the map divided by its largest magnitude, rounded to float16
(11 significant bits down to 2^-14 of the largest value, fewer below; so the
faint quantiles GrabCut seeds from keep their order), each row's bit patterns stored
as differences from the left neighbour, bytes shuffled (all high bytes, then all
low bytes) and deflated. Smooth maps (Grad-CAM and feedback's default) take about
13 KB, speckled gradient-type maps 70-80 KB, against 196 KB as float32 (224 x 224;
docs/benchmarks.md has the cost per 1,000 maps).

The evaluation scores the map *as stored* (:func:`stored_form`): boxes, pointing,
MaxBoxAcc and faithfulness all read the decoded map, so ``thinktwice rescore``
with the same settings gives the same records without running the network.

The file is ``MAGIC``, the lengths of a JSON header and of the body, a CRC-32 of
both, the header (per method: classes, representatives, map shape, scales and
each blob's place) and the body. It is written like ``maps/`` files
(:mod:`~thinktwice.evaluation.run.maps_store`): rewritten whole through an atomic
rename when a method is added, before the record's line is appended.
"""

from __future__ import annotations

import json
import struct
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thinktwice.evaluation.run.maps_store import file_key
from thinktwice.io.files import atomic_write

SALIENCY_DIR = "saliency"
SUFFIX = ".sal"
MAGIC = b"TTSALv1\x00"
_PREFIX = struct.Struct("<8sIII")  # magic, header length, body length, CRC-32 of both
_LEVEL = 6


class CorruptSaliencyFile(ValueError):
    """A stored-saliency file that is not one, or is damaged."""


@dataclass(frozen=True)
class EncodedMap:
    """One map in its stored form: float16 of ``map / scale``, delta-coded and deflated."""

    shape: tuple[int, int]
    scale: float
    blob: bytes = field(repr=False)

    def decoded(self) -> np.ndarray:
        """The map as every metric reads it (float32)."""
        rows, cols = self.shape
        data = np.frombuffer(zlib.decompress(self.blob), np.uint8)
        if data.size != 2 * rows * cols:
            raise CorruptSaliencyFile(f"a map of {data.size} bytes is not {rows}x{cols}")
        delta = np.ascontiguousarray(data.reshape(2, -1).T).view(np.uint16).reshape(rows, cols)
        bits = np.cumsum(delta, axis=1, dtype=np.uint16)
        return bits.view(np.float16).astype(np.float32) * np.float32(self.scale)


def encode_map(saliency: np.ndarray) -> EncodedMap:
    """The stored form of a 2-D map."""
    values = np.asarray(saliency, dtype=np.float32)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"a saliency map must be a non-empty 2-D array, got {values.shape}")
    finite = np.abs(values[np.isfinite(values)])
    scale = float(finite.max()) if finite.size else 0.0
    scale = scale if scale > 0 else 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        bits = (values / np.float32(scale)).astype(np.float16).view(np.uint16)
    delta = np.diff(bits, axis=1, prepend=np.zeros((bits.shape[0], 1), np.uint16))
    shuffled = np.ascontiguousarray(delta.view(np.uint8).reshape(-1, 2).T)
    return EncodedMap(values.shape, scale, zlib.compress(shuffled.tobytes(), _LEVEL))


def stored_form(saliency: np.ndarray) -> tuple[EncodedMap, np.ndarray]:
    """(the stored form of a map, the map that form decodes to)."""
    encoded = encode_map(saliency)
    return encoded, encoded.decoded()


@dataclass(frozen=True)
class StoredSaliency:
    """One method's maps of one image."""

    classes: tuple[int, ...]
    representatives: tuple[int, ...]
    maps: tuple[EncodedMap, ...] = field(repr=False)

    def decoded(self) -> dict[int, np.ndarray]:
        return {c: m.decoded() for c, m in zip(self.classes, self.maps, strict=True)}


class SaliencyStore:
    """The ``saliency/`` folder of a run: one file per image."""

    def __init__(self, run_dir: str | Path):
        self.folder = Path(run_dir) / SALIENCY_DIR

    def path_of(self, image_id: str) -> Path:
        return self.folder / f"{file_key(image_id)}{SUFFIX}"

    def record(
        self,
        image_id: str,
        method: str,
        maps: Mapping[int, EncodedMap],
        representatives: Sequence[int],
    ) -> Path:
        """Add (or replace) one method's maps of an image, durably."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path_of(image_id)
        methods = dict(self._read(path, "rewritten") or {}) if path.exists() else {}
        classes = tuple(int(c) for c in maps)
        reps = tuple(int(c) for c in representatives)
        methods[method] = StoredSaliency(classes, reps, tuple(maps.values()))
        data = encode(image_id, methods)
        return atomic_write(path, lambda handle: handle.write(data))

    def read(self, image_id: str) -> dict[str, StoredSaliency] | None:
        """Every method's maps of an image; None when absent or unreadable (a warning)."""
        path = self.path_of(image_id)
        return self._read(path, "skipped") if path.exists() else None

    def _read(self, path: Path, on_error: str) -> dict[str, StoredSaliency] | None:
        try:
            return decode(path.read_bytes())[1]
        except (OSError, CorruptSaliencyFile) as error:
            warnings.warn(f"{path}: unreadable stored saliency ({error}); {on_error}", stacklevel=3)
            return None


def encode(image_id: str, methods: Mapping[str, StoredSaliency]) -> bytes:
    """The bytes of one stored-saliency file."""
    body = bytearray()
    header: dict[str, Any] = {"image_id": image_id, "methods": {}}
    for method, stored in methods.items():
        blobs = []
        for encoded in stored.maps:
            blobs.append([len(body), len(encoded.blob)])
            body += encoded.blob
        header["methods"][method] = {
            "classes": list(stored.classes),
            "representatives": list(stored.representatives),
            "shapes": [list(m.shape) for m in stored.maps],
            "scales": [m.scale for m in stored.maps],
            "blobs": blobs,
        }
    text = json.dumps(header, separators=(",", ":")).encode()
    checksum = zlib.crc32(body, zlib.crc32(text))
    return _PREFIX.pack(MAGIC, len(text), len(body), checksum) + text + bytes(body)


def decode(data: bytes) -> tuple[str, dict[str, StoredSaliency]]:
    """(image id, maps per method) of a file's bytes; CorruptSaliencyFile if damaged."""
    if len(data) < _PREFIX.size or data[: len(MAGIC)] != MAGIC:
        raise CorruptSaliencyFile("not a thinktwice saliency file (wrong magic)")
    _, header_length, body_length, checksum = _PREFIX.unpack_from(data)
    start = _PREFIX.size + header_length
    if len(data) != start + body_length:
        raise CorruptSaliencyFile(f"truncated or padded ({len(data)} bytes)")
    text, body = data[_PREFIX.size : start], data[start:]
    if zlib.crc32(body, zlib.crc32(text)) != checksum:
        raise CorruptSaliencyFile("checksum mismatch")
    try:
        header = json.loads(text)
        methods = {}
        for method, entry in header["methods"].items():
            maps = tuple(
                EncodedMap((int(shape[0]), int(shape[1])), float(scale), body[o : o + n])
                for shape, scale, (o, n) in zip(
                    entry["shapes"], entry["scales"], entry["blobs"], strict=True
                )
            )
            classes = tuple(int(c) for c in entry["classes"])
            if len(classes) != len(maps):
                raise ValueError("classes and maps differ in number")
            reps = tuple(int(c) for c in entry["representatives"])
            methods[str(method)] = StoredSaliency(classes, reps, maps)
        return str(header["image_id"]), methods
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptSaliencyFile(f"malformed header ({error!r})") from error
