"""What a user picks by name, and the defaults, in one module that imports nothing heavy.

The command line builds its parser from here (choices, and the defaults every
``--help`` shows) without importing torch, so ``thinktwice --help`` is instant.
The registries that do the work use these names: ``thinktwice.attribution.METHODS``,
``thinktwice.models.MODELS`` and ``thinktwice.feedback.solvers.SOLVERS``; the tests
check that each registry and its list here agree. The method names are read from
the method modules themselves (:func:`method_catalog`), so a new method is one file.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thinktwice.checks import check_choice, is_count
from thinktwice.errors import OptionError

# --- saliency methods -------------------------------------------------------------------------

ATTRIBUTION_DIR = Path(__file__).with_name("attribution")


def method_catalog(folder: Path = ATTRIBUTION_DIR) -> dict[str, str]:
    """Method key -> display label, in display order, read from the method modules' source.

    Each method class writes ``name``, ``label`` and ``order`` as literals on their own
    lines of its body (see :class:`thinktwice.attribution.AttributionMethod`); reading
    them from the text keeps this module free of torch, so ``--help`` is instant, and
    makes a new method module the only file to add (a test checks this list against
    the registry).
    """
    found: list[tuple[int, str, str]] = []
    for path in sorted(folder.glob("*.py")):
        for values in _class_literals(path.read_text(encoding="utf-8")):
            if isinstance(values.get("name"), str):
                label = str(values.get("label", values["name"]))
                found.append((int(values.get("order", 100)), values["name"], label))
    return {name: label for _, name, label in sorted(found)}


_CLASS = re.compile(r"^class \w+")
_ATTRIBUTE = re.compile(r"^    (name|label|order)\s*(?::[^=]*)?=\s*(.+?)\s*$")


def _class_literals(source: str) -> list[dict[str, Any]]:
    """Per top-level class of ``source``, its ``name``/``label``/``order`` literals."""
    classes: list[dict[str, Any]] = []
    for line in source.splitlines():
        if _CLASS.match(line):
            classes.append({})
        elif classes and (match := _ATTRIBUTE.match(line)):
            try:
                classes[-1][match[1]] = ast.literal_eval(match[2])
            except (ValueError, SyntaxError):
                continue  # not a literal: the registry test names the class
    return classes


#: Method key (what ``explain(method=...)`` and ``--methods`` take) -> the name a figure shows.
METHOD_LABELS: dict[str, str] = method_catalog()
METHOD_NAMES: tuple[str, ...] = tuple(METHOD_LABELS)


def method_label(method: str) -> str:
    """The display name of a method key (an unknown key, such as a variant's full display
    name, is shown as it is)."""
    return METHOD_LABELS.get(method, method)


def check_methods(methods: Sequence[str]) -> list[str]:
    """``methods`` in order, once each, when every one is a method key; else the one
    OptionError listing the keys (also when none is given). The library, the runner and the
    CLI all check method names here."""
    if not methods:
        raise OptionError(f"no method given; choose from: {', '.join(METHOD_NAMES)}")
    for method in methods:
        check_choice("method", method, METHOD_NAMES)
    return list(dict.fromkeys(methods))


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

SOLVER_NAMES: tuple[str, ...] = ("fsp", "fr", "relaxed", "attention")
#: ``layers=FINE_LAYER`` gates the feature map one resolution finer than Grad-CAM's layer
#: (the input of the last downsampling layer below it).
FINE_LAYER = "fine"
SITE_KINDS: tuple[str, ...] = ("activation", "pool", "layer")
GATE_PLACEMENTS: tuple[str, ...] = ("outputs", "inputs")
GATE_DECISIONS: tuple[str, ...] = ("gain", "gradient")
# The map of Feedback: the paper's max |T| over colour, its positive part (the authors'
# notebook), Grad-CAM computed on the network with feedback's gates in place, or the gate
# gains at the lowest gated site (sum over channels of relu(dS/dy) * y: LayerCAM's formula on
# the gated network), or the product of those two, each min-max normalised ("fused").
SALIENCY_MAPS: tuple[str, ...] = ("abs", "positive", "gradcam", "gains", "fused")
# Named option sets of Feedback(preset=...); options given beside a preset win.
FEEDBACK_PRESETS: dict[str, dict[str, Any]] = {
    # The paper's recipe (Cao et al. 2015, sections 3.2-3.3 and 4.1): selective pruning on
    # every ReLU and max-pool output, the map max |T| over colour.
    "paper": {"solver": "fsp", "layers": "all", "saliency": "abs"},
    # The authors' PyTorch notebook (caochunshui/Feedback-CNN, vgg_fsp.ipynb;
    # docs/feedback.md): a gate on the input of every layer (the image included), opened
    # where the score's gradient there is positive, never reopened, 1 + 3 passes, the
    # positive part of the image gradient as the map.
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
    # The default's second look read as the gate gains alone, without the class map: best on
    # Lite0's difficult VOC trials on dev, below Grad-CAM on SqueezeNet's (docs/feedback.md).
    "gains": {"solver": "attention", "layers": FINE_LAYER, "max_iter": 1, "saliency": "gains"},
    # The default before the top-down attention gates: gentle relaxed ascent on the top 4
    # sites, read as Grad-CAM of the gated network. Its maps correlate 0.98 with Grad-CAM's:
    # it is Grad-CAM on a slightly pruned network (docs/feedback.md).
    "relaxed-gradcam": {
        "solver": "relaxed",
        "layers": 4,
        "max_iter": 2,
        "step": 0.2,
        "sparsity": 0.1,
        "saliency": "gradcam",
    },
}
#: One line per preset for ``--help`` and docs/feedback.md.
PRESET_SUMMARIES: dict[str, str] = {
    "paper": "the paper's recipe: fsp on every ReLU and max-pool, the max |T| map",
    "reference": "the authors' notebook: fsp gates on every layer's input, positive map",
    "recursive": "fr on every site, one pass, the max |T| map (best on SqueezeNet 1.0)",
    "gains": "the default's gates, the gate gains alone as the map (no class map)",
    "relaxed-gradcam": "the former default: relaxed ascent on 4 sites, gated Grad-CAM "
    "(= Grad-CAM, corr. 0.98)",
}
#: Presets measured to fail: preset -> (on which models: "batchnorm" or "any", the measurement).
PRESET_FAILURES: dict[str, tuple[str, str]] = {
    "paper": (
        "batchnorm",
        "on EfficientNet-Lite0 (BatchNorm) the hard gates route BatchNorm biases instead of "
        "image evidence: fsp on all 33 sites (3 passes, max |T| map) gave 96.0% GT-label loc. "
        "error on 400 Tiny ImageNet dev photos, against 73.8% for the plain gradient",
    ),
    "recursive": (
        "batchnorm",
        "on EfficientNet-Lite0 (BatchNorm) it gave 99.0% GT-label loc. error and 40.5% "
        "pointing on 200 imagenet-val-1000 dev photos, against 61.0% and 88.0% for the plain "
        "gradient",
    ),
    "reference": (
        "any",
        "its maps are too sparse for GrabCut boxes: 100.0% GT-label loc. error on Lite0 and "
        "96.5% on SqueezeNet 1.0 (200 imagenet-val-1000 dev photos; pointing 90.5% and 93.5%)",
    ),
}

# The default was chosen on the voc2007 dev split for both shipped-weight networks
# (docs/feedback.md has the sweep): top-down attention. The first pass's class map (Grad-CAM
# of the coarse layer) gates the feature map one resolution finer, a second pass looks again
# with the rest dimmed, and the map multiplies that pass's class map by the gate gains at the
# finer map. It was the only variant tried whose difficult-trial pointing beat Grad-CAM's by
# more than 5 points on both networks (all trials: +9.2 on Lite0, -0.2 on SqueezeNet); the
# same map with open gates (max_iter=0) came within 2 points. The gradient-ascent solvers
# (``relaxed``, ``fsp``) stay one option away; the former default is preset
# ``relaxed-gradcam``.
DEFAULT_SOLVER = "attention"
DEFAULT_LAYERS: int | str = FINE_LAYER
DEFAULT_SOLVER_OPTIONS: dict[str, Any] = {"max_iter": 1}
DEFAULT_SALIENCY = "fused"
#: The relaxed solver's own ascent step and price per open gate (its defaults when chosen).
RELAXED_STEP, RELAXED_SPARSITY = 0.5, 0.0


@dataclass(frozen=True)
class FeedbackOption:
    """One option of feedback: the keyword ``Feedback`` and ``explain`` take (``--name``
    with '-' on the command line), what a value is (``kind``: a key of
    :data:`VALUE_KINDS`, ``"choice"`` of ``choices``, or ``"layers"``), the value an
    unset option takes, and its ``--help`` line."""

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


#: Value kind -> (its test, what a valid value is in words): the library's one check of a
#: feedback option's value (the command line parses the same kinds, thinktwice.cli.common).
VALUE_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "count": (lambda value: is_count(value, least=0), "an int >= 0"),
    "positive": (lambda value: _is_number(value) and value > 0, "a number > 0"),
    "non_negative": (lambda value: _is_number(value) and value >= 0, "a number >= 0"),
    "flag": (lambda value: isinstance(value, bool), "True or False"),
}

#: Every feedback option the command line offers, in its ``--help`` order: the one table
#: from which the defaults, the library's checks and the command line's option group come.
FEEDBACK_OPTIONS: tuple[FeedbackOption, ...] = (
    FeedbackOption(
        "preset",
        "choice",
        None,
        "a named set of the options below ({presets}); options given beside it win; a preset "
        "measured to fail on the model warns (docs/feedback.md)",
        tuple(FEEDBACK_PRESETS),
    ),
    FeedbackOption(
        "solver", "choice", DEFAULT_SOLVER, f"gate solver (default: {DEFAULT_SOLVER})", SOLVER_NAMES
    ),
    FeedbackOption(
        "placement",
        "choice",
        "outputs",
        "gates on activation/pool outputs, or on the input of every layer and the image "
        "(default: outputs)",
        GATE_PLACEMENTS,
    ),
    FeedbackOption(
        "decision",
        "choice",
        "gain",
        "fsp/fr: open a gate where it raises the score (gain) or where the score's gradient "
        "is positive (gradient) (default: gain)",
        GATE_DECISIONS,
    ),
    FeedbackOption(
        "prune_only", "flag", False, "fsp/fr: a closed gate never reopens (default: off)"
    ),
    FeedbackOption(
        "saliency",
        "choice",
        DEFAULT_SALIENCY,
        "the map: max |T| over colour (abs), its positive part, Grad-CAM of the gated network "
        "(gradcam), the gate gains at the lowest gated site (gains), or the product of the "
        f"last two (fused) (default: {DEFAULT_SALIENCY})",
        SALIENCY_MAPS,
    ),
    FeedbackOption(
        "layers",
        "layers",
        DEFAULT_LAYERS,
        "'all', the top k gate sites, 'fine' (the feature map one resolution finer than "
        f"Grad-CAM's) or comma-separated site names (default: {DEFAULT_LAYERS})",
    ),
    FeedbackOption(
        "max_iter",
        "count",
        DEFAULT_SOLVER_OPTIONS["max_iter"],
        f"feedback passes after the first (default: {DEFAULT_SOLVER_OPTIONS['max_iter']}; "
        "fsp and fr: 10)",
    ),
    FeedbackOption(
        "step", "positive", RELAXED_STEP, f"relaxed solver: ascent step (default: {RELAXED_STEP})"
    ),
    FeedbackOption(
        "sparsity",
        "non_negative",
        RELAXED_SPARSITY,
        f"relaxed solver: price per open gate (default: {RELAXED_SPARSITY})",
    ),
)
FEEDBACK_OPTION_NAMES: dict[str, FeedbackOption] = {o.name: o for o in FEEDBACK_OPTIONS}


def check_feedback_value(name: str, value: Any) -> Any:
    """``value`` when it is valid for feedback option ``name``; else an OptionError saying
    what is valid. Options outside the table, choices and layers pass: their owners
    (the solver registry, the site survey) check those against what they hold."""
    option = FEEDBACK_OPTION_NAMES.get(name)
    if option is not None and option.kind in VALUE_KINDS:
        valid, wanted = VALUE_KINDS[option.kind]
        if not valid(value):
            raise OptionError(f"{name} must be {wanted}, got {value!r}")
    return value


# --- evaluation -------------------------------------------------------------------------------

TINY_IMAGENET_NAMES: tuple[str, ...] = ("tiny-imagenet", "tiny-imagenet-val")
IMAGENET_VAL_1000 = "imagenet-val-1000"
#: PASCAL VOC 2007 (several objects per photo), scored through its ImageNet class map.
VOC2007 = "voc2007"
#: The datasets ``thinktwice eval`` takes by name (read from $THINKTWICE_DATASETS).
NAMED_DATASETS: tuple[str, ...] = (*TINY_IMAGENET_NAMES, IMAGENET_VAL_1000, VOC2007)
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
