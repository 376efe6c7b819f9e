"""load_image: every odd or broken file, written for real, becomes RGB or one clear ImageError."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from thinktwice.errors import ImageError, ThinkTwiceError
from thinktwice.io import images as images_module
from thinktwice.io.images import image_to_array, load_image, load_images, to_rgb

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def _noise_rgb(width: int = 128, height: int = 96, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _write_bilevel_png(path: Path, width: int, height: int) -> None:
    """A valid all-black 1-bit PNG streamed row by row (never held whole in memory)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n")
        handle.write(chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def _error_text(path: Path, **kwargs) -> str:
    with pytest.raises(ImageError) as caught:
        load_image(path, **kwargs)
    text = str(caught.value)
    assert str(path) in text, f"the message must name the file: {text!r}"
    assert "\n" not in text, f"the message must be one line: {text!r}"
    return text


@pytest.fixture
def decode_spy(monkeypatch):
    """Records every full decode (ImageFile.load) made while the test runs."""
    calls: list[tuple[int, int]] = []
    original = ImageFile.ImageFile.load

    def spy(self):
        calls.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return calls


# --- files that must be refused -------------------------------------------------------------


def test_missing_file(tmp_path):
    text = _error_text(tmp_path / "nope.jpg")
    assert "no such file" in text


def test_directory(tmp_path):
    folder = tmp_path / "photos.jpg"
    folder.mkdir()
    assert "directory" in _error_text(folder)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert "empty" in _error_text(path)


def test_truncated_jpeg_is_an_error_not_grey(tmp_path):
    whole = tmp_path / "whole.jpg"
    _noise_rgb(256, 256).save(whole, quality=95)
    data = whole.read_bytes()
    half = tmp_path / "half.jpg"
    half.write_bytes(data[: len(data) // 2])
    assert load_image(whole).size == (256, 256)
    assert "truncated" in _error_text(half)


def test_truncated_png(tmp_path):
    whole = tmp_path / "whole.png"
    _noise_rgb().save(whole)
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[:-2000])
    _error_text(cut)


def test_corrupt_png_data(tmp_path):
    path = tmp_path / "corrupt.png"
    _noise_rgb().save(path)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    path.write_bytes(bytes(data))
    _error_text(path)


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a photo\n")
    assert "not an image" in _error_text(path)


def test_max_pixels_checked_from_the_header(tmp_path, decode_spy):
    path = tmp_path / "small.png"
    _noise_rgb(100, 50).save(path)
    text = _error_text(path, max_pixels=4999)
    assert "100x50" in text and "4,999" in text
    assert decode_spy == [], "the image must be refused before it is decoded"
    assert load_image(path, max_pixels=5000).size == (100, 50)


def test_bomb_over_the_default_limit_refused_by_our_check(tmp_path, decode_spy):
    # 9000 x 9000 = 81 Mpx: over the 64 Mpx default, under Pillow's own 89 Mpx limit.
    path = tmp_path / "bomb81.png"
    _write_bilevel_png(path, 9000, 9000)
    assert path.stat().st_size < 100_000
    text = _error_text(path)
    assert "9000x9000" in text and "64,000,000" in text
    assert decode_spy == []


def test_real_bomb_20000_squared_refused_quickly_without_decoding(tmp_path, decode_spy):
    path = tmp_path / "bomb400.png"
    _write_bilevel_png(path, 20000, 20000)
    assert path.stat().st_size < 200_000, "a single-colour PNG compresses tiny"
    start = time.perf_counter()
    _error_text(path)
    assert time.perf_counter() - start < 5.0
    assert decode_spy == [], "400 Mpx must never be decoded"
    # Above Pillow's own hard limit: its DecompressionBombError becomes an ImageError too.
    _error_text(path, max_pixels=10**12)
    assert decode_spy == []


def test_pillow_bomb_warning_becomes_an_error(tmp_path, decode_spy):
    # 9500 x 9500 = 90.25 Mpx: just over Pillow's warning threshold, within our max_pixels.
    path = tmp_path / "bomb90.png"
    _write_bilevel_png(path, 9500, 9500)
    _error_text(path, max_pixels=100_000_000)
    assert decode_spy == []


def test_global_pillow_settings_untouched(tmp_path):
    limit, truncated = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    path = tmp_path / "bomb.png"
    _write_bilevel_png(path, 9000, 9000)
    with pytest.raises(ImageError):
        load_image(path)
    assert (limit, truncated) == (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)


def _readable(path: Path) -> bool:
    try:
        with open(path, "rb"):
            return True
    except PermissionError:
        return False


def test_unreadable_file_permissions(tmp_path):
    path = tmp_path / "secret.png"
    _noise_rgb().save(path)
    path.chmod(0)
    try:
        if _readable(path):
            pytest.skip("chmod 000 does not block reads here (running as root?)")
        assert "permission" in _error_text(path)
    finally:
        path.chmod(0o644)


def test_permission_error_on_open_is_reported(tmp_path, monkeypatch):
    """The same path as above, independent of the user the tests run as."""
    path = tmp_path / "secret.png"
    _noise_rgb().save(path)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(images_module, "open", denied, raising=False)
    assert "permission denied" in _error_text(path)


def test_image_error_is_a_thinktwice_error(tmp_path):
    with pytest.raises(ThinkTwiceError):
        load_image(tmp_path / "missing.png")


def test_max_pixels_must_be_positive(tmp_path):
    with pytest.raises(ValueError):
        load_image(tmp_path / "x.png", max_pixels=0)


# --- conversions -----------------------------------------------------------------------------


def _pixels(path: Path) -> np.ndarray:
    image = load_image(path)
    assert image.mode == "RGB"
    return np.asarray(image)


def test_cmyk_jpeg_to_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (32, 16), (0, 255, 255, 0)).save(path, quality=95)  # pure red
    assert Image.open(path).mode == "CMYK"
    pixels = _pixels(path).astype(int)
    assert pixels.shape == (16, 32, 3)
    assert np.abs(pixels - [255, 0, 0]).max() <= 8


def test_sixteen_bit_png_gradient_scaled_by_256(tmp_path):
    path = tmp_path / "gray16.png"
    columns = np.arange(256, dtype=np.uint32)
    gradient = np.tile(columns * 257, (3, 1)).astype(np.uint16)  # 0 .. 65535 across the row
    Image.fromarray(gradient).save(path)
    assert Image.open(path).mode == "I;16"
    pixels = _pixels(path)
    assert pixels.dtype == np.uint8 and pixels.shape == (3, 256, 3)
    np.testing.assert_array_equal(pixels[..., 0], np.tile(columns, (3, 1)))
    np.testing.assert_array_equal(pixels[..., 0], pixels[..., 2])


def test_int32_mode_uses_the_value_range():
    eight = Image.fromarray(np.array([[0, 100, 255]], dtype=np.int32))
    sixteen = Image.fromarray(np.array([[0, 25600, 65535]], dtype=np.int32))
    wide = Image.fromarray(np.array([[-10, 0, 10]], dtype=np.int32))
    assert eight.mode == sixteen.mode == wide.mode == "I"
    assert image_to_array(eight)[0, :, 0].tolist() == [0, 100, 255]
    assert image_to_array(sixteen)[0, :, 0].tolist() == [0, 100, 255]
    assert image_to_array(wide)[0, :, 0].tolist() == [0, 128, 255]


def test_float_mode_stretched_to_min_max():
    values = np.array([[-1.0, 0.0, 1.0], [np.nan, 0.5, 1.0]], dtype=np.float32)
    pixels = image_to_array(Image.fromarray(values))
    assert pixels[0, :, 0].tolist() == [0, 128, 255]
    assert pixels[1, 0, 0] == 0  # non-finite values become 0 instead of poisoning the range
    flat = image_to_array(Image.fromarray(np.full((2, 2), 7.0, np.float32)))
    assert not flat.any()


def test_rgba_transparent_background_becomes_white(tmp_path):
    path = tmp_path / "logo.png"
    rgba = np.zeros((8, 8, 4), np.uint8)  # transparent black everywhere ...
    rgba[2:6, 2:6] = [0, 0, 255, 255]  # ... except an opaque blue square
    rgba[0, 0] = [0, 0, 0, 128]  # half-transparent black
    Image.fromarray(rgba).save(path)
    pixels = _pixels(path).astype(int)
    assert pixels[7, 7].tolist() == [255, 255, 255]
    assert pixels[3, 3].tolist() == [0, 0, 255]
    assert np.abs(pixels[0, 0] - 127).max() <= 1


def test_la_over_white(tmp_path):
    path = tmp_path / "la.png"
    Image.new("LA", (4, 4), (0, 0)).save(path)
    assert (_pixels(path) == 255).all()


def test_palette_with_transparency_over_white(tmp_path):
    path = tmp_path / "palette.png"
    image = Image.new("P", (6, 6), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * (3 * 254))
    image.paste(1, (0, 0, 3, 6))  # left half red, right half index 0 (transparent black)
    image.save(path, transparency=0)
    pixels = _pixels(path)
    assert pixels[:, :3].reshape(-1, 3).tolist() == [[255, 0, 0]] * 18
    assert (pixels[:, 3:] == 255).all()


def test_palette_without_transparency(tmp_path):
    path = tmp_path / "palette.gif"
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 10, 200, 30] + [0] * (3 * 254))
    image.save(path)
    assert (_pixels(path) == [10, 200, 30]).all()


def test_grayscale_and_bilevel(tmp_path):
    gray = tmp_path / "gray.png"
    Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16)).save(gray)
    pixels = _pixels(gray)
    assert pixels.shape == (16, 16, 3)
    np.testing.assert_array_equal(pixels[..., 1], np.arange(256).reshape(16, 16))
    assert (pixels[..., 0] == pixels[..., 2]).all()
    bilevel = tmp_path / "bilevel.png"
    Image.new("1", (5, 3), 1).save(bilevel)
    assert (_pixels(bilevel) == 255).all()


def test_exif_orientation_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    stored = np.zeros((20, 40, 3), np.uint8)  # stored landscape, 40 wide
    stored[:8, :8] = [255, 0, 0]  # red mark in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    image = load_image(path)
    assert image.size == (20, 40), "width and height must be swapped"
    pixels = np.asarray(image).astype(int)
    assert pixels[2, -3, 0] > 200 and pixels[2, 2, 0] < 50  # the mark moved to the top-right


def test_real_photo():
    photo = SHARED / "images" / "cat_dog_1.jpg"
    if not photo.exists():
        pytest.skip(f"{photo} is absent")
    image = load_image(photo)
    assert image.mode == "RGB" and image.size == Image.open(photo).size


# --- arrays and batches ----------------------------------------------------------------------


def test_image_to_array_shape_dtype_and_writable():
    array = image_to_array(Image.new("L", (7, 5), 9))
    assert array.shape == (5, 7, 3) and array.dtype == np.uint8
    array[0, 0] = 0  # a copy the caller may modify
    assert (array[1:] == 9).all()
    with pytest.raises(TypeError):
        image_to_array(np.zeros((2, 2, 3), np.uint8))


def test_to_rgb_keeps_rgb_untouched():
    image = _noise_rgb(4, 4)
    assert to_rgb(image) is image


def test_load_images_keeps_going_and_order(tmp_path):
    good = tmp_path / "good.png"
    _noise_rgb(10, 10).save(good)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "text.jpg"
    text.write_text("hello")
    paths = [good, tmp_path / "missing.png", empty, str(good), text]
    results = load_images(paths)
    assert [path for path, _ in results] == paths
    for index in (0, 3):
        assert isinstance(results[index][1], Image.Image) and results[index][1].mode == "RGB"
    for index in (1, 2, 4):
        assert isinstance(results[index][1], ImageError)
        assert str(paths[index]) in str(results[index][1])
