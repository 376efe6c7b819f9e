"""GrabCut's warm engine against cv2.grabCut, and its cuts against brute force."""

from __future__ import annotations

import itertools
import json

import cv2
import numpy as np
import pytest

from thinktwice.io import image_to_array, load_image
from thinktwice.localization import grabcut_box, grabcut_seeds
from thinktwice.localization.graph_cut import grabcut_mask, iterations
from thinktwice.localization.graph_cut.colour_models import ColourTable, kmeans_start
from thinktwice.localization.graph_cut.pixel_graph import (
    GAMMA,
    ProbableGraph,
    smoothness_weights,
)

from .conftest import SHARED, SHARED_IMAGES, require_shared
from .test_localization import scene

pytest.importorskip("maxflow", reason="the warm engine needs PyMaxflow (thinktwice[maxflow])")

VOC_PHOTOS = SHARED / "datasets" / "voc2007" / "JPEGImages"


def blobs(height: int = 72, width: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A BGR photo of noisy colour patches and a smooth map over two of them: a cut with
    real ambiguity (patches of near colours on both sides of the seeds)."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float64)
    for _ in range(12):
        y, x = rng.integers(0, height), rng.integers(0, width)
        h, w = rng.integers(8, 30, size=2)
        image[y : y + h, x : x + w] = rng.integers(0, 256, size=3)
    image = np.clip(image + rng.normal(0, 18, image.shape), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:height, :width]
    saliency = np.exp(-((yy - height * 0.45) ** 2 + (xx - width * 0.55) ** 2) / (2 * 15.0**2))
    saliency += 0.6 * np.exp(-((yy - height * 0.2) ** 2 + (xx - width * 0.2) ** 2) / 50.0)
    return image, saliency


def same_as_opencv(bgr: np.ndarray, seeds: np.ndarray, count: int) -> None:
    opencv = grabcut_mask(bgr, seeds, count, engine="opencv")
    warm = grabcut_mask(bgr, seeds, count, engine="warm")
    assert np.array_equal(warm, opencv), f"{int((warm != opencv).sum())} pixels differ"


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("count", [0, 1, 2, 5])
def test_the_warm_engine_leaves_opencvs_mask_on_ambiguous_scenes(seed, count):
    image, saliency = blobs(seed=seed)
    seeds = grabcut_seeds(saliency)
    same_as_opencv(image, seeds, count)
    assert np.array_equal(seeds, grabcut_seeds(saliency))  # seeds untouched


def test_the_warm_engine_leaves_opencvs_mask_on_the_rectangle_scene():
    image, saliency, _ = scene()
    same_as_opencv(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), grabcut_seeds(saliency), 5)


def test_the_warm_engine_leaves_opencvs_mask_on_real_photos():
    require_shared(VOC_PHOTOS)
    for path in sorted(VOC_PHOTOS.glob("*.jpg"))[:3]:
        bgr = cv2.imread(str(path))
        height, width = bgr.shape[:2]
        yy, xx = np.mgrid[:height, :width]
        dy, dx = (yy - height / 2) / (height / 4), (xx - width / 2) / (width / 5)
        smooth = np.exp(-(dy**2 + dx**2))
        speckled = smooth * np.random.default_rng(0).random(smooth.shape)  # gradient-like
        for saliency in (smooth, speckled):
            same_as_opencv(bgr, grabcut_seeds(saliency), 5)


def test_the_kitten_box_is_the_same_with_either_engine():
    require_shared(SHARED_IMAGES)
    entry = json.loads((SHARED_IMAGES / "boxes.json").read_text())["images"][0]
    image = image_to_array(load_image(SHARED_IMAGES / entry["file"]))
    saliency = np.zeros(image.shape[:2], np.float32)
    x0, y0, x1, y1 = entry["objects"][0]["box"]
    saliency[y0:y1, x0:x1] = 1.0
    saliency = cv2.GaussianBlur(saliency, (31, 31), 10)
    boxes = [grabcut_box(image, saliency, engine=e).box for e in ("warm", "opencv")]
    assert boxes[0] is not None and boxes[0] == boxes[1]


def test_one_colour_components_are_opencvs():
    """Flat colour regions: components of one colour, whose covariance OpenCV fixes."""
    image = np.zeros((40, 60, 3), np.uint8)
    image[:] = (40, 160, 60)
    image[10:30, 20:40] = (200, 30, 30)
    image[0:5, 0:5] = (7, 7, 7)
    saliency = np.zeros((40, 60))
    saliency[10:30, 20:40] = 1
    saliency += np.linspace(0, 0.5, 60)[None]
    same_as_opencv(image, grabcut_seeds(saliency), 5)


def near_singular_scene() -> tuple[np.ndarray, np.ndarray]:
    """Foreground of four noisy colours and one nearly constant group (three of its 1,000
    pixels off by one): a component whose covariance determinant lies between 1e-16 and 1e-6."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (100, 100, 3)).astype(np.uint8)
    seeds = np.full((100, 100), cv2.GC_BGD, np.uint8)
    seeds[:, 50:] = cv2.GC_FGD
    flat = np.full((5000, 3), 100, np.uint8)
    flat[0], flat[1], flat[2] = (101, 100, 100), (100, 101, 100), (100, 100, 101)
    for group, centre in enumerate([(10, 200, 30), (220, 20, 40), (30, 30, 220), (240, 240, 240)]):
        noisy = np.array(centre) + rng.normal(0, 8, (1000, 3))
        flat[1000 + group * 1000 : 2000 + group * 1000] = np.clip(noisy, 0, 255)
    image[:, 50:] = flat.reshape(100, 50, 3)
    return image, seeds


def test_the_kmeans_start_is_opencvs_with_its_singular_fix():
    image, seeds = near_singular_scene()
    models = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(iterations.GRABCUT_SEED)
    cv2.grabCut(image, seeds.copy(), None, *models, 0, cv2.GC_INIT_WITH_MASK)
    cv2.setRNGSeed(iterations.GRABCUT_SEED)
    ours = kmeans_start(image, ColourTable.of(image), (seeds & 1).astype(bool))
    covariances = models[1][0, 20:].reshape(5, 3, 3)
    variances = np.diagonal(covariances, axis1=1, axis2=2)
    fixed = [k for k in range(5) if np.allclose(variances[k], 0.01 + 0.000999, atol=1e-6)]
    assert len(fixed) == 1  # the near-constant group, 0.01 added (its determinant was ~1e-9)
    np.testing.assert_allclose(ours[1].inverses, np.linalg.inv(covariances), rtol=1e-9)


def test_the_kmeans_start_is_opencvs():
    image, saliency = blobs(seed=5)
    seeds = grabcut_seeds(saliency)
    models = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(iterations.GRABCUT_SEED)
    cv2.grabCut(image, seeds.copy(), None, *models, 0, cv2.GC_INIT_WITH_MASK)
    cv2.setRNGSeed(iterations.GRABCUT_SEED)
    ours = kmeans_start(image, ColourTable.of(image), (seeds & 1).astype(bool))
    for theirs, mixture in zip(models, ours, strict=True):
        weights, means, covariances = theirs[0, :5], theirs[0, 5:20], theirs[0, 20:]
        np.testing.assert_allclose(mixture.weights, weights, rtol=1e-12)
        np.testing.assert_allclose(mixture.means.ravel(), means, rtol=1e-12)
        inverses = np.linalg.inv(covariances.reshape(5, 3, 3))
        np.testing.assert_allclose(mixture.inverses, inverses, rtol=1e-9)


def test_smoothness_weights_by_hand():
    bgr = np.array([[[0, 0, 0], [3, 0, 0]], [[0, 4, 0], [0, 0, 0]]], np.uint8)
    left, upleft, up, upright = smoothness_weights(bgr)
    # squared differences: left 9 and 16; up 16 and 9; up-left 0; up-right 25 (2x2: 6 pairs)
    beta = 1 / (2 * (9 + 16 + 16 + 9 + 0 + 25) / 6)
    diagonal = GAMMA / float(np.sqrt(np.float32(2)))
    np.testing.assert_allclose(left.ravel(), GAMMA * np.exp(-beta * np.array([9, 16])))
    np.testing.assert_allclose(up.ravel(), GAMMA * np.exp(-beta * np.array([16, 9])))
    np.testing.assert_allclose(upleft.ravel(), [diagonal])
    np.testing.assert_allclose(upright.ravel(), diagonal * np.exp(-beta * np.array([25])))


def energy(seeds, labels, weights, background_cost, foreground_cost):
    """GrabCut's energy of foreground flags ``labels`` (definite pixels at their seed)."""
    probable = (seeds == cv2.GC_PR_BGD) | (seeds == cv2.GC_PR_FGD)
    foreground = (seeds == cv2.GC_FGD).copy()
    foreground[probable] = labels
    total = np.where(labels, foreground_cost, background_cost).sum()
    slices = [((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
              ((slice(1, None), slice(1, None)), (slice(None, -1), slice(None, -1))),
              ((slice(1, None), slice(None)), (slice(None, -1), slice(None))),
              ((slice(1, None), slice(None, -1)), (slice(None, -1), slice(1, None)))]  # fmt: skip
    for (a, b), w in zip(slices, weights, strict=True):
        total += w[foreground[a] != foreground[b]].sum()
    return total


@pytest.mark.parametrize("seed", range(6))
def test_every_cut_cold_or_warm_is_a_minimum_of_its_energy(seed):
    rng = np.random.default_rng(seed)
    seeds = rng.choice([cv2.GC_BGD, cv2.GC_FGD, cv2.GC_PR_BGD, cv2.GC_PR_FGD], size=(3, 4),
                       p=[0.2, 0.15, 0.35, 0.3]).astype(np.uint8)  # fmt: skip
    seeds[0, 0], seeds[-1, -1] = cv2.GC_BGD, cv2.GC_FGD
    bgr = rng.integers(0, 256, size=(3, 4, 3)).astype(np.uint8)
    weights = smoothness_weights(bgr)
    graph = ProbableGraph(seeds, weights)
    count = int(graph.probable.sum())
    every = np.array(list(itertools.product([False, True], repeat=count)))
    for _ in range(3):  # the first cut cold, the next two warm on new costs
        costs = rng.uniform(0, 60, size=(2, count))
        foreground = ~graph.cut(*costs)
        energies = [energy(seeds, labels, weights, *costs) for labels in every]
        assert energy(seeds, foreground, weights, *costs) == pytest.approx(min(energies))


def test_engines_are_checked_and_auto_falls_back_to_opencv(monkeypatch):
    image, saliency = blobs()
    seeds = grabcut_seeds(saliency)
    with pytest.raises(ValueError, match="unknown GrabCut engine 'fast'"):
        grabcut_mask(image, seeds, engine="fast")
    assert iterations.resolved_engine("auto") == "warm"
    monkeypatch.setattr(iterations, "warm_maxflow_available", lambda: False)
    assert iterations.resolved_engine("auto") == "opencv"
    with pytest.raises(ImportError, match=r"thinktwice\[maxflow\]"):
        grabcut_mask(image, seeds, engine="warm")
