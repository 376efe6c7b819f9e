"""Visualization primitives: overlays, boxes, atomic files and the paper-style figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.text import Text
from PIL import Image

from thinktwice.io import files as files_module  # atomic_write lives in io/files.py
from thinktwice.visualization import (
    DEFAULT_CMAP,
    atomic_write,
    bar_chart,
    class_title,
    draw_boxes,
    feedback_trace_figure,
    format_probability,
    greyed,
    grid_figure,
    method_label,
    model_comparison_figure,
    normalise_saliency,
    overlay,
    overlay_figure,
    save_figure,
    save_png,
)


@pytest.fixture
def photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)


def _blob(height: int = 12, width: int = 16, cy: float = 0.5, cx: float = 0.3) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.exp(-((x - cx * width) ** 2 + (y - cy * height) ** 2) / 8.0)


def _texts(figure) -> list[str]:
    """Every non-empty text in a figure (titles, labels, suptitles of subfigures...)."""
    return [t.get_text() for t in figure.findobj(Text) if t.get_text().strip()]


# --- overlay ---------------------------------------------------------------------------------


def test_overlay_shape_dtype_and_inputs_untouched(photo):
    saliency = _blob()
    before_photo, before_map = photo.copy(), saliency.copy()
    blended = overlay(photo, saliency)
    assert blended.shape == photo.shape and blended.dtype == np.uint8
    np.testing.assert_array_equal(photo, before_photo)
    np.testing.assert_array_equal(saliency, before_map)


def test_overlay_of_zero_map_is_the_greyed_photo_blended_with_the_zero_colour(photo):
    zero_colour = np.array(matplotlib.colormaps[DEFAULT_CMAP](0.0, bytes=True)[:3], dtype=float)
    expected = 0.7 * greyed(photo).astype(float) + 0.3 * zero_colour
    blended = overlay(photo, np.zeros((5, 5)), alpha=0.3)
    assert np.abs(blended.astype(float) - expected).max() <= 1.0
    in_colour = overlay(photo, np.zeros((5, 5)), alpha=0.3, grey=False)
    assert np.abs(in_colour - (0.7 * photo + 0.3 * zero_colour)).max() <= 1.0


def test_the_default_colormap_is_perceptual_and_the_photo_grey(photo):
    assert DEFAULT_CMAP in ("inferno", "magma", "viridis", "cividis", "plasma")
    grey = greyed(photo)
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    white = np.full((2, 2, 3), 255, np.uint8)
    assert (greyed(white) == 255).all()


@pytest.mark.parametrize("flat", [np.zeros((4, 4)), np.full((4, 4), -3.0), np.full((4, 4), np.nan)])
def test_normalise_flat_or_invalid_map_has_no_nan(flat):
    unit = normalise_saliency(flat, (8, 8))
    assert unit.shape == (8, 8) and np.isfinite(unit).all() and not unit.any()


def test_normalise_resizes_bilinearly_and_peaks_at_one():
    low = np.array([[0.0, 2.0], [0.0, 2.0]])
    unit = normalise_saliency(low, (10, 20))
    assert unit.shape == (10, 20) and unit.dtype == np.float32
    assert unit.max() == pytest.approx(1.0) and unit.min() >= 0.0
    assert (np.diff(unit[5]) >= -1e-6).all(), "bilinear: monotone from the cold to the hot side"
    assert 0.0 < unit[5, 10] < 1.0, "bilinear: intermediate values between the two columns"


def test_overlay_alpha_extremes(photo):
    saliency = _blob()
    np.testing.assert_array_equal(overlay(photo, saliency, alpha=0.0), greyed(photo))
    np.testing.assert_array_equal(overlay(photo, saliency, alpha=0.0, grey=False), photo)
    pure = overlay(photo, saliency, alpha=1.0, cmap="gray")
    unit = normalise_saliency(saliency, photo.shape[:2])
    assert np.abs(pure[..., 0].astype(float) - unit * 255).max() <= 2.0  # 256-entry LUT
    with pytest.raises(ValueError):
        overlay(photo, saliency, alpha=1.5)


def test_overlay_rejects_bad_inputs(photo):
    with pytest.raises(ValueError):
        overlay(photo.astype(np.float32), _blob())
    with pytest.raises(ValueError):
        overlay(photo[..., 0], _blob())
    with pytest.raises(ValueError):
        overlay(photo, np.zeros((2, 2, 2)))
    with pytest.raises(ValueError):
        overlay(photo, _blob(), cmap="no-such-colormap")


# --- boxes -----------------------------------------------------------------------------------


def test_draw_boxes_inclusive_corners(photo):
    box = (10, 5, 30, 20)
    drawn = draw_boxes(photo, [box], colours=[(255, 0, 255)], width=1)
    assert drawn.shape == photo.shape and drawn.dtype == np.uint8
    magenta = [255, 0, 255]
    for x, y in [(10, 5), (30, 5), (10, 20), (30, 20), (20, 5), (10, 12), (30, 12), (20, 20)]:
        assert drawn[y, x].tolist() == magenta, f"pixel ({x}, {y}) is on the box"
    for x, y in [(31, 12), (20, 21), (9, 12), (20, 4)]:
        assert drawn[y, x].tolist() == photo[y, x].tolist(), f"pixel ({x}, {y}) is outside"
    np.testing.assert_array_equal(drawn[6:20, 11:30], photo[6:20, 11:30])


def test_draw_boxes_labels_defaults_and_box_objects(photo):
    class BoxLike:
        def as_list(self):
            return [5, 30, 40, 45]

    plain = draw_boxes(photo, [(5, 30, 40, 45)])
    labelled = draw_boxes(photo, [BoxLike()], labels=["cat"], colours=["red"])
    assert not np.array_equal(plain, photo)
    above = slice(10, 30)  # the label tag sits above the box
    assert not np.array_equal(labelled[above, 5:40], photo[above, 5:40])
    assert labelled[30, 20].tolist() == [255, 0, 0]
    untouched = photo.copy()
    draw_boxes(untouched, [(0, 0, 5, 5)])
    np.testing.assert_array_equal(untouched, photo)


def test_draw_boxes_rejects_bad_boxes(photo):
    with pytest.raises(ValueError):
        draw_boxes(photo, [(10, 10, 5, 20)])
    with pytest.raises(ValueError):
        draw_boxes(photo, [(1, 2, 3)])
    with pytest.raises(ValueError):
        draw_boxes(photo, [(1, 2, 3, 4)], labels=["a", "b"])


# --- files -----------------------------------------------------------------------------------


def test_save_png_round_trip_without_temp_files(tmp_path, photo):
    path = tmp_path / "out.png"
    returned = save_png(photo, path)
    assert returned == path
    with Image.open(path) as image:
        assert image.format == "PNG"
        np.testing.assert_array_equal(np.asarray(image), photo)
    save_png(photo[..., 0], str(path))  # overwriting works, 2-D arrays too
    with Image.open(path) as image:
        np.testing.assert_array_equal(np.asarray(image), photo[..., 0])
    assert sorted(os.listdir(tmp_path)) == ["out.png"]


def test_save_png_rejects_non_uint8(tmp_path, photo):
    with pytest.raises(ValueError):
        save_png(photo.astype(np.float64), tmp_path / "x.png")
    assert os.listdir(tmp_path) == []


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "keep.png"
    path.write_bytes(b"old")

    def broken(handle):
        handle.write(b"partial")
        raise RuntimeError("renderer crashed")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["keep.png"]


def test_missing_folder_error_names_the_path(tmp_path, photo):
    target = tmp_path / "nowhere" / "out.png"
    with pytest.raises(OSError, match="nowhere") as caught:
        save_png(photo, target)
    assert str(target) in str(caught.value)


def _can_create_in(folder: Path) -> bool:
    probe = folder / "probe"
    try:
        probe.touch()
    except PermissionError:
        return False
    probe.unlink()
    return True


def test_unwritable_folder_error_names_the_path(tmp_path, photo):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if _can_create_in(folder):
            pytest.skip("a read-only folder does not block writes here (running as root?)")
        with pytest.raises(OSError) as caught:
            save_png(photo, folder / "out.png")
        assert str(folder / "out.png") in str(caught.value)
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o755)


def test_permission_denied_message_independent_of_user(tmp_path, photo, monkeypatch):
    """The same error path as above, forced, so it is checked even when tests run as root."""

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files_module.os, "open", denied)
    target = tmp_path / "out.png"
    with pytest.raises(OSError) as caught:
        save_png(photo, target)
    text = str(caught.value)
    assert str(target) in text and "not writable" in text and "\n" not in text


def test_save_figure_dpi_format_and_no_temp(tmp_path, photo):
    figure = grid_figure(photo, [("cat", [("gradient", _blob())])], colorbar=False)
    width_inches = figure.get_size_inches()[0]
    small, large = tmp_path / "small.png", tmp_path / "large.png"
    save_figure(figure, small, dpi=40)
    save_figure(figure, large, dpi=80)
    with Image.open(small) as a, Image.open(large) as b:
        assert a.width == round(width_inches * 40)
        assert b.width == round(width_inches * 80)
    save_figure(figure, tmp_path / "figure.pdf")
    assert (tmp_path / "figure.pdf").read_bytes()[:4] == b"%PDF"
    assert sorted(os.listdir(tmp_path)) == ["figure.pdf", "large.png", "small.png"]


# --- figures ---------------------------------------------------------------------------------


ROWS = [
    ("tabby cat 0.62", [("gradient", _blob()), ("deconv", _blob()), ("feedback", _blob())]),
    ("beagle 0.21", [("gradient", _blob(cx=0.7)), ("deconv", _blob()), ("feedback", _blob())]),
]


def test_grid_figure_axes_and_titles(photo):
    figure = grid_figure(photo, ROWS, colorbar=False, title="example")
    assert len(figure.axes) == 2 * 4
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[:4] == ["input", "gradient", "deconv", "feedback"]
    assert all(title == "" for title in titles[4:]), "method names only head the first row"
    ylabels = [ax.get_ylabel().replace("\n", " ") for ax in figure.axes]
    assert ylabels[0] == "tabby cat 0.62" and ylabels[4] == "beagle 0.21"
    assert "example" in _texts(figure)
    assert all(ax.images for ax in figure.axes)


def test_grid_figure_colorbar_and_map_style(tmp_path, photo):
    figure = grid_figure(photo, ROWS, style="map")
    assert len(figure.axes) == 2 * 4 + 1
    assert "relative saliency" in _texts(figure)
    save_figure(figure, tmp_path / "grid.png", dpi=30)
    with pytest.raises(ValueError):
        grid_figure(photo, ROWS, style="contour")


def test_grid_figure_rejects_ragged_rows(photo):
    ragged = [ROWS[0], ("beagle", [("gradient", _blob())])]
    with pytest.raises(ValueError, match="same"):
        grid_figure(photo, ragged)


def test_model_comparison_figure_layout(tmp_path, photo):
    models = [
        (name, [("zebra", _blob()), ("elephant", _blob(cx=0.8))])
        for name in ("alexnet", "vgg", "googlenet")
    ]
    figure = model_comparison_figure(photo, models, colorbar=False)
    image_axes = [ax for ax in figure.axes if ax.images]
    assert len(image_axes) == 1 + 2 * 3
    titles = [ax.get_title() for ax in image_axes]
    assert titles.count("alexnet") == 2 and titles.count("googlenet") == 2
    texts = _texts(figure)
    assert "zebra" in texts and "elephant" in texts
    with_bar = model_comparison_figure(photo, models, classes_per_row=1)
    assert len([ax for ax in with_bar.axes if ax.images]) == 2 + 2 * 3  # photo on each row
    save_figure(with_bar, tmp_path / "models.png", dpi=30)


def test_model_comparison_shows_differing_class_titles(photo):
    models = [("lite0", [("zebra 0.9", _blob())]), ("lite1", [("zebra 0.7", _blob())])]
    titles = [ax.get_title() for ax in model_comparison_figure(photo, models).axes]
    assert "lite0" in titles and "lite1\nzebra 0.7" in titles
    with pytest.raises(ValueError):
        model_comparison_figure(photo, [("a", [("x", _blob())]), ("b", [])])


def test_feedback_trace_from_mapping(tmp_path):
    fractions = {"conv1": [1.0, 0.8, 0.7], "conv2": [1.0, 0.5, 0.4], "fc": [1.0, 1.0, 0.9]}
    figure = feedback_trace_figure([1.0, 2.0, 2.5], fractions, title="beagle")
    score_axes, heat_axes = figure.axes[:2]
    assert len(figure.axes) == 3  # score, heat map, colorbar
    np.testing.assert_array_equal(score_axes.lines[0].get_ydata(), [1.0, 2.0, 2.5])
    heat = heat_axes.images[0].get_array()
    assert heat.shape == (3, 3) and heat[1, 2] == pytest.approx(0.4)
    assert [t.get_text() for t in heat_axes.get_yticklabels()] == ["conv1", "conv2", "fc"]
    assert "beagle" in _texts(figure) and "mean gate (share open)" in _texts(figure)
    save_figure(figure, tmp_path / "trace.png", dpi=30)


def test_feedback_trace_from_array_forty_layers(tmp_path):
    names = [f"blocks.{i}.relu" for i in range(40)]
    figure = feedback_trace_figure(np.linspace(0, 1, 8), np.random.rand(40, 8), names)
    labels = [t.get_text() for t in figure.axes[1].get_yticklabels()]
    assert labels == names
    assert figure.get_size_inches()[1] >= 7.0, "tall enough for 40 readable layer names"
    with pytest.raises(ValueError):
        feedback_trace_figure([1.0], np.random.rand(3, 4), names[:2])
    with pytest.raises(ValueError):
        feedback_trace_figure([1.0], {"a": [1.0, 0.5], "b": [1.0]})


def test_bar_chart_has_one_panel_per_measure_with_display_names(tmp_path):
    errors = {
        "gradient": {"loc_error_gt": 0.42, "loc_error_top1": 0.51, "pointing": 0.3},
        "guided_backprop": {"loc_error_gt": 0.38, "loc_error_top1": 0.48},
    }
    figure = bar_chart(errors, ["loc_error_gt", "loc_error_top1", "pointing"], "ImageNet")
    panels = figure.axes
    assert len(panels) == 3  # errors and pointing never share an axis
    assert [p.get_title() for p in panels] == [
        "Localization error, GT label",
        "Localization error, top-1",
        "Pointing game",
    ]
    assert "lower is better" in panels[0].get_ylabel()
    assert "higher is better" in panels[2].get_ylabel()
    heights = [[bar.get_height() for bar in panel.patches] for panel in panels]
    assert heights[0] == pytest.approx([0.42, 0.38]) and heights[1] == pytest.approx([0.51, 0.48])
    assert heights[2][0] == pytest.approx(0.3) and np.isnan(heights[2][1])  # no value, no bar
    texts = _texts(figure)
    assert {"42.0%", "38.0%", "30.0%", "ImageNet", "Gradient", "Guided backprop"} <= set(texts)
    assert "guided_backprop" not in texts
    assert [p.get_title() for p in bar_chart(errors).axes][-1] == "Pointing game"
    save_figure(figure, tmp_path / "bars.png", dpi=30)


def test_figures_leave_matplotlib_global_state_alone(photo):
    before = dict(matplotlib.rcParams)
    grid_figure(photo, ROWS)
    feedback_trace_figure([1.0, 2.0], np.ones((2, 2)), ["a", "b"])
    bar_chart({"m": {"e": 0.5}})
    assert dict(matplotlib.rcParams) == before


def test_visualization_never_imports_pyplot():
    code = (
        "import sys, numpy as np\n"
        "from thinktwice.visualization import grid_figure, save_figure\n"
        "image = np.zeros((8, 8, 3), np.uint8)\n"
        "grid_figure(image, [('a', [('m', np.ones((2, 2)))])])\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


# --- words on figures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("probability", "shown"),
    [(0.623, "62.3%"), (0.041, "4.1%"), (0.0037, "0.37%"), (0.00052, "0.052%"),
     (1e-7, "<0.001%"), (0.0, "0%"), (0.9997, ">99.9%"), (1.0, "100.0%")],
)  # fmt: skip
def test_probabilities_keep_their_digits(probability, shown):
    assert format_probability(probability) == shown


def test_titles_use_display_names():
    assert class_title("tiger cat", 282, 0.0012) == "tiger cat (282)\np = 0.12%"
    assert [method_label(m) for m in ("gradient", "guided_backprop", "gradcam", "feedback")] == [
        "Gradient",
        "Guided backprop",
        "Grad-CAM",
        "Feedback",
    ]


def test_overlay_figure_has_its_colour_bar_and_title(tmp_path, photo):
    figure = overlay_figure(photo, _blob(), title="tiger cat (282): Gradient")
    assert len(figure.axes) == 2  # the picture and its colour bar
    assert "relative saliency" in _texts(figure) and "tiger cat (282): Gradient" in _texts(figure)
    with Image.open(save_figure(figure, tmp_path / "one.png", dpi=50)) as picture:
        assert picture.size[0] > picture.size[1]


def test_boxes_are_drawn_thick_with_a_tall_label():
    photo = np.zeros((300, 450, 3), np.uint8)
    drawn = draw_boxes(photo, [(100, 100, 300, 250)], labels=["Egyptian cat"], colours=["red"])
    column = drawn[150, 90:120, 0]  # across the left edge, inside the photo
    assert (column == 255).sum() >= 4, "at least 4 px thick on a 300 px photo"
    tag_rows = np.nonzero((drawn[:100, 100:300, 0] == 255).any(axis=1))[0]
    assert len(tag_rows) >= 18, "the label tag is at least 18 px tall"


def test_display_clipping_stops_at_a_value_the_map_holds():
    """One rule for every picture of a map (the CLI's figures, the report's stored maps): the
    values above the order statistic at floor(0.995 (n - 1)) are lowered to it."""
    from thinktwice.visualization import DISPLAY_QUANTILE, clip_for_display

    values = np.random.default_rng(3).permutation(1000).astype(np.float32).reshape(20, 50)
    clipped = clip_for_display(values)
    ceiling = float(np.quantile(values, DISPLAY_QUANTILE, method="lower"))
    assert ceiling == 994.0 and clipped.max() == ceiling  # not np.quantile's 994.005
    assert clipped.dtype == np.float32 and clipped.shape == values.shape
    assert np.array_equal(clipped[values <= ceiling], values[values <= ceiling])
    assert int((clipped == ceiling).sum()) == 6  # 994 itself and the five above it
    dark = -np.ones((4, 4), np.float32)
    dark[0, 0] = 5.0
    assert np.array_equal(clip_for_display(dark), dark)  # ceiling <= 0: left as it is
