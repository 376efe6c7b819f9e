"""Loading photos robustly: every file becomes an 8-bit RGB image or one clear error.

:func:`load_image` is the only way the library reads an image file. It refuses,
with an :class:`~thinktwice.errors.ImageError` whose message names the file and
the problem, anything it cannot turn into a faithful RGB picture: a missing or
unreadable path, an empty, truncated or corrupt file, a file that is not an
image, and an image whose header announces more pixels than ``max_pixels`` (a
decompression bomb: a few kilobytes that would decode to gigabytes).

It never changes Pillow's global settings (``Image.MAX_IMAGE_PIXELS``,
``ImageFile.LOAD_TRUNCATED_IMAGES``); the checks are made per call instead.

Conversions to RGB (see :func:`to_rgb`):

* EXIF orientation is applied first, so a portrait photo comes out upright.
* 16-bit grayscale (``"I;16"`` modes) keeps its top 8 bits (value / 256): the
  full 0..65535 range maps onto 0..255 instead of saturating to white.
* 32-bit integer (``"I"``): values that fit in 0..255 are kept, values that fit
  in 0..65535 are 16-bit data and are divided by 256, anything else (negative
  or larger) is stretched from its min..max.
* 32-bit float (``"F"``) has no fixed range and is stretched from its finite
  min..max to 0..255 (a constant image becomes black).
* Transparency (RGBA, LA, PA, premultiplied modes, palette or grey images with a
  transparent colour) is composited over white: transparent pixels keep
  arbitrary colour values, usually black, and a logo on a transparent
  background should look like it does in a browser, not sit on a black block.
* CMYK, YCbCr, palette, grayscale and bilevel images are converted by Pillow.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from thinktwice.errors import ImageError
from thinktwice.io.files import PathLike

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "image_to_array",
    "iter_images",
    "load_image",
    "load_images",
    "to_rgb",
]

#: Default decompression-bomb limit: 64 megapixels (e.g. 8000 x 8000).
DEFAULT_MAX_PIXELS = 64_000_000


_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}


def load_image(path: PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Read an image file fully and return it as an 8-bit RGB PIL image.

    Raises :class:`ImageError` (one line naming the file) for a missing, unreadable,
    empty, truncated, corrupt or non-image file, and for an image with more than
    ``max_pixels`` pixels; the pixel count is checked from the header, before decoding.
    Pillow's own decompression-bomb check (``Image.MAX_IMAGE_PIXELS``, about 89
    megapixels; it errors above twice that) still applies on top of ``max_pixels``.
    """
    if max_pixels <= 0:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    file = Path(path)
    _check_path(file)
    try:
        handle = open(file, "rb")  # noqa: SIM115 - closed by the with below
    except PermissionError as exc:
        raise ImageError(f"{file}: permission denied, cannot read the file") from exc
    except OSError as exc:
        raise ImageError(f"{file}: cannot open the file ({exc.strerror or exc})") from exc
    with handle:
        image = _decode(file, handle, max_pixels)
    try:
        return to_rgb(_upright(image))
    except ImageError as exc:
        raise ImageError(f"{file}: {exc}") from exc


def load_images(
    paths: Iterable[PathLike], *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> list[tuple[PathLike, Image.Image | ImageError]]:
    """Load every path, pairing each with its image or the :class:`ImageError` it raised.

    Lets a command-line tool process the good files and report the bad ones
    without stopping at the first failure. Paths are returned as given, in order.
    """
    return list(iter_images(paths, max_pixels=max_pixels))


def iter_images(
    paths: Iterable[PathLike], *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Iterator[tuple[PathLike, Image.Image | ImageError]]:
    """Like :func:`load_images`, one image at a time (for long lists of large photos)."""
    for path in paths:
        try:
            yield path, load_image(path, max_pixels=max_pixels)
        except ImageError as exc:
            yield path, exc


def image_to_array(image: Image.Image) -> np.ndarray:
    """The image as a writable ``uint8`` array of shape (H, W, 3), converted like load_image."""
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL image, got {type(image).__name__}")
    return np.array(to_rgb(image), dtype=np.uint8)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB (rules in the module docstring)."""
    if image.mode == "RGB":
        return image
    if image.mode in _SIXTEEN_BIT_MODES or image.mode in {"I", "F"}:
        image = _high_depth_to_l(image)
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        return _over_white(image)
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageError(f"cannot convert an image of mode {image.mode!r} to RGB") from exc


def _check_path(file: Path) -> None:
    """Errors that need no decoding: missing path, folder, empty file."""
    try:
        status = file.stat()
    except (UnicodeEncodeError, ValueError):  # a lone surrogate ("\ud800"), a NUL byte
        shown = str(file).encode("utf-8", "backslashreplace").decode("utf-8")
        raise ImageError(f"{shown}: not a file name this system can hold") from None
    except FileNotFoundError as exc:
        raise ImageError(f"{file}: no such file") from exc
    except PermissionError as exc:
        raise ImageError(f"{file}: permission denied, cannot reach the file") from exc
    except OSError as exc:
        raise ImageError(f"{file}: cannot access the file ({exc.strerror or exc})") from exc
    if file.is_dir():
        raise ImageError(f"{file}: is a directory, not an image file")
    if status.st_size == 0:
        raise ImageError(f"{file}: the file is empty (0 bytes)")


def _decode(file: Path, handle, max_pixels: int) -> Image.Image:
    """Open from the header, check the size, then force the full decode."""
    with warnings.catch_warnings():
        # Pillow warns (rather than raises) between 1x and 2x its own limit.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(handle)
        except Image.UnidentifiedImageError as exc:
            raise ImageError(
                f"{file}: not an image file, or an image format Pillow cannot read"
            ) from exc
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(f"{file}: {_one_line(exc)}") from exc
        except Exception as exc:  # Pillow plug-ins raise many types on corrupt headers
            raise ImageError(f"{file}: corrupt image header ({_one_line(exc)})") from exc
        _check_size(file, image, max_pixels)
        try:
            image.load()  # decode now: truncated data raises here, not later
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(f"{file}: {_one_line(exc)}") from exc
        except Exception as exc:  # OSError "image file is truncated", SyntaxError, ...
            raise ImageError(f"{file}: truncated or corrupt image data ({_one_line(exc)})") from exc
    return image


def _check_size(file: Path, image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageError(f"{file}: the image header gives an empty size {width}x{height}")
    if width * height > max_pixels:
        raise ImageError(
            f"{file}: the image is {width}x{height} = {width * height:,} pixels, more than the"
            f" limit of {max_pixels:,} (possible decompression bomb; raise max_pixels to load it)"
        )


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag; unreadable EXIF metadata leaves the image as stored."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # broken metadata must not make a decodable photo unreadable
        return image


def _high_depth_to_l(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float grayscale to 8-bit "L"."""
    values = np.asarray(image)
    if image.mode in _SIXTEEN_BIT_MODES:
        return Image.fromarray((values.astype(np.uint32) >> 8).astype(np.uint8))
    if image.mode == "I":
        low, high = int(values.min()), int(values.max())
        if low >= 0 and high <= 255:
            return Image.fromarray(values.astype(np.uint8))
        if low >= 0 and high <= 65535:
            return Image.fromarray((values >> 8).astype(np.uint8))
    return Image.fromarray(_stretch(values.astype(np.float64)))


def _stretch(values: np.ndarray) -> np.ndarray:
    """Map the finite min..max of an array to 0..255 (non-finite and flat arrays to 0)."""
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape, np.uint8)
    low, high = values[finite].min(), values[finite].max()
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    scaled = np.where(finite, (values - low) / (high - low), 0.0)
    return np.round(scaled * 255.0).astype(np.uint8)


def _over_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
