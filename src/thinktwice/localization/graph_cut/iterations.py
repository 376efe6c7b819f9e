"""GrabCut's iterations: OpenCV's algorithm with its colour models and graph, and OpenCV's
own ``cv2.grabCut`` kept as the reference it is checked against."""

from __future__ import annotations

import cv2
import numpy as np

from thinktwice.localization.graph_cut.colour_models import ColourTable, Mixture, kmeans_start
from thinktwice.localization.graph_cut.pixel_graph import (
    ProbableGraph,
    probable_pixels,
    smoothness_weights,
    warm_maxflow_available,
)

#: GrabCut's k-means start draws from OpenCV's thread RNG; seeding it makes a box depend
#: only on (photo, map), not on how many boxes the process computed before.
GRABCUT_SEED = 0
#: ``"warm"``: this package's (definite pixels out of the graph, warm max-flow, needs
#: PyMaxflow); ``"opencv"``: ``cv2.grabCut``; ``"auto"``: warm where PyMaxflow is
#: installed, else OpenCV. The same masks (tests/test_graph_cut.py).
ENGINES = ("auto", "warm", "opencv")
MISSING_MAXFLOW = (
    "the warm GrabCut engine needs PyMaxflow (GPL): pip install 'thinktwice[maxflow]', "
    "or pass engine='opencv'"
)


def grabcut_mask(
    bgr: np.ndarray, seeds: np.ndarray, iterations: int = 5, engine: str = "auto"
) -> np.ndarray:
    """The mask ``cv2.grabCut(bgr, seeds, None, ..., iterations, GC_INIT_WITH_MASK)``
    leaves (values GC_BGD, GC_FGD, GC_PR_BGD, GC_PR_FGD), ``seeds`` unchanged.

    ``bgr``: HxWx3 uint8; ``seeds``: HxW uint8 with at least one GC_BGD and one GC_FGD
    pixel. The k-means start draws from OpenCV's RNG seeded with ``GRABCUT_SEED``.
    """
    engine = resolved_engine(engine)
    cv2.setRNGSeed(GRABCUT_SEED)
    if engine == "opencv":
        return _opencv(bgr, seeds, iterations)
    return _warm(bgr, seeds, iterations)


def resolved_engine(engine: str) -> str:
    """``"warm"`` or ``"opencv"``: who runs GrabCut for ``engine`` on this machine."""
    if engine not in ENGINES:
        raise ValueError(f"unknown GrabCut engine {engine!r}; choose one of {', '.join(ENGINES)}")
    available = warm_maxflow_available()
    if engine == "warm" and not available:
        raise ImportError(MISSING_MAXFLOW)
    if engine == "auto":
        return "warm" if available else "opencv"
    return engine


def _opencv(bgr: np.ndarray, seeds: np.ndarray, iterations: int) -> np.ndarray:
    mask = seeds.copy()
    models = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(bgr, mask, None, *models, iterations, cv2.GC_INIT_WITH_MASK)
    return mask


def _warm(bgr: np.ndarray, seeds: np.ndarray, iterations: int) -> np.ndarray:
    mask = seeds.ravel().copy()
    if iterations <= 0 or not probable_pixels(seeds).any():
        return mask.reshape(seeds.shape)  # nothing for GrabCut to decide
    table = ColourTable.of(bgr)
    models = kmeans_start(bgr, table, (mask & 1).astype(bool))  # GC_FGD = 1, GC_PR_FGD = 3
    graph = ProbableGraph(seeds, smoothness_weights(bgr))
    probable = graph.probable.ravel()
    probable_colour = table.pixel_colour[probable]
    densities = [model.densities(table.colours) for model in models]
    for _ in range(iterations):
        foreground = (mask & 1).astype(bool)
        models = _relearned(table, foreground, densities)
        densities = [model.densities(table.colours) for model in models]
        costs = [model.costs(d)[probable_colour] for model, d in zip(models, densities,
                                                                    strict=True)]  # fmt: skip
        background = graph.cut(*costs)
        mask[probable] = np.where(background, cv2.GC_PR_BGD, cv2.GC_PR_FGD)
    return mask.reshape(seeds.shape)


def _relearned(
    table: ColourTable, foreground: np.ndarray, densities: list[np.ndarray]
) -> tuple[Mixture, Mixture]:
    """OpenCV's assignGMMsComponents + learnGMMs: each pixel to its side's most likely
    component under the current models, then both models learned again."""
    models = []
    for side, side_densities in zip((~foreground, foreground), densities, strict=True):
        pixels = np.flatnonzero(side)
        component = side_densities.argmax(axis=1)[table.pixel_colour[pixels]]
        models.append(Mixture.learned(table.sums(table.component_counts(pixels, component))))
    return tuple(models)
