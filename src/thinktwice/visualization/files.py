"""Writing pictures atomically: a reader never sees a half-written PNG or figure.

Each file is written to a hidden temporary file in the destination folder and
then renamed over the destination with :func:`os.replace`, which is atomic on
one file system. A failure leaves any previous file untouched and removes the
temporary file. Problems with the destination raise :class:`OSError` with a
one-line message naming the path, which a command-line tool can print as is.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from thinktwice.io.files import PathLike, atomic_write

__all__ = ["atomic_write", "save_figure", "save_png"]


def save_png(array: np.ndarray, path: PathLike) -> Path:
    """Write a uint8 (H, W), (H, W, 3) or (H, W, 4) array as a PNG; returns the path."""
    pixels = np.asarray(array)
    if pixels.dtype != np.uint8:
        raise ValueError(f"save_png needs a uint8 array, got {pixels.dtype}")
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] in (3, 4))):
        raise ValueError(f"save_png needs shape (H, W), (H, W, 3) or (H, W, 4), got {pixels.shape}")
    image = Image.fromarray(np.ascontiguousarray(pixels))
    return atomic_write(path, lambda handle: image.save(handle, format="PNG"))


def save_figure(figure: Figure, path: PathLike, *, dpi: float = 150) -> Path:
    """Save a matplotlib figure atomically; the format follows the suffix (PNG by default)."""
    target = Path(path)
    suffix = target.suffix.lower().lstrip(".")
    file_format = suffix if suffix in figure.canvas.get_supported_filetypes() else "png"

    def write(handle: BinaryIO) -> None:
        figure.savefig(handle, format=file_format, dpi=dpi, facecolor="white")

    return atomic_write(target, write)
