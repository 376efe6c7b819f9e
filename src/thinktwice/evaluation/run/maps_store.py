"""Small pictures of what an evaluation saw, kept beside its results for the HTML report.

``results.jsonl`` holds boxes and scores but no saliency maps; the report also
wants to show the photo, its ground truth and each method's map. For every
image the evaluation keeps one file, ``RUN_DIR/maps/<image id>.maps``, holding

* the image id, its size and its ground-truth objects (boxes, accepted classes,
  dataset names);
* a JPEG of the photo shrunk to at most :data:`PHOTO_SIDE` pixels;
* per method, a uint8 ``MAP_SIDE x MAP_SIDE`` display map of each explained class
  (negative values cut, clipped at the 99.5% quantile like the CLI's pictures,
  scaled so the maximum is 255), and which classes stand for the ground-truth
  labels.

The file is ``MAGIC``, the lengths of a JSON header and of the body, a CRC-32 of
both, the header (everything above but the pixels, with each blob's offset)
and the body (the JPEG and the raw maps): reading one is a single read and a
few slices, so a report over 5,000 images reads them in about a second.

One file per image rather than per (image, method): the photo and ground truth
are stored once, and a 5,000-image run makes 5,000 files of about 3 + 4 x
methods KB. A method's maps are added by rewriting the image's file through
:func:`~thinktwice.io.files.atomic_write` (temporary file, fsync,
rename), so a run killed at any moment leaves every file either as it was or
complete, and the checksum catches any other damage (such a file is reported
and rewritten, or skipped by readers). No image is written by two processes at
once: torchrun shards whole batches. The runner stores a method's maps before
appending its line to ``results.jsonl``, so a result whose line survived has its
maps too.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import warnings
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import cv2
import numpy as np
from PIL import Image

from thinktwice.errors import ThinkTwiceError
from thinktwice.evaluation.datasets.base import GroundTruth, Sample
from thinktwice.io.checked_json import parse_json
from thinktwice.io.files import atomic_write, own_folder, read_regular_file
from thinktwice.localization.boxes import Box
from thinktwice.visualization.overlay import clip_for_display

MAPS_DIR = "maps"
SUFFIX = ".maps"
MAGIC = b"TTMAPS\x00\x01"
MAP_SIDE = 64
PHOTO_SIDE = 128
PHOTO_QUALITY = 85
_PREFIX = struct.Struct("<8sIII")  # magic, header length, body length, CRC-32 of both
_LONGEST_KEY = 150
#: No maps file is near this size (a photo thumbnail and a few 64x64 maps per method).
FILE_LIMIT = 64 * 2**20


class CorruptMapsFile(ValueError):
    """A stored-maps file that is not one, or is damaged."""


@dataclass(frozen=True)
class StoredMaps:
    """One method's display maps of one image, one per explained class."""

    classes: tuple[int, ...]
    representatives: tuple[int, ...]
    maps: np.ndarray = field(repr=False)  # uint8 (len(classes), side, side)

    def of(self, class_index: int) -> np.ndarray | None:
        """The map of ``class_index``, None when it was not explained."""
        if class_index not in self.classes:
            return None
        return self.maps[self.classes.index(class_index)]


@dataclass(frozen=True)
class StoredImage:
    """Everything stored for one image: photo, ground truth and the maps of each method."""

    image_id: str
    width: int
    height: int
    objects: tuple[GroundTruth, ...]
    photo_jpeg: bytes = field(repr=False)
    methods: Mapping[str, StoredMaps] = field(default_factory=dict)


class MapsStore:
    """The ``maps/`` folder of a run: one file per image."""

    def __init__(self, run_dir: str | Path):
        self.folder = Path(run_dir) / MAPS_DIR

    def record(
        self,
        method: str,
        sample: Sample,
        photo: np.ndarray,
        maps: Mapping[int, np.ndarray],
        representatives: Sequence[int],
    ) -> Path:
        """Add (or replace) ``method``'s maps of one image, durably; returns the file."""
        return self.record_methods(sample, photo, {method: (maps, representatives)})

    def record_methods(
        self,
        sample: Sample,
        photo: np.ndarray,
        methods: Mapping[str, tuple[Mapping[int, np.ndarray], Sequence[int]]],
    ) -> Path:
        """Add (or replace) the maps of several methods of one image in one rewrite:
        per method, ``(maps by class, classes representing the ground-truth labels)``."""
        own_folder(self.folder)  # a symbolic link planted at maps/ is refused, not followed
        path = self.path_of(sample.image_id)
        stored = _read(path, on_error="rewritten") if os.path.lexists(path) else None
        if stored is None or stored.image_id != sample.image_id:
            stored = StoredImage(
                sample.image_id, sample.width, sample.height, sample.objects, photo_thumbnail(photo)
            )
        added = {method: stored_maps(maps, reps) for method, (maps, reps) in methods.items()}
        encoded = encode(replace(stored, methods={**stored.methods, **added}))
        return atomic_write(path, lambda handle: handle.write(encoded))

    def path_of(self, image_id: str) -> Path:
        return self.folder / f"{file_key(image_id)}{SUFFIX}"

    def read(self, image_id: str) -> StoredImage | None:
        """The stored image, None when absent or unreadable (with a warning)."""
        path = self.path_of(image_id)
        return _read(path, on_error="skipped") if os.path.lexists(path) else None

    def __iter__(self) -> Iterator[StoredImage]:
        """Every readable stored image (an unreadable file is skipped with a warning)."""
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob(f"*{SUFFIX}")):
            stored = _read(path, on_error="skipped")
            if stored is not None:
                yield stored


def stored_maps(maps: Mapping[int, np.ndarray], representatives: Sequence[int]) -> StoredMaps:
    """Full-size saliency maps by class, as display maps."""
    classes = tuple(int(c) for c in maps)
    pixels = [display_map(maps[c]) for c in maps]
    stacked = np.stack(pixels) if pixels else np.zeros((0, MAP_SIDE, MAP_SIDE), np.uint8)
    return StoredMaps(classes, tuple(int(c) for c in representatives), stacked)


def file_key(image_id: str) -> str:
    """A file name for an image id: the id itself, percent-encoded where a file name could
    not hold it, or a hash when that is too long.

    Any id has one: an id read from a file name that is not UTF-8 holds surrogates
    (``img_\udcff``), which are encoded as they are (``surrogatepass``), so distinct ids
    keep distinct names."""
    raw = image_id.encode("utf-8", "surrogatepass")
    key = quote_from_bytes(raw, safe="._-")
    if key.startswith("."):
        key = "%2E" + key[1:]
    if len(key) > _LONGEST_KEY or not key:
        key = "sha1-" + hashlib.sha1(raw).hexdigest()
    return key


def display_map(saliency: np.ndarray) -> np.ndarray:
    """A saliency map as uint8 MAP_SIDE x MAP_SIDE for display: negatives and non-finite
    values cut, clipped at the 99.5% quantile (a few extreme pixels would hide the rest of a
    sparse gradient map), shrunk by area averaging, maximum scaled to 255."""
    values = np.array(saliency, dtype=np.float32)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"a saliency map must be a non-empty 2-D array, got {values.shape}")
    values[~(values > 0)] = 0.0  # negative and NaN
    values[values == np.inf] = 0.0
    values = clip_for_display(values)
    small = cv2.resize(values, (MAP_SIDE, MAP_SIDE), interpolation=cv2.INTER_AREA)
    peak = float(small.max())
    if peak <= 0:
        return np.zeros((MAP_SIDE, MAP_SIDE), np.uint8)
    return np.clip(np.round(small * (255.0 / peak)), 0, 255).astype(np.uint8)


def photo_thumbnail(photo: np.ndarray) -> bytes:
    """The photo (uint8 H x W x 3) as JPEG bytes, at most PHOTO_SIDE pixels on a side."""
    image = Image.fromarray(np.ascontiguousarray(photo, dtype=np.uint8)).convert("RGB")
    image.thumbnail((PHOTO_SIDE, PHOTO_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=PHOTO_QUALITY)
    return buffer.getvalue()


# --- the file format -----------------------------------------------------------------------------


def encode(stored: StoredImage) -> bytes:
    """The bytes of one stored-maps file."""
    body = bytearray(stored.photo_jpeg)
    methods = {}
    for method, entry in stored.methods.items():
        pixels = np.ascontiguousarray(entry.maps, dtype=np.uint8)
        methods[method] = {
            "classes": list(entry.classes),
            "representatives": list(entry.representatives),
            "side": int(pixels.shape[-1]) if pixels.size else MAP_SIDE,
            "offset": len(body),
        }
        body += pixels.tobytes()
    header = json.dumps(
        {
            "image_id": stored.image_id,
            "width": stored.width,
            "height": stored.height,
            "objects": [_object_json(obj) for obj in stored.objects],
            "photo": len(stored.photo_jpeg),
            "methods": methods,
        },
        separators=(",", ":"),
    ).encode()
    checksum = zlib.crc32(body, zlib.crc32(header))
    return _PREFIX.pack(MAGIC, len(header), len(body), checksum) + header + bytes(body)


def decode(data: bytes) -> StoredImage:
    """The stored image in ``data``; CorruptMapsFile saying what is wrong otherwise."""
    if len(data) < _PREFIX.size or data[: len(MAGIC)] != MAGIC:
        raise CorruptMapsFile("not a thinktwice maps file (wrong magic)")
    _, header_length, body_length, checksum = _PREFIX.unpack_from(data)
    header_end = _PREFIX.size + header_length
    if len(data) != header_end + body_length:
        raise CorruptMapsFile(f"truncated or padded ({len(data)} bytes, expected "
                              f"{header_end + body_length})")  # fmt: skip
    header, body = data[_PREFIX.size : header_end], data[header_end:]
    if zlib.crc32(body, zlib.crc32(header)) != checksum:
        raise CorruptMapsFile("checksum mismatch")
    try:
        meta = parse_json(header, "maps header", CorruptMapsFile)
        photo_length = int(meta["photo"])
        return StoredImage(
            image_id=str(meta["image_id"]),
            width=int(meta["width"]),
            height=int(meta["height"]),
            objects=tuple(_object_from_json(o) for o in meta["objects"]),
            photo_jpeg=bytes(body[:photo_length]),
            methods={m: _maps_from_json(e, body) for m, e in meta["methods"].items()},
        )
    except CorruptMapsFile:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CorruptMapsFile(f"malformed header ({error!r})") from error


def _read(path: Path, on_error: str) -> StoredImage | None:
    try:  # a FIFO or a device planted there is refused before it is read
        return decode(read_regular_file(path, limit=FILE_LIMIT, what="maps file"))
    except (OSError, CorruptMapsFile, ThinkTwiceError) as error:
        warnings.warn(f"{path}: unreadable stored maps ({error}); {on_error}", stacklevel=3)
        return None


def _maps_from_json(entry: Mapping[str, Any], body: bytes) -> StoredMaps:
    classes = tuple(int(c) for c in entry["classes"])
    side, offset = int(entry["side"]), int(entry["offset"])
    size = len(classes) * side * side
    if offset < 0 or offset + size > len(body):
        raise ValueError(f"maps at {offset}..{offset + size} lie outside the body")
    maps = np.frombuffer(body, np.uint8, count=size, offset=offset).reshape(-1, side, side)
    representatives = tuple(int(c) for c in entry["representatives"])
    return StoredMaps(classes, representatives, maps)


def _object_json(obj: GroundTruth) -> dict[str, Any]:
    return {
        "box": obj.box.as_list(),
        "classes": sorted(obj.classes),
        "names": list(obj.names),
        "difficult": obj.difficult,
    }


def _object_from_json(data: Mapping[str, Any]) -> GroundTruth:
    return GroundTruth(
        classes=frozenset(int(c) for c in data["classes"]),
        box=Box(*(int(v) for v in data["box"])),
        difficult=bool(data.get("difficult", False)),
        names=tuple(str(n) for n in data.get("names", ())),
    )
