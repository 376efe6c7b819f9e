"""``thinktwice explain``: heat maps per (image, class, method) and the paper's Figure 4 grid."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from thinktwice.attribution import METHODS
from thinktwice.cli.common import (
    Photo,
    add_feedback_arguments,
    add_model_arguments,
    add_target_argument,
    check_methods,
    for_display,
    method_options,
    model_from_args,
    output_folder,
    pair_stem,
    pair_title,
    probabilities,
    read_photos,
    target_specs,
)
from thinktwice.explain import Explanation, explain
from thinktwice.models.classifier import Classifier
from thinktwice.visualization import grid_figure, overlay, save_figure, save_png
from thinktwice.visualization.files import atomic_write

NAME = "explain"
HELP = "saliency maps of images for classes, method by method (overlays, .npy, grid figure)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", help="image files")
    add_target_argument(parser)
    parser.add_argument(
        "--method",
        nargs="+",
        default=list(METHODS),
        help=f"methods (default: all of {list(METHODS)})",
    )
    parser.add_argument("--out", default="out", help="output folder (default: out)")
    parser.add_argument("--batch-size", type=int, default=16, help="(image, class) pairs per batch")
    add_model_arguments(parser)
    add_feedback_arguments(parser)


def run(args: argparse.Namespace) -> int:
    methods = check_methods(args.method)
    model = model_from_args(args)
    specs = target_specs(model, args.target)
    out = output_folder(args.out)
    photos, failures = read_photos(args.images)
    if photos:
        for path in explain_photos(model, photos, specs, methods, out, args):
            print(path)
    return 2 if failures else 0


def explain_photos(
    model: Classifier,
    photos: list[Photo],
    specs: list[int | str],
    methods: list[str],
    out: Path,
    args: argparse.Namespace,
) -> list[Path]:
    """One explain() call per method over every (photo, class) pair; files per pair and a grid
    per photo."""
    results = {
        method: explain(
            model,
            [photo.image for photo in photos],
            [specs] * len(photos),
            method=method,
            batch_size=args.batch_size,
            **method_options(method, args),
        )
        for method in methods
    }
    first = results[methods[0]]
    probs = probabilities(model, first.inputs)
    written: list[Path] = []
    for method, result in results.items():
        written += write_maps(model, photos, result, method, out)
    for index, photo in enumerate(photos):
        written.append(write_grid(model, photo, index, results, probs, out))
    return written


def write_maps(
    model: Classifier, photos: list[Photo], result: Explanation, method: str, out: Path
) -> list[Path]:
    """Overlay PNG and raw map (.npy, model input resolution) for each pair."""
    written = []
    for pair, (image_index, target) in enumerate(
        zip(result.image_index, result.targets, strict=True)
    ):
        photo = photos[int(image_index)]
        saliency = result.saliency[pair].detach().float().numpy()
        stem = out / f"{pair_stem(photo, int(target), model)}__{method}"
        written.append(
            save_png(overlay(photo.pixels, for_display(saliency)), stem.with_suffix(".png"))
        )
        written.append(save_npy(saliency, stem.with_suffix(".npy")))
    return written


def save_npy(array: np.ndarray, path: Path) -> Path:
    return atomic_write(path, lambda handle: np.save(handle, array.astype(np.float32)))


def write_grid(
    model: Classifier,
    photo: Photo,
    image_index: int,
    results: dict[str, Explanation],
    probs,
    out: Path,
) -> Path:
    """Rows = classes, columns = methods (the layout of the paper's Figure 4)."""
    rows = []
    first = next(iter(results.values()))
    pairs = [p for p, i in enumerate(first.image_index.tolist()) if i == image_index]
    for pair in pairs:
        target = int(first.targets[pair])
        cells = [
            (method, for_display(result.saliency[pair].numpy()))
            for method, result in results.items()
        ]
        rows.append((pair_title(model, target, float(probs[image_index, target])), cells))
    figure = grid_figure(photo.pixels, rows, title=photo.path.name)
    return save_figure(figure, out / f"{photo.stem}__grid.png")
