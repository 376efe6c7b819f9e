"""``thinktwice explain``: heat maps per (image, class, method) and the paper's Figure 4 grid."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from thinktwice.cli.common import (
    add_device_argument,
    add_feedback_arguments,
    add_methods_argument,
    add_model_arguments,
    add_quiet_argument,
    add_target_argument,
    model_from_args,
    output_folder,
    positive_int,
    say,
    selected_methods,
    target_specs,
)
from thinktwice.options import METHOD_NAMES

if TYPE_CHECKING:
    import numpy as np
    import torch

    from thinktwice.cli.photos import Photo
    from thinktwice.explanation import Explanation
    from thinktwice.models.classifier import Classifier

NAME = "explain"
HELP = "saliency maps of images for classes, method by method (overlays, .npy, grid figure)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", help="image files")
    add_target_argument(parser)
    add_methods_argument(parser, default=METHOD_NAMES)
    parser.add_argument("--out", default="out", help="output folder")
    parser.add_argument(
        "--batch-size", type=positive_int, default=16, help="(image, class) pairs per batch"
    )
    add_model_arguments(parser)
    add_device_argument(parser)
    add_quiet_argument(parser)
    add_feedback_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from thinktwice.cli.photos import read_photos

    methods = selected_methods(args)
    model = model_from_args(args)
    specs = target_specs(model, args.target)
    out = output_folder(args.out)
    photos, failures = read_photos(args.images)
    if photos:
        for path in explain_photos(model, photos, specs, methods, out, args):
            say(args, path)
    return 2 if failures else 0


def explain_photos(
    model: Classifier,
    photos: list[Photo],
    specs: list[int | str],
    methods: list[str],
    out: Path,
    args: argparse.Namespace,
) -> list[Path]:
    """One explain() call per method over every (photo, class) pair; files per pair, a grid
    per photo, and each method's resolved options (``KEY.options.json``)."""
    from thinktwice.cli.common import method_options, method_variant
    from thinktwice.cli.photos import probabilities
    from thinktwice.explanation import explain

    results = {
        method: explain(
            model,
            [photo.image for photo in photos],
            [specs] * len(photos),
            method=method,
            batch_size=args.batch_size,
            progress=False if args.quiet else None,
            **method_options(method, args),
        )
        for method in methods
    }
    variants = {method: method_variant(method, args) for method in methods}
    first = results[methods[0]]
    probs = probabilities(model, first.inputs)
    written: list[Path] = []
    for method, result in results.items():
        written.append(write_options(method, *variants[method], out))
        written += write_maps(model, photos, result, variants[method][:2], out)
    for index, photo in enumerate(photos):
        written.append(write_grid(model, photo, index, results, variants, probs, out))
    return written


def write_options(method: str, label: str, key: str, options: dict[str, object], out: Path) -> Path:
    """``KEY.options.json`` beside the maps: the method, its display name and every option
    it ran with (library defaults filled in)."""
    import json

    from thinktwice.visualization.files import atomic_write

    record = {"method": method, "label": label, "file_key": key, "options": options}
    text = json.dumps(record, indent=1) + "\n"
    return atomic_write(out / f"{key}.options.json", lambda h: h.write(text.encode()))


def write_maps(
    model: Classifier,
    photos: list[Photo],
    result: Explanation,
    variant: tuple[str, str],
    out: Path,
) -> list[Path]:
    """Overlay figure (PNG, with its colour bar) and raw map (.npy, model input resolution)
    for each pair; ``variant`` is the method's (display name, file key)."""
    from thinktwice.cli.photos import for_display, pair_stem
    from thinktwice.visualization import overlay_figure, save_figure

    label, key = variant
    written = []
    for pair, (image_index, target) in enumerate(
        zip(result.image_index, result.targets, strict=True)
    ):
        photo, target = photos[int(image_index)], int(target)
        saliency = result.saliency[pair].detach().float().numpy()
        stem = out / f"{pair_stem(photo, target, model)}__{key}"
        title = f"{model.classes.name(target)} ({target}): {label}"
        figure = overlay_figure(photo.pixels, for_display(saliency), title=title)
        written.append(save_figure(figure, stem.with_suffix(".png")))
        written.append(save_npy(saliency, stem.with_suffix(".npy")))
    return written


def save_npy(array: np.ndarray, path: Path) -> Path:
    import numpy as np

    from thinktwice.visualization.files import atomic_write

    return atomic_write(path, lambda handle: np.save(handle, array.astype(np.float32)))


def write_grid(
    model: Classifier,
    photo: Photo,
    image_index: int,
    results: dict[str, Explanation],
    variants: dict[str, tuple[str, str, dict[str, object]]],
    probs: torch.Tensor,
    out: Path,
) -> Path:
    """Rows = classes, columns = methods (the layout of the paper's Figure 4). The file is
    ``STEM__grid.png``, with the keys of the methods not at their defaults appended."""
    from thinktwice.cli.photos import for_display, pair_title
    from thinktwice.visualization import grid_figure, model_label, save_figure

    rows = []
    first = next(iter(results.values()))
    pairs = [p for p, i in enumerate(first.image_index.tolist()) if i == image_index]
    for pair in pairs:
        target = int(first.targets[pair])
        cells = [
            (variants[method][0], for_display(result.saliency[pair].numpy()))
            for method, result in results.items()
        ]
        rows.append((pair_title(model, target, float(probs[image_index, target])), cells))
    title = f"{model_label(model.name)}: class saliency by method"
    figure = grid_figure(photo.pixels, rows, title=title)
    changed = "".join(f"__{key}" for method, (_, key, _) in variants.items() if key != method)
    return save_figure(figure, out / f"{photo.stem}__grid{changed}.png")
