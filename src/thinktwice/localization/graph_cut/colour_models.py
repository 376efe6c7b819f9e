"""GrabCut's colour models as OpenCV computes them, on a photo's distinct colours.

Two Gaussian mixtures of five components each (background, foreground) over BGR
colours: learned from per-component sums of colours and of their products (integer
sums, exact in float64 whatever the order), a component's covariance nudged by 0.01 on
its diagonal when its determinant is at most 1e-6, densities without the 2*pi factor,
a pixel's component the one of highest unweighted density and its cost the negative
log of the mixture's density — the arithmetic of OpenCV's ``grabcut.cpp``, done once
per distinct colour instead of once per pixel (an upscaled 512-px photo has about
100,000 colours for 262,144 pixels).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

COMPONENTS = 5
#: A cost standing for -log(0) (a colour no component can produce): larger than any
#: cut through one pixel (its n-links sum to at most 341.4, a finite cost is below 750).
UNREACHABLE_COST = 1e6
_KMEANS_ITERATIONS = 10


@dataclass(frozen=True)
class ColourTable:
    """A photo's distinct colours and, per pixel, the index of its colour."""

    colours: np.ndarray  # (U, 3) float64, BGR
    pixel_colour: np.ndarray  # (H*W,) int64 index into colours
    moments: np.ndarray  # (U, 10) float64: 1, b, g, r, bb, bg, br, gg, gr, rr

    @classmethod
    def of(cls, bgr: np.ndarray) -> ColourTable:
        """The table of an HxWx3 uint8 image."""
        pixels = bgr.reshape(-1, 3).astype(np.int64)
        packed = (pixels[:, 0] << 16) | (pixels[:, 1] << 8) | pixels[:, 2]
        distinct, pixel_colour = np.unique(packed, return_inverse=True)
        colours = np.stack([distinct >> 16, (distinct >> 8) & 255, distinct & 255], 1)
        colours = colours.astype(np.float64)
        b, g, r = colours.T
        moments = np.stack([np.ones_like(b), b, g, r, b * b, b * g, b * r, g * g, g * r, r * r], 1)
        return cls(colours, pixel_colour.ravel(), moments)

    def sums(self, counts: np.ndarray) -> np.ndarray:
        """(K, 10) per-component sums (pixel count, then the nine moments) of pixels whose
        colour ``u`` is in component ``k`` ``counts[k, u]`` times; exact (integer sums)."""
        return counts @ self.moments

    def component_counts(self, pixels: np.ndarray, component: np.ndarray) -> np.ndarray:
        """(K, U) how many of ``pixels`` (flat indices) have each colour and sit in each
        component, ``component`` giving theirs (one entry per pixel in ``pixels``)."""
        size = len(self.colours)
        flat = component * size + self.pixel_colour[pixels]
        counts = np.bincount(flat, minlength=COMPONENTS * size)
        return counts.reshape(COMPONENTS, size).astype(np.float64)


@dataclass(frozen=True)
class Mixture:
    """One Gaussian mixture: weights, means, inverse covariances, determinants."""

    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, 3)
    inverses: np.ndarray  # (K, 3, 3)
    determinants: np.ndarray  # (K,)

    @classmethod
    def learned(cls, sums: np.ndarray) -> Mixture:
        """The mixture of per-component sums (see :meth:`ColourTable.sums`)."""
        counts = sums[:, 0]
        weights = np.where(counts > 0, counts / counts.sum(), 0.0)
        means = np.zeros((COMPONENTS, 3))
        inverses = np.zeros((COMPONENTS, 3, 3))
        determinants = np.ones(COMPONENTS)
        for k in np.flatnonzero(counts):
            means[k], inverses[k], determinants[k] = _gaussian(counts[k], sums[k])
        return cls(weights, means, inverses, determinants)

    def densities(self, colours: np.ndarray) -> np.ndarray:
        """(U, K) each component's density at each colour (0 for an empty component)."""
        out = np.zeros((len(colours), COMPONENTS))
        for k in np.flatnonzero(self.weights > 0):
            d0, d1, d2 = (colours - self.means[k]).T
            a = self.inverses[k]
            form = (d0 * (d0 * a[0, 0] + d1 * a[1, 0] + d2 * a[2, 0])
                    + d1 * (d0 * a[0, 1] + d1 * a[1, 1] + d2 * a[2, 1])
                    + d2 * (d0 * a[0, 2] + d1 * a[1, 2] + d2 * a[2, 2]))  # fmt: skip
            out[:, k] = 1.0 / np.sqrt(self.determinants[k]) * np.exp(-0.5 * form)
        return out

    def costs(self, densities: np.ndarray) -> np.ndarray:
        """-log of the mixture's density per colour, given :meth:`densities`."""
        total = np.zeros(len(densities))
        for k in range(COMPONENTS):
            total += self.weights[k] * densities[:, k]
        with np.errstate(divide="ignore"):
            return np.minimum(-np.log(total), UNREACHABLE_COST)


def _gaussian(count: float, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean, inverse covariance and determinant of one component (OpenCV's formulas)."""
    inv_n = 1.0 / count
    mean = sums[1:4] * inv_n
    bb, bg, br, gg, gr, rr = sums[4:10]
    products = np.array([[bb, bg, br], [bg, gg, gr], [br, gr, rr]])
    c = (products * inv_n - mean[:, None] * mean[None, :]).ravel()
    det = _determinant(c)
    if det <= 1e-6:  # OpenCV's white noise against a singular covariance
        c[[0, 4, 8]] += 0.01
        det = _determinant(c)
    # OpenCV asserts no more than this: a one-colour component's fixed determinant is 0.01**3
    # up to rounding, which can fall just below 1e-6.
    if not det > np.finfo(float).eps:
        raise ValueError(f"degenerate colour model (covariance determinant {det})")
    inv = 1.0 / det
    inverse = np.array([
        [(c[4] * c[8] - c[5] * c[7]) * inv, -(c[1] * c[8] - c[2] * c[7]) * inv,
         (c[1] * c[5] - c[2] * c[4]) * inv],
        [-(c[3] * c[8] - c[5] * c[6]) * inv, (c[0] * c[8] - c[2] * c[6]) * inv,
         -(c[0] * c[5] - c[2] * c[3]) * inv],
        [(c[3] * c[7] - c[4] * c[6]) * inv, -(c[0] * c[7] - c[1] * c[6]) * inv,
         (c[0] * c[4] - c[1] * c[3]) * inv],
    ])  # fmt: skip
    return mean, inverse, det


def _determinant(c: np.ndarray) -> float:
    return float(c[0] * (c[4] * c[8] - c[5] * c[7]) - c[1] * (c[3] * c[8] - c[5] * c[6])
                 + c[2] * (c[3] * c[7] - c[4] * c[6]))  # fmt: skip


def kmeans_start(
    bgr: np.ndarray, table: ColourTable, foreground: np.ndarray
) -> tuple[Mixture, Mixture]:
    """The background and foreground mixtures GrabCut starts from (``foreground``: the
    pixels seeded foreground or probably foreground, any shape): OpenCV's k-means
    (k-means++ centres, 10 iterations, one attempt) on each side's pixels in raster
    order, drawing from OpenCV's RNG as ``cv2.grabCut`` does."""
    samples = bgr.reshape(-1, 3).astype(np.float32)
    foreground = foreground.ravel()
    criteria = (cv2.TERM_CRITERIA_MAX_ITER, _KMEANS_ITERATIONS, 0.0)
    mixtures = []
    for side in (~foreground, foreground):
        clusters = min(COMPONENTS, int(side.sum()))
        _, labels, _ = cv2.kmeans(samples[side], clusters, None, criteria, 1,
                                  cv2.KMEANS_PP_CENTERS)  # fmt: skip
        counts = table.component_counts(np.flatnonzero(side), labels.ravel().astype(np.int64))
        mixtures.append(Mixture.learned(table.sums(counts)))
    return mixtures[0], mixtures[1]
