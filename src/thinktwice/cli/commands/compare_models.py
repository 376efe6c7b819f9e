"""``thinktwice compare-models``: one photo, the same classes, several models (Figure 5)."""

from __future__ import annotations

import argparse

from thinktwice.cli.common import (
    add_device_argument,
    add_feedback_arguments,
    add_methods_argument,
    add_quiet_argument,
    add_target_argument,
    output_folder,
    say,
    selected_methods,
    zoo_name,
)
from thinktwice.errors import ThinkTwiceError
from thinktwice.options import MODEL_NAMES

NAME = "compare-models"
HELP = "saliency of one photo for the same classes under several models (paper's Figure 5)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="an image file")
    add_target_argument(parser)
    parser.add_argument(
        "--models", required=True, help=f"comma-separated model names: {', '.join(MODEL_NAMES)}"
    )
    parser.add_argument(
        "--weights",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="weights file for a model, e.g. vgg16=vgg16-397923af.pth (repeatable)",
    )
    add_methods_argument(parser, default=("feedback",))
    parser.add_argument("--out", default="out", help="output folder")
    add_device_argument(parser)
    add_quiet_argument(parser)
    add_feedback_arguments(parser)


def model_names(text: str) -> list[str]:
    try:
        names = [zoo_name(n) for n in text.split(",") if n.strip()]
    except argparse.ArgumentTypeError as error:
        raise ThinkTwiceError(f"--models: {error}") from None
    if not names:
        raise ThinkTwiceError("--models: give at least one model name")
    return list(dict.fromkeys(names))


def weights_by_model(entries: list[str]) -> dict[str, str]:
    weights = {}
    for entry in entries:
        name, sep, path = entry.partition("=")
        if not sep or not name or not path:
            raise ThinkTwiceError(f"--weights {entry!r}: expected NAME=FILE")
        weights[name.strip()] = path.strip()
    return weights


def run(args: argparse.Namespace) -> int:
    from thinktwice.cli.photos import read_photos
    from thinktwice.models.zoo import load_model

    methods = selected_methods(args)
    names = model_names(args.models)
    weights = weights_by_model(args.weights)
    models = [
        (name, load_model(name, weights=weights.get(name), device=args.device)) for name in names
    ]
    out = output_folder(args.out)
    photos, failures = read_photos([args.image])
    if not photos:
        return 2
    for method in methods:
        say(args, compare(models, photos[0], method, args, out))
    return 2 if failures else 0


def compare(models, photo, method: str, args: argparse.Namespace, out):
    """One figure: a column per model for each target class, for ``method``."""
    from thinktwice.cli.common import method_options, method_variant, target_specs
    from thinktwice.cli.photos import for_display, pair_title, probabilities
    from thinktwice.explanation import explain
    from thinktwice.visualization import model_comparison_figure, model_label, save_figure

    columns = []
    for name, model in models:
        result = explain(
            model,
            photo.image,
            target_specs(model, args.target),
            method=method,
            progress=False if args.quiet else None,
            **method_options(method, args),
        )
        probs = probabilities(model, result.inputs)[0]
        cells = [
            (
                pair_title(model, int(t), float(probs[int(t)])),
                for_display(result.saliency[pair].numpy()),
            )
            for pair, t in enumerate(result.targets)
        ]
        columns.append((model_label(name), cells))
    counts = {len(cells) for _, cells in columns}
    if len(counts) != 1:
        raise ThinkTwiceError("the models disagree on the number of classes; name the targets")
    label, key, _ = method_variant(method, args)
    title = f"{label} saliency, model by model"
    figure = model_comparison_figure(photo.pixels, columns, title=title)
    return save_figure(figure, out / f"{photo.stem}__models__{key}.png")
