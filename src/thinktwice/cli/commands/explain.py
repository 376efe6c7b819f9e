"""``thinktwice explain``: heat maps per (image, class, method) and the paper's Figure 4 grid."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from thinktwice.cli import common
from thinktwice.options import METHOD_NAMES

if TYPE_CHECKING:
    import numpy as np
    import torch

    from thinktwice import Explanation
    from thinktwice.cli.photos import Photo
    from thinktwice.models.classifier import Classifier

NAME = "explain"
HELP = "saliency maps of images for classes, method by method (overlays, .npy, grid figure)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_pair_arguments(parser, methods=METHOD_NAMES)
    common.add_out_argument(parser)
    parser.add_argument(
        "--batch-size", type=common.positive_int, default=16, help="(image, class) pairs per batch"
    )
    common.add_map_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from thinktwice.cli.photos import read_photos

    methods = common.selected_methods(args)
    model, specs = common.model_and_targets(args)
    out = common.output_folder(args.out)
    photos, failures = read_photos(args.images)
    if photos:
        for path in explain_photos(model, photos, specs, methods, out, args):
            common.say(args, path)
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
    from thinktwice.cli.photos import photo_maps, probabilities

    results = {
        method: photo_maps(model, photos, specs, method, args, batch_size=args.batch_size)
        for method in methods
    }
    variants = {method: common.method_variant(method, args) for method in methods}
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
    from thinktwice.cli.photos import pair_stem, photo_pairs
    from thinktwice.visualization import clip_for_display, overlay_figure, save_figure

    label, key = variant
    written = []
    for pair, photo, target in photo_pairs(result, photos):
        saliency = result.saliency[pair].detach().float().numpy()
        stem = out / f"{pair_stem(photo, target, model)}__{key}"
        title = f"{model.classes.name(target)} ({target}): {label}"
        figure = overlay_figure(photo.pixels, clip_for_display(saliency), title=title)
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
    from thinktwice.cli.photos import pair_title
    from thinktwice.visualization import clip_for_display, grid_figure, model_label, save_figure

    rows = []
    first = next(iter(results.values()))
    pairs = [p for p, i in enumerate(first.image_index.tolist()) if i == image_index]
    for pair in pairs:
        target = int(first.targets[pair])
        cells = [
            (variants[method][0], clip_for_display(result.saliency[pair].numpy()))
            for method, result in results.items()
        ]
        rows.append((pair_title(model, target, float(probs[image_index, target])), cells))
    title = f"{model_label(model.name)}: class saliency by method"
    figure = grid_figure(photo.pixels, rows, title=title)
    changed = "".join(f"__{key}" for method, (_, key, _) in variants.items() if key != method)
    return save_figure(figure, out / f"{photo.stem}__grid{changed}.png")
