"""Drawing on photos: saliency heat-map overlays and labelled boxes, numpy in, numpy out."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
from PIL import Image, ImageColor, ImageDraw, ImageFont

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_CMAP",
    "DEFAULT_COLOURS",
    "DISPLAY_QUANTILE",
    "clip_for_display",
    "colourise",
    "draw_boxes",
    "greyed",
    "normalise_saliency",
    "overlay",
]

#: The saliency colormap used everywhere unless a caller asks for another: perceptually
#: uniform (equal steps in value look like equal steps in colour) and readable in greyscale.
DEFAULT_CMAP = "inferno"
#: How much of the map's colour covers the greyed photo.
DEFAULT_ALPHA = 0.6

#: A map shown on a picture is clipped at this quantile of its values: a few extreme pixels
#: (gradient maps are sparse) would otherwise take the whole colour scale and hide the rest.
DISPLAY_QUANTILE = 0.995

#: Box colours cycled when none are given (matplotlib's "tab10", as RGB).
DEFAULT_COLOURS: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)

Colour = str | Sequence[int]


def overlay(
    image: np.ndarray,
    saliency: np.ndarray,
    *,
    cmap: str = DEFAULT_CMAP,
    alpha: float = DEFAULT_ALPHA,
    grey: bool = True,
) -> np.ndarray:
    """Blend a colour-mapped saliency map over a photo (by default the photo in grey).

    ``image`` is uint8 (H, W, 3); ``saliency`` any (h, w) real array. The map is
    resized to H x W (bilinear), scaled to [0, 1] by its maximum (negative values
    and NaN count as 0; an all-zero map stays 0 rather than becoming NaN), coloured
    with ``cmap`` and mixed as ``(1 - alpha) * photo + alpha * colour``, where the
    photo is greyed (``grey=True``) so that every colour on the picture is the map's.
    """
    _check_image(image)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    height, width = image.shape[:2]
    unit = normalise_saliency(saliency, (height, width))
    colours = colourise(unit, cmap)
    base = greyed(image) if grey else image
    blended = (1.0 - alpha) * base.astype(np.float32) + alpha * colours.astype(np.float32)
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def greyed(image: np.ndarray) -> np.ndarray:
    """The photo's luminance (ITU-R 601 weights) as a uint8 (H, W, 3) grey picture."""
    _check_image(image)
    luminance = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    grey = np.clip(np.round(luminance), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def normalise_saliency(saliency: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """A (h, w) map as float32 in [0, 1], resized bilinearly to ``size`` = (H, W) if given."""
    values = np.asarray(saliency, dtype=np.float32)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"a saliency map must be a non-empty 2-D array, got shape {values.shape}")
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    values = np.maximum(values, 0.0)
    if size is not None and values.shape != tuple(size):
        resized = Image.fromarray(values).resize((size[1], size[0]), Image.Resampling.BILINEAR)
        values = np.maximum(np.asarray(resized, dtype=np.float32), 0.0)
    peak = float(values.max())
    if peak <= 0.0:
        return np.zeros(values.shape, np.float32)
    return np.clip(values / peak, 0.0, 1.0)


def clip_for_display(saliency: np.ndarray, quantile: float = DISPLAY_QUANTILE) -> np.ndarray:
    """The map (float32) with every value above its ``quantile`` lowered to it, for pictures
    only (saved maps stay raw); a ceiling at or below 0 leaves the map as it is.

    The ceiling is a value the map holds: the order statistic at ``floor(quantile * (n - 1))``
    (numpy's ``quantile(method="lower")``), the rule the run folder's stored display maps have
    always used, so a resumed run's maps match the ones written before it."""
    values = np.asarray(saliency, dtype=np.float32)
    rank = int(quantile * (values.size - 1))
    ceiling = float(np.partition(values.ravel(), rank)[rank])
    return np.minimum(values, ceiling) if ceiling > 0 else values


def colourise(unit: np.ndarray, cmap: str = DEFAULT_CMAP) -> np.ndarray:
    """Map values in [0, 1] through a matplotlib colormap to uint8 RGB (..., 3)."""
    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError as exc:
        raise ValueError(f"unknown matplotlib colormap {cmap!r}") from exc
    rgba = colormap(np.clip(unit, 0.0, 1.0), bytes=True)
    return np.ascontiguousarray(rgba[..., :3])


def draw_boxes(
    image: np.ndarray,
    boxes: Sequence,
    labels: Sequence[str | None] | None = None,
    colours: Sequence[Colour] | None = None,
    *,
    width: int | None = None,
) -> np.ndarray:
    """Draw boxes ``(x0, y0, x1, y1)`` (inclusive pixel corners) on a copy of the photo.

    Boxes may also be objects with an ``as_list()`` method (such as
    ``thinktwice.localization.boxes.Box``). Each label is written in a filled tag
    above the box (inside it when the box touches the top edge). Colours are
    names, ``#rrggbb`` strings or RGB tuples; by default they cycle through tab10.
    Lines and labels scale with the photo so they stay legible once the picture
    is shrunk into a paper's column: about 1/80 and 1/16 of its shorter side.
    """
    _check_image(image)
    if labels is not None and len(labels) != len(boxes):
        raise ValueError(f"got {len(labels)} labels for {len(boxes)} boxes")
    if colours is not None and len(colours) == 0:
        raise ValueError("colours must not be empty")
    canvas = Image.fromarray(np.ascontiguousarray(image))
    draw = ImageDraw.Draw(canvas)
    shortest = min(image.shape[:2])
    line = width if width is not None else max(3, round(shortest / 80))
    font = ImageFont.load_default(size=max(14, round(shortest / 16)))
    for index, box in enumerate(boxes):
        x0, y0, x1, y1 = _corners(box)
        palette = colours if colours is not None else DEFAULT_COLOURS
        colour = _rgb(palette[index % len(palette)])
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=line)
        label = labels[index] if labels is not None else None
        if label:
            _draw_tag(draw, font, str(label), (x0, y0), colour)
    return np.asarray(canvas).copy()


def _draw_tag(
    draw: ImageDraw.ImageDraw,
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
    text: str,
    corner: tuple[int, int],
    colour: tuple[int, int, int],
) -> None:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = max(2, (bottom - top) // 4)
    tag_w, tag_h = right - left + 2 * pad, bottom - top + 2 * pad
    x, y = corner[0], corner[1] - tag_h
    if y < 0:  # no room above the box: put the tag just inside its top edge
        y = corner[1]
    x = max(0, min(x, draw.im.size[0] - tag_w))  # keep the whole tag on the picture
    draw.rectangle((x, y, x + tag_w - 1, y + tag_h - 1), fill=colour)
    luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    ink = (0, 0, 0) if luminance > 150 else (255, 255, 255)
    draw.text((x + pad - left, y + pad - top), text, fill=ink, font=font)


def _corners(box) -> tuple[int, int, int, int]:
    values = box.as_list() if hasattr(box, "as_list") else box
    if len(values) != 4:
        raise ValueError(f"a box needs 4 numbers (x0, y0, x1, y1), got {values!r}")
    x0, y0, x1, y1 = (int(round(float(v))) for v in values)
    if x1 < x0 or y1 < y0:
        raise ValueError(f"box {[x0, y0, x1, y1]} is empty: need x0 <= x1 and y0 <= y1")
    return x0, y0, x1, y1


def _rgb(colour: Colour) -> tuple[int, int, int]:
    if isinstance(colour, str):
        return ImageColor.getrgb(colour)[:3]
    values = tuple(int(v) for v in colour)
    if len(values) < 3:
        raise ValueError(f"a colour needs 3 components, got {colour!r}")
    return values[0], values[1], values[2]


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        kind = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"the image must be a uint8 numpy array, got {kind}")
    if image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise ValueError(f"the image must have shape (H, W, 3), got {image.shape}")
