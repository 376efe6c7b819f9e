"""Reading input files: photos as 8-bit RGB images, with one clear error per bad file."""

from __future__ import annotations

from thinktwice.io.images import (
    DEFAULT_MAX_PIXELS,
    image_to_array,
    iter_images,
    load_image,
    load_images,
    to_rgb,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "image_to_array",
    "iter_images",
    "load_image",
    "load_images",
    "to_rgb",
]
