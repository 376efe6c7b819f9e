"""The coarse-to-fine GrabCut box (``--box grabcut_coarse``): what it guarantees."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from thinktwice.localization import coarse_grabcut_box, grabcut_box, iou, localize

from .test_localization import scene


def cluttered(width: int, height: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A photo of colour blobs and a smooth map off-centre, so GrabCut's iterations move."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (max(1, height // 8), max(1, width // 8), 3)).astype(np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    image = np.clip(image + rng.integers(-20, 20, image.shape), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    smap = np.exp(-((xx - 0.4 * width) ** 2 + (yy - 0.55 * height) ** 2) / (0.05 * width * height))
    return image, smap.astype(np.float32)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_photo_at_most_the_coarse_side_gets_the_papers_box(seed):
    image, smap = cluttered(120, 90, seed)
    coarse, paper = coarse_grabcut_box(image, smap), grabcut_box(image, smap)
    assert coarse.box == paper.box and np.array_equal(coarse.mask, paper.mask)


def test_the_box_is_in_the_photo_and_finds_the_salient_rectangle():
    image, saliency, truth = scene(width=400, height=300, box=(100, 75, 299, 224))
    result = coarse_grabcut_box(image, saliency, max_side=320)
    assert result.box is not None and iou(result.box, truth) >= 0.9
    assert result.mask.shape == (300, 400)
    assert 0 <= result.box.x0 <= result.box.x1 < 400 and 0 <= result.box.y0 <= result.box.y1 < 300
    assert localize(image, saliency, "grabcut_coarse", max_side=320).box == result.box


def test_it_is_deterministic_whatever_ran_before():
    image, smap = cluttered(320, 240, seed=3)
    first = coarse_grabcut_box(image, smap)
    cv2.setRNGSeed(123)
    cv2.kmeans(np.random.default_rng(0).random((50, 3), np.float32), 3, None,
               (cv2.TERM_CRITERIA_MAX_ITER, 3, 0), 1, cv2.KMEANS_RANDOM_CENTERS)  # fmt: skip
    again = coarse_grabcut_box(image, smap)
    assert first.box == again.box and np.array_equal(first.mask, again.mask)


def test_a_map_that_seeds_no_background_gives_the_papers_reason():
    image, _, _ = scene()
    flat = np.zeros((90, 120), np.float32)
    flat[:, :60] = 1.0
    assert coarse_grabcut_box(image, flat).reason == grabcut_box(image, flat).reason
