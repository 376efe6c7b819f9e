"""Boxes, IoU, GrabCut seeds and boxes on maps whose answer is known."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from thinktwice.errors import OptionError
from thinktwice.io import image_to_array, load_image
from thinktwice.localization import (
    Box,
    grabcut_box,
    grabcut_seeds,
    intersection,
    iou,
    localize,
    smoothed,
    threshold_box,
)

from .conftest import SHARED_IMAGES, require_shared


def scene(width=120, height=90, box=(30, 20, 79, 59)):
    """A photo with a red rectangle on green, and a map bright on the rectangle."""
    image = np.zeros((height, width, 3), np.uint8)
    image[...] = (40, 160, 60)
    x0, y0, x1, y1 = box
    image[y0 : y1 + 1, x0 : x1 + 1] = (200, 30, 30)
    rng = np.random.default_rng(0)
    image = np.clip(image + rng.integers(-10, 10, image.shape), 0, 255).astype(np.uint8)
    saliency = np.zeros((height, width), np.float32)
    saliency[y0 : y1 + 1, x0 : x1 + 1] = 1.0
    saliency += rng.random(saliency.shape).astype(np.float32) * 0.05
    return image, saliency, Box(*box)


def test_inclusive_box_convention_and_iou_by_hand():
    assert Box(0, 0, 9, 9).area == 100
    assert Box(5, 5, 5, 5).area == 1
    assert Box.from_exclusive(0, 0, 10, 10) == Box(0, 0, 9, 9)
    assert iou(Box(0, 0, 9, 9), Box(0, 0, 9, 9)) == 1.0
    # corners touch in exactly one pixel: 1 / (100 + 100 - 1)
    assert intersection(Box(0, 0, 9, 9), Box(9, 9, 18, 18)) == 1
    assert iou(Box(0, 0, 9, 9), Box(9, 9, 18, 18)) == pytest.approx(1 / 199)
    assert iou(Box(0, 0, 9, 9), Box(10, 0, 19, 9)) == 0.0
    # half overlap: 50 / (100 + 100 - 50)
    assert iou(Box(0, 0, 9, 9), Box(5, 0, 14, 9)) == pytest.approx(50 / 150)
    with pytest.raises(ValueError):
        Box(5, 0, 4, 3)


def test_box_scaling_and_mask_box():
    assert Box(0, 0, 63, 63).scale(224 / 64, 224 / 64) == Box(0, 0, 223, 223)
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:9] = True
    assert Box.from_mask(mask) == Box(3, 2, 8, 4)
    assert Box.from_mask(np.zeros((3, 3), bool)) is None


def test_seeds_follow_the_quantiles_exactly():
    saliency = np.arange(100, dtype=np.float32).reshape(10, 10)
    seeds = grabcut_seeds(saliency, fg_quantile=0.95, bg_quantile=0.30)
    high, low = np.quantile(saliency, [0.95, 0.30])
    assert np.array_equal(seeds == cv2.GC_FGD, saliency > high)
    assert np.array_equal(seeds == cv2.GC_BGD, saliency <= low)
    band = (saliency >= low) & (saliency <= high)
    assert set(np.unique(seeds[band])) <= {cv2.GC_PR_FGD, cv2.GC_PR_BGD}
    assert (seeds == cv2.GC_FGD).sum() == 5 and (seeds == cv2.GC_BGD).sum() == 30


def test_grabcut_finds_the_salient_rectangle():
    image, saliency, truth = scene()
    result = grabcut_box(image, saliency)
    assert result.box is not None and result.reason is None
    assert iou(result.box, truth) >= 0.9
    assert result.mask.shape == saliency.shape


def test_a_low_resolution_map_gives_a_box_in_original_pixels():
    image, saliency, truth = scene(width=500, height=313, box=(100, 80, 299, 239))
    small = cv2.resize(saliency, (7, 7), interpolation=cv2.INTER_AREA)
    result = grabcut_box(image, small)
    assert result.box is not None
    assert result.box.x0 >= 0 and result.box.x1 < 500 and result.box.y1 < 313
    assert iou(result.box, truth) >= 0.7
    big = cv2.resize(saliency, (224, 224))
    assert iou(grabcut_box(image, big).box, truth) >= 0.8


def test_the_largest_of_two_blobs_wins():
    saliency = np.zeros((100, 100), np.float32)
    saliency[10:20, 10:20] = 1.0  # small
    saliency[50:90, 40:90] = 1.0  # large
    result = threshold_box(saliency, (100, 100), fraction=0.5)
    assert result.box == Box(40, 50, 89, 89)


@pytest.mark.parametrize(
    ("saliency", "reason"),
    [
        (np.ones((20, 20), np.float32), "flat"),
        (np.zeros((20, 20), np.float32), "empty"),
        (np.full((20, 20), np.nan, np.float32), "NaN"),
        (np.zeros((0, 0), np.float32), "2-D and non-empty"),
    ],
)
def test_flat_empty_or_broken_maps_give_no_box_and_a_reason(saliency, reason):
    image = np.zeros((20, 20, 3), np.uint8)
    for method in ("grabcut", "threshold"):
        result = localize(image, saliency, method=method)
        assert result.box is None and reason in result.reason


def test_a_map_that_is_zero_almost_everywhere_still_seeds_both_sides():
    saliency = np.zeros((40, 40), np.float32)
    saliency[10:14, 20:26] = 1.0  # 24 of 1600 pixels: the 95% quantile is 0 as well
    seeds = grabcut_seeds(saliency)
    assert np.array_equal(seeds == cv2.GC_FGD, saliency > 0)
    assert np.array_equal(seeds == cv2.GC_BGD, saliency == 0)
    image = np.zeros((40, 40, 3), np.uint8)
    image[10:14, 20:26] = 255
    assert localize(image, saliency).box == Box(20, 10, 25, 13)


def test_threshold_box_on_a_known_blob_and_bad_arguments():
    _, saliency, truth = scene()
    assert threshold_box(saliency, (120, 90)).box == truth
    with pytest.raises(ValueError, match="unknown box method"):
        localize(np.zeros((4, 4, 3), np.uint8), saliency, method="nope")


def test_max_side_gives_nearly_the_same_box_on_a_big_photo():
    image, saliency, truth = scene(width=800, height=600, box=(200, 150, 599, 449))
    exact = grabcut_box(image, saliency)
    fast = grabcut_box(image, saliency, max_side=200)
    assert iou(fast.box, truth) >= 0.9 and iou(exact.box, truth) >= 0.9
    assert fast.mask.shape == (600, 800)


def test_grabcut_on_a_real_photo_with_a_map_on_the_kitten():
    require_shared(SHARED_IMAGES)
    entry = json.loads((SHARED_IMAGES / "boxes.json").read_text())["images"][0]
    image = image_to_array(load_image(SHARED_IMAGES / entry["file"]))
    kitten = Box.from_exclusive(*entry["objects"][0]["box"]).clip(image.shape[1], image.shape[0])
    saliency = np.zeros(image.shape[:2], np.float32)
    saliency[kitten.y0 : kitten.y1 + 1, kitten.x0 : kitten.x1 + 1] = 1.0
    saliency = cv2.GaussianBlur(saliency, (31, 31), 10)
    result = grabcut_box(image, cv2.resize(saliency, (224, 224)))
    assert result.box is not None and iou(result.box, kitten) >= 0.5


def test_smoothing_joins_speckle_into_one_blob_and_zero_is_the_paper_recipe():
    speckle = np.zeros((64, 64), np.float32)
    speckle[20:44:4, 20:44:4] = 1.0  # a 6x6 grid of single hot pixels
    assert smoothed(speckle, 0.0) is speckle
    blurred = smoothed(speckle, 0.05)
    assert blurred[30, 30] > 0 and blurred[22, 22] > 0  # the gaps between the dots filled
    assert blurred[2, 2] < blurred[30, 30] / 10  # and the far corner stays cold
    with pytest.raises(OptionError, match="smooth"):
        smoothed(speckle, -1.0)
