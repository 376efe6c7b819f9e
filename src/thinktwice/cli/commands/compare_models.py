"""``thinktwice compare-models``: one photo, the same classes, several models (Figure 5)."""

from __future__ import annotations

import argparse

from thinktwice.cli import common
from thinktwice.errors import ThinkTwiceError
from thinktwice.options import MODEL_NAMES

NAME = "compare-models"
HELP = "saliency of one photo for the same classes under several models (paper's Figure 5)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_pair_arguments(parser, methods=("feedback",), one_image=True)
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
    common.add_out_argument(parser)
    common.add_map_arguments(parser, model=False)


def model_names(text: str) -> list[str]:
    try:
        names = [common.zoo_name(n) for n in text.split(",") if n.strip()]
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

    methods = common.selected_methods(args)
    names = model_names(args.models)
    weights = weights_by_model(args.weights)
    models = [
        (name, load_model(name, weights=weights.get(name), device=args.device)) for name in names
    ]
    out = common.output_folder(args.out)
    photos, failures = read_photos([args.image])
    if not photos:
        return 2
    for method in methods:
        common.say(args, compare(models, photos[0], method, args, out))
    return 2 if failures else 0


def compare(models, photo, method: str, args: argparse.Namespace, out):
    """One figure: a column per model for each target class, for ``method``."""
    from thinktwice.cli.photos import pair_title, photo_maps, photo_pairs, probabilities
    from thinktwice.visualization import (
        clip_for_display,
        model_comparison_figure,
        model_label,
        save_figure,
    )

    columns = []
    for name, model in models:
        result = photo_maps(model, [photo], common.target_specs(model, args.target), method, args)
        probs = probabilities(model, result.inputs)[0]
        cells = [
            (pair_title(model, c, float(probs[c])), clip_for_display(result.saliency[i].numpy()))
            for i, _, c in photo_pairs(result, [photo])
        ]
        columns.append((model_label(name), cells))
    counts = {len(cells) for _, cells in columns}
    if len(counts) != 1:
        raise ThinkTwiceError("the models disagree on the number of classes; name the targets")
    label, key, _ = common.method_variant(method, args)
    title = f"{label} saliency, model by model"
    figure = model_comparison_figure(photo.pixels, columns, title=title)
    return save_figure(figure, out / f"{photo.stem}__models__{key}.png")
