"""``thinktwice compare-models``: one photo, the same classes, several models (Figure 5)."""

from __future__ import annotations

import argparse

from thinktwice.attribution import METHODS
from thinktwice.cli.common import (
    add_feedback_arguments,
    add_target_argument,
    for_display,
    method_options,
    output_folder,
    pair_title,
    probabilities,
    read_photos,
    target_specs,
)
from thinktwice.errors import ThinkTwiceError
from thinktwice.explain import explain
from thinktwice.models.zoo import load_model
from thinktwice.visualization import model_comparison_figure, save_figure

NAME = "compare-models"
HELP = "saliency of one photo for the same classes under several models (paper's Figure 5)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="an image file")
    add_target_argument(parser)
    parser.add_argument("--models", required=True, help="comma-separated model names")
    parser.add_argument(
        "--weights",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="weights file for a model, e.g. vgg16=vgg16-397923af.pth (repeatable)",
    )
    parser.add_argument("--method", default="feedback", choices=list(METHODS))
    parser.add_argument("--out", default="out", help="output folder (default: out)")
    add_feedback_arguments(parser)


def weights_by_model(entries: list[str]) -> dict[str, str]:
    weights = {}
    for entry in entries:
        name, sep, path = entry.partition("=")
        if not sep or not name or not path:
            raise ThinkTwiceError(f"--weights {entry!r}: expected NAME=FILE")
        weights[name.strip()] = path.strip()
    return weights


def run(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    if not names:
        raise ThinkTwiceError("--models: give at least one model name")
    weights = weights_by_model(args.weights)
    models = [(name, load_model(name, weights=weights.get(name))) for name in names]
    out = output_folder(args.out)
    photos, failures = read_photos([args.image])
    if not photos:
        return 2
    photo = photos[0]
    columns = []
    for name, model in models:
        result = explain(
            model,
            photo.image,
            target_specs(model, args.target),
            method=args.method,
            **method_options(args.method, args),
        )
        probs = probabilities(model, result.inputs)[0]
        cells = [
            (
                pair_title(model, int(t), float(probs[int(t)])),
                for_display(result.saliency[pair].numpy()),
            )
            for pair, t in enumerate(result.targets)
        ]
        columns.append((name, cells))
    counts = {len(cells) for _, cells in columns}
    if len(counts) != 1:
        raise ThinkTwiceError("the models disagree on the number of classes; name the targets")
    figure = model_comparison_figure(
        photo.pixels, columns, title=f"{photo.path.name}: {args.method}"
    )
    print(save_figure(figure, out / f"{photo.stem}__models__{args.method}.png"))
    return 2 if failures else 0
