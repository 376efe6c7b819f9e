"""GrabCut's graph on the probable pixels, cut again and again with a warm max-flow.

OpenCV's ``grabCut`` builds a graph of every pixel per iteration and runs a fresh
Boykov-Kolmogorov max-flow on it: 75-95% of its time (docs/benchmarks.md). Two exact
savings here:

* **Definite pixels leave the graph.** A definite pixel's terminal link is
  lambda = 9 * gamma = 450, more than all its n-links together (at most
  4 * 50 + 4 * 50 / sqrt(2) = 341.4), so it takes its seed's side in every minimum cut;
  its n-links to probable neighbours become those neighbours' terminal links.
* **Only the terminal links change between iterations** (the n-links depend on the
  photo alone), so after the first cut each iteration changes them by the new costs'
  difference and resumes the previous max-flow with its search trees (Kohli and Torr,
  "Efficiently solving dynamic Markov random fields using graph cuts", ICCV 2005, as
  PyMaxflow implements it). A max-flow is a max-flow: the cut is the same minimum cut.
"""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np

GAMMA = 50.0
LAMBDA = 9 * GAMMA

#: (pixel, neighbour) slices of OpenCV's four n-links: left, up-left, up, up-right.
_NEIGHBOURS = (
    ((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
    ((slice(1, None), slice(1, None)), (slice(None, -1), slice(None, -1))),
    ((slice(1, None), slice(None)), (slice(None, -1), slice(None))),
    ((slice(1, None), slice(None, -1)), (slice(None, -1), slice(1, None))),
)


def smoothness_weights(bgr: np.ndarray) -> tuple[np.ndarray, ...]:
    """OpenCV's n-link weights, one array per neighbour direction of ``_NEIGHBOURS``:
    gamma * exp(-beta * |colour difference|^2), over sqrt(2) on diagonals, with beta one
    over twice the mean squared difference of all neighbouring pairs."""
    colours = bgr.astype(np.float64)
    squared = [np.sum((colours[a] - colours[b]) ** 2, axis=-1) for a, b in _NEIGHBOURS]
    height, width = bgr.shape[:2]
    total = float(sum(s.sum() for s in squared))
    pairs = 4 * width * height - 3 * width - 3 * height + 2
    beta = 0.0 if total <= np.finfo(float).eps else 1.0 / (2 * total / pairs)
    diagonal = GAMMA / float(np.sqrt(np.float32(2.0)))  # OpenCV: gamma / std::sqrt(2.0f)
    scales = (GAMMA, diagonal, GAMMA, diagonal)
    return tuple(scale * np.exp(-beta * s) for scale, s in zip(scales, squared, strict=True))


def probable_pixels(seeds: np.ndarray) -> np.ndarray:
    """The pixels GrabCut decides: those seeded probably background or probably foreground."""
    return (seeds == cv2.GC_PR_BGD) | (seeds == cv2.GC_PR_FGD)


def warm_maxflow_available() -> bool:
    """Whether PyMaxflow (GPL, the optional extra ``thinktwice[maxflow]``) is installed."""
    return importlib.util.find_spec("maxflow") is not None


class ProbableGraph:
    """The graph of one GrabCut run: a node per probable pixel of ``seeds``; each
    :meth:`cut` gives the background pixels of the minimum cut for new costs."""

    def __init__(self, seeds: np.ndarray, weights: tuple[np.ndarray, ...]) -> None:
        import maxflow  # optional (GPL): grabcut_mask's "auto" engine checks it is there

        self.probable = probable_pixels(seeds)
        count = int(self.probable.sum())
        node = np.full(seeds.shape, -1, np.int64)
        node[self.probable] = np.arange(count)
        self._nodes = np.arange(count)
        self._graph = maxflow.GraphFloat(count, 4 * count)
        self._graph.add_nodes(count)
        self._to_background = np.zeros(count)  # fixed parts of the terminal links
        self._to_foreground = np.zeros(count)
        for (here, there), weight in zip(_NEIGHBOURS, weights, strict=True):
            self._link(node[here], node[there], weight, seeds[here], seeds[there])
        self._costs: tuple[np.ndarray, np.ndarray] | None = None

    def _link(self, a: np.ndarray, b: np.ndarray, weight: np.ndarray, seed_a: np.ndarray,
              seed_b: np.ndarray) -> None:  # fmt: skip
        """Add one direction's n-links: between two probable pixels as an edge, from a
        probable pixel to a definite one as that pixel's terminal link."""
        both = (a >= 0) & (b >= 0)
        if both.any():
            self._graph.add_edges(a[both], b[both], weight[both], weight[both])
        count = len(self._nodes)
        for mine, their_seed in ((a, seed_b), (b, seed_a)):
            for side, terminal in ((cv2.GC_FGD, self._to_foreground),
                                   (cv2.GC_BGD, self._to_background)):  # fmt: skip
                where = (mine >= 0) & (their_seed == side)
                terminal += np.bincount(mine[where], weight[where], minlength=count)

    def cut(self, background_cost: np.ndarray, foreground_cost: np.ndarray) -> np.ndarray:
        """Background flags of the probable pixels (row-major) in the minimum cut where
        labelling a pixel background costs ``background_cost`` (OpenCV's source link,
        -log of the background density) and foreground ``foreground_cost``."""
        if self._costs is None:
            self._graph.add_grid_tedges(self._nodes, background_cost + self._to_foreground,
                                        foreground_cost + self._to_background)  # fmt: skip
            self._graph.maxflow()
        else:
            old_background, old_foreground = self._costs
            self._graph.add_grid_tedges(self._nodes, background_cost - old_background,
                                        foreground_cost - old_foreground)  # fmt: skip
            self._graph.mark_grid_nodes(self._nodes)
            self._graph.maxflow(reuse_trees=True)
        self._costs = (background_cost, foreground_cost)
        return self._graph.get_grid_segments(self._nodes)
