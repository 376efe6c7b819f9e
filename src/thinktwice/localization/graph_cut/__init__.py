"""GrabCut's segmentation, the paper's box step: OpenCV's colour models and graph, cut with
a max-flow that leaves the definite pixels out and resumes from one iteration to the next."""

from thinktwice.localization.graph_cut.iterations import (
    ENGINES,
    GRABCUT_SEED,
    grabcut_mask,
    resolved_engine,
)

__all__ = ["ENGINES", "GRABCUT_SEED", "grabcut_mask", "resolved_engine"]
