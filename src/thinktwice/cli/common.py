"""What every command shares: its options, targets, methods and output folders.

This module imports nothing heavy (no torch, numpy or matplotlib), so the
parser, ``--help`` and ``thinktwice classes`` start at once; what needs torch is
imported inside the functions that use it (and in :mod:`thinktwice.cli.photos`).

Errors a user causes are reported as one line, ``thinktwice: error: <what>``;
per-image problems are reported and the other images still processed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from thinktwice.checks import is_count
from thinktwice.errors import ThinkTwiceError
from thinktwice.options import (
    BOX_METHODS,
    DEFAULT_LAYERS,
    DEFAULT_MODEL,
    DEFAULT_SALIENCY,
    DEFAULT_SOLVER,
    DEFAULT_SOLVER_OPTIONS,
    FEEDBACK_OPTIONS,
    FEEDBACK_PRESETS,
    METHOD_NAMES,
    MODEL_NAMES,
    PRESET_SUMMARIES,
    TOP_SPECS,
    VALUE_KINDS,
    FeedbackOption,
    check_methods,
)

if TYPE_CHECKING:
    from thinktwice.models.classifier import Classifier

PROGRAM = "thinktwice"


def report(message: str, kind: str = "error") -> None:
    """One line on stderr, in the program's format (``thinktwice: error: ...``)."""
    text = " ".join(str(message).split())  # one line, whatever the message held
    print(f"{PROGRAM}: {kind}: {text}", file=sys.stderr)


def say(args: argparse.Namespace, text: object) -> None:
    """Print a line of normal output (written files, progress) unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(text, flush=True)


# --- value types: a bad value is a one-line usage error naming what is valid ------------------


def _checked(kind: Callable[[str], Any], valid: Callable[[Any], bool], wanted: str):
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not valid(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}")
        return value

    parse.__name__ = wanted  # argparse names the type in its messages
    return parse


def count_type(least: int) -> Callable[[str], int]:
    """An argparse type for a count of at least ``least``: the rule of
    :func:`thinktwice.checks.is_count`, the one the library checks with."""
    return _checked(int, lambda v: is_count(v, least), f"an integer >= {least}")


positive_int = count_type(1)
non_negative_int = count_type(0)
# the library's tests of these value kinds, and its words for them (thinktwice.options)
positive_float = _checked(float, *VALUE_KINDS["positive"])
non_negative_float = _checked(float, *VALUE_KINDS["non_negative"])


def zoo_name(text: str) -> str:
    """A model zoo name as ``load_model`` spells it (case and '-' forgiven)."""
    name = text.strip().lower().replace("-", "_")
    if name not in MODEL_NAMES:
        raise argparse.ArgumentTypeError(
            f"unknown model {text!r}; choose one of: {', '.join(MODEL_NAMES)}"
        )
    return name


def parse_layers(text: str) -> int | str | list[str]:
    """``all``, a number k (the top k sites), or comma-separated site names."""
    text = text.strip()
    if text == "all":
        return text
    if text.lstrip("-").isdigit():
        return int(text)
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give 'all', a number k or site names")
    return names


# --- options ------------------------------------------------------------------------------------


def add_model_arguments(parser: argparse.ArgumentParser, weights: bool = True) -> None:
    parser.add_argument(
        "--model",
        type=zoo_name,
        default=DEFAULT_MODEL,
        help=f"model zoo name: {', '.join(MODEL_NAMES)} (default: {DEFAULT_MODEL})",
    )
    if weights:
        parser.add_argument(
            "--weights",
            help="weights file (needed for vgg16, alexnet, googlenet; squeezenet1_0 takes "
            "compressed_SqueezeNet.net or a .pth)",
        )


def add_device_argument(parser: argparse.ArgumentParser, threads: bool = True) -> None:
    """``--device`` and (``threads``) ``--threads``: where and how wide torch computes."""
    parser.add_argument(
        "--device",
        help="torch device to compute on, e.g. cpu, cuda, cuda:1 "
        "(default: cuda when available, else cpu)",
    )
    if threads:
        add_threads_argument(parser)


def most_threads() -> int:
    """The most torch threads a command takes: past a few per core they only slow it down, and
    torch crashes on absurd counts (100,000 threads: a segmentation fault)."""
    return max(64, 4 * (os.cpu_count() or 1))


def thread_count(text: str) -> int:
    """``--threads``: an integer from 1 to :func:`most_threads`."""
    limit = most_threads()
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not (is_count(value, 1) and value <= limit):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of threads from 1 to {limit} (this machine has "
            f"{os.cpu_count() or 1} cores)"
        )
    return value


def add_threads_argument(
    parser: argparse.ArgumentParser, text: str = "torch threads (default: torch's, the cores)"
) -> None:
    parser.add_argument("--threads", type=thread_count, metavar="N", help=text)


def apply_threads(args: argparse.Namespace) -> None:
    """Set torch's thread count to ``--threads`` when it was given."""
    threads = getattr(args, "threads", None)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def add_quiet_argument(
    parser: argparse.ArgumentParser, text: str = "print only errors (and --json records)"
) -> None:
    parser.add_argument("--quiet", action="store_true", help=text)


def add_images_argument(parser: argparse.ArgumentParser, many: bool = True) -> None:
    """The photos a command reads: ``images`` (one or more files) or, not ``many``, ``image``."""
    if many:
        parser.add_argument("images", nargs="+", help="image files")
    else:
        parser.add_argument("image", help="an image file")


def add_pair_arguments(
    parser: argparse.ArgumentParser,
    methods: Sequence[str] | None = None,
    one_image: bool = False,
    one_target: bool = False,
) -> None:
    """The (image, class) pairs a command maps: the image file(s) and ``--target``, then
    ``--methods`` (default ``methods``) when the command takes several."""
    add_images_argument(parser, many=not one_image)
    add_target_argument(parser, repeat=not one_target)
    if methods is not None:
        add_methods_argument(parser, default=methods)


def add_out_argument(
    parser: argparse.ArgumentParser,
    text: str = "output folder",
    default: str | None = "out",
    required: bool = False,
) -> None:
    """``--out``: where a command writes (by default the folder ``out``, unless required)."""
    parser.add_argument(
        "--out", default=None if required else default, required=required, help=text
    )


def add_box_argument(
    parser: argparse.ArgumentParser, default: str | None = "grabcut", text: str = "box rule"
) -> None:
    """``--box``: the rule that turns a map into a box (:data:`thinktwice.options.BOX_METHODS`);
    the help names the default itself, for parsers that do not (``eval``'s)."""
    shown = f"{text} (default: {default})" if default else text
    parser.add_argument("--box", choices=BOX_METHODS, default=default, help=shown)


def add_map_arguments(parser: argparse.ArgumentParser, model: bool = True) -> None:
    """The options every command that computes maps ends with: ``--model``/``--weights``
    (unless ``model`` is False: the command names its models itself), ``--device`` and
    ``--threads``, ``--quiet`` and the feedback group."""
    if model:
        add_model_arguments(parser)
    add_device_argument(parser)
    add_quiet_argument(parser)
    add_feedback_arguments(parser)


def model_from_args(args: argparse.Namespace) -> Classifier:
    from thinktwice.models.zoo import load_model

    return load_model(args.model, weights=args.weights, device=getattr(args, "device", None))


#: The parser of each feedback value kind (see :data:`thinktwice.options.VALUE_KINDS`).
_FEEDBACK_TYPES: dict[str, Callable[[str], Any]] = {
    "count": non_negative_int,
    "positive": positive_float,
    "non_negative": non_negative_float,
    "layers": parse_layers,
}
#: The feedback flags, in --help order (from the one table, thinktwice.options).
FEEDBACK_FLAGS = tuple(option.name for option in FEEDBACK_OPTIONS)


def add_feedback_arguments(parser: argparse.ArgumentParser) -> None:
    """The feedback option group: one flag per row of the options table
    (:data:`~thinktwice.options.FEEDBACK_OPTIONS`)."""
    group = parser.add_argument_group(
        "feedback options",
        f"unset options take the library defaults: solver {DEFAULT_SOLVER} on the "
        f"{DEFAULT_LAYERS!r} layer (the feature map one resolution finer than Grad-CAM's), "
        f"{DEFAULT_SOLVER_OPTIONS['max_iter']} feedback pass, map {DEFAULT_SALIENCY} (another "
        "solver: its own defaults)",
    )
    presets = "; ".join(f"'{name}': {PRESET_SUMMARIES[name]}" for name in FEEDBACK_PRESETS)
    for option in FEEDBACK_OPTIONS:
        group.add_argument(
            option.flag, help=option.help.format(presets=presets), **_parsing(option)
        )


def _parsing(option: FeedbackOption) -> dict[str, Any]:
    """How argparse reads ``option``: its choices, a flag that sets True, or a value type.
    Every default stays None, so only what the user set reaches the library."""
    if option.kind == "choice":
        return {"choices": option.choices}
    if option.kind == "flag":
        return {"action": "store_const", "const": True}
    return {"type": _FEEDBACK_TYPES[option.kind]}


def feedback_options(args: argparse.Namespace) -> dict[str, Any]:
    """Only the feedback options the user set, so the library defaults apply otherwise."""
    options: dict[str, Any] = {}
    for flag in FEEDBACK_FLAGS:
        value = getattr(args, flag, None)
        if value is not None:
            options[flag] = value
    return options


def method_options(method: str, args: argparse.Namespace) -> dict[str, Any]:
    return feedback_options(args) if method == "feedback" else {}


def method_variant(method: str, args: argparse.Namespace) -> tuple[str, str, dict[str, Any]]:
    """(display name, file key, every option) of ``method`` with the options of ``args``:
    figures say what the method is, and two variants never write the same file."""
    from thinktwice.attribution import METHODS

    cls, options = METHODS[method], method_options(method, args)
    return cls.display_name(options), cls.variant_key(options), cls.complete_options(**options)


def add_methods_argument(parser: argparse.ArgumentParser, default: Sequence[str]) -> None:
    """``--methods a,b`` (the grammar of every command); ``--method a b`` is still taken."""
    parser.add_argument(
        "--methods",
        "--method",
        dest="methods",
        action="extend",
        nargs="+",
        metavar="METHODS",
        help=f"saliency methods, comma-separated: {', '.join(METHOD_NAMES)} "
        f"(default: {','.join(default)})",
    )
    parser.set_defaults(default_methods=tuple(default))


def selected_methods(args: argparse.Namespace) -> list[str]:
    """The methods asked for (comma- or space-separated), checked, in order, once each."""
    given = args.methods or list(args.default_methods)
    methods = [m.strip() for item in given for m in item.split(",") if m.strip()]
    return check_methods(methods)


def add_target_argument(parser: argparse.ArgumentParser, repeat: bool = True) -> None:
    parser.add_argument(
        "--target",
        action="append" if repeat else "store",
        help="class index, name ('tabby'), top1 or top5"
        + (" (repeat for several classes)" if repeat else "")
        + " (default: top1)",
    )


def target_specs(model: Classifier, targets: Sequence[str] | str | None) -> list[int | str]:
    """The targets as explain() takes them; names are checked now, before any work."""
    raw = [targets] if isinstance(targets, str) else list(targets or ["top1"])
    specs: list[int | str] = []
    for text in raw:
        spec: int | str = int(text) if text.strip().lstrip("-").isdigit() else text.strip()
        if not (isinstance(spec, str) and spec.lower() in TOP_SPECS):
            model.classes.lookup(spec)  # raises UnknownClassError with close names
        specs.append(spec)
    return specs


def model_and_targets(args: argparse.Namespace) -> tuple[Classifier, list[int | str]]:
    """The model ``--model``/``--weights`` name, and the ``--target`` specs checked against
    its classes (before any work)."""
    model = model_from_args(args)
    return model, target_specs(model, args.target)


# --- output folders -------------------------------------------------------------------------------


def unique_stem(stem: str, taken: set[str]) -> str:
    candidate, number = slug(stem), 2
    while candidate in taken:
        candidate, number = f"{slug(stem)}-{number}", number + 1
    taken.add(candidate)
    return candidate


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "image"


def output_folder(path: str | Path) -> Path:
    """The output folder, created if needed; a clear error when it cannot be written."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ThinkTwiceError(
            f"{folder}: cannot create the output folder ({error.strerror})"
        ) from error
    if not folder.is_dir():
        raise ThinkTwiceError(f"{folder}: the output path exists and is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ThinkTwiceError(f"{folder}: the output folder is not writable")
    return folder
