"""The simpler box CAM papers use: threshold the map at a fraction of its maximum."""

from __future__ import annotations

import numpy as np

from thinktwice.localization.result import Localization, component_box, map_problem, to_image_size


def threshold_box(
    saliency: np.ndarray, image_size: tuple[int, int], *, fraction: float = 0.2
) -> Localization:
    """Largest component of the map above ``fraction * max``, on a ``(width, height)`` image."""
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    problem = map_problem(np.asarray(saliency))
    if problem:
        return Localization.none(problem)
    width, height = image_size
    smap = to_image_size(np.asarray(saliency), width, height)
    return component_box(smap > fraction * float(smap.max()), "no pixel above the threshold")
