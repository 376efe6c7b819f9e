"""What a user picks by name, and the defaults, in one module that imports nothing heavy.

The command line builds its parser from here (choices, and the defaults every
``--help`` shows) without importing torch, so ``thinktwice --help`` is instant.
The registries that do the work use these names: ``thinktwice.attribution.METHODS``,
``thinktwice.models.MODELS`` and ``thinktwice.gating.solvers.SOLVERS``; the tests
check that each registry and its list here agree.
"""

from __future__ import annotations

from typing import Any

# --- saliency methods -------------------------------------------------------------------------

#: Method key (what ``explain(method=...)`` and ``--methods`` take) -> the name a figure shows.
METHOD_LABELS: dict[str, str] = {
    "gradient": "Gradient",
    "deconvnet": "Deconvnet",
    "guided_backprop": "Guided backprop",
    "gradcam": "Grad-CAM",
    "feedback": "Feedback (ours)",
}
METHOD_NAMES: tuple[str, ...] = tuple(METHOD_LABELS)


def method_label(method: str) -> str:
    """The display name of a method key (an unknown key is shown as it is)."""
    return METHOD_LABELS.get(method, method)


# --- targets ----------------------------------------------------------------------------------

#: The k of "top-k": how many ranked classes a top-5 target or a top-5 error looks at.
TOP_K = 5
#: Target specs that name a model's own ranked predictions, and how many classes each means.
TOP_SPECS: dict[str, int] = {"top1": 1, "top5": TOP_K}

# --- models -----------------------------------------------------------------------------------

DEFAULT_MODEL = "efficientnet_lite0"
#: Model zoo name (what ``load_model`` and ``--model`` take) -> the name a figure shows.
MODEL_LABELS: dict[str, str] = {
    "alexnet": "AlexNet",
    "efficientnet_lite0": "EfficientNet-Lite0",
    "efficientnet_lite1": "EfficientNet-Lite1",
    "efficientnet_lite2": "EfficientNet-Lite2",
    "googlenet": "GoogLeNet",
    "squeezenet1_0": "SqueezeNet 1.0",
    "vgg16": "VGG16",
}
MODEL_NAMES: tuple[str, ...] = tuple(MODEL_LABELS)


def model_label(name: str) -> str:
    """The display name of a zoo model (another name is shown as it is)."""
    return MODEL_LABELS.get(name, name)


# --- boxes ------------------------------------------------------------------------------------

#: Box rules of ``thinktwice.localize``: the paper's GrabCut, or a threshold on the map.
BOX_METHODS: tuple[str, ...] = ("grabcut", "grabcut_coarse", "threshold")
#: Gaussian blur of a map before its box, sigma as a share of the map's longer side. 0 is the
#: paper's recipe; the default was chosen on the imagenet-val-1000 dev split (docs/results.md).
DEFAULT_BOX_SMOOTH = 0.0

# --- feedback ---------------------------------------------------------------------------------

SOLVER_NAMES: tuple[str, ...] = ("fsp", "fr", "relaxed")
SITE_KINDS: tuple[str, ...] = ("activation", "pool", "layer")
GATE_PLACEMENTS: tuple[str, ...] = ("outputs", "inputs")
GATE_DECISIONS: tuple[str, ...] = ("gain", "gradient")
# The map of Feedback: the paper's max |T| over colour, its positive part (the authors'
# notebook), or Grad-CAM computed on the network with feedback's gates in place.
SALIENCY_MAPS: tuple[str, ...] = ("abs", "positive", "gradcam")
# Named option sets of Feedback(preset=...). "reference": the authors' PyTorch notebook
# (caochunshui/Feedback-CNN, vgg_fsp.ipynb; docs/feedback.md): a gate on the input of every
# layer (the image included), opened where the score's gradient there is positive, never
# reopened, 1 + 3 passes, the positive part of the image gradient as the map.
FEEDBACK_PRESETS: dict[str, dict[str, Any]] = {
    "reference": {
        "solver": "fsp",
        "layers": "all",
        "placement": "inputs",
        "decision": "gradient",
        "prune_only": True,
        "max_iter": 3,
        "saliency": "positive",
    },
    # The paper's layer-by-layer variant on every site, one feedback pass, the paper's map: the
    # best feedback variant on the dev photos of SqueezeNet 1.0 (no BatchNorm), useless on
    # BatchNorm nets such as Lite0 (docs/feedback.md).
    "recursive": {"solver": "fr", "layers": "all", "max_iter": 1, "saliency": "abs"},
}

# The default was chosen on the Tiny ImageNet dev split (docs/feedback.md has the sweep):
# gentle relaxed ascent on the gates of the top sites only. Hard all-layer pruning
# (``solver="fsp", layers="all"``, the paper's literal recipe) raises the score through
# bias routing and scatters the map on BatchNorm nets; it stays one option away.
DEFAULT_SOLVER = "relaxed"
DEFAULT_LAYERS: int | str = 4
DEFAULT_SOLVER_OPTIONS: dict[str, Any] = {"max_iter": 2, "step": 0.2, "sparsity": 0.1}
# Chosen on the imagenet-val-1000 dev split (docs/feedback.md): Grad-CAM read from the gated
# network gave the best boxes on EfficientNet-Lite0 (34.5% GT-label error on 200 dev photos,
# against 63.5% for the paper's max |T| map with the same gates).
DEFAULT_SALIENCY = "gradcam"

# --- evaluation -------------------------------------------------------------------------------

TINY_IMAGENET_NAMES: tuple[str, ...] = ("tiny-imagenet", "tiny-imagenet-val")
IMAGENET_VAL_1000 = "imagenet-val-1000"
LOC, POINTING, DELETION, INSERTION = "loc", "pointing", "deletion", "insertion"
#: MaxBoxAccV2 as clovaai/wsolevaluation defines it (docs/metrics.md).
MAXBOXACC = "maxboxacc"
EVAL_METRICS: tuple[str, ...] = (LOC, POINTING, MAXBOXACC, DELETION, INSERTION)
#: MaxBoxAcc's threshold step: tau = 0, 0.01, ..., 0.99 (wsolevaluation's cam_curve_interval).
DEFAULT_TAU_STEP = 0.01
DEFAULT_EVAL_METRICS: tuple[str, ...] = (LOC, POINTING)
# GrabCut runs on a copy no larger than this on its long side (the box is scaled back); chosen
# so that boxes keep their IoU >= 0.5 verdict on full-size photos (docs/benchmarks.md).
DEFAULT_MAX_SIDE: int | None = 512
#: Steps of the deletion/insertion curves (RISE uses 224).
DEFAULT_METRIC_STEPS = 32
