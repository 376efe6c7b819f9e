"""``thinktwice localize``: the box a saliency map points at, drawn and/or as JSON lines."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from thinktwice.cli.common import (
    add_device_argument,
    add_feedback_arguments,
    add_methods_argument,
    add_model_arguments,
    add_quiet_argument,
    add_target_argument,
    model_from_args,
    output_folder,
    say,
    selected_methods,
    target_specs,
)
from thinktwice.options import BOX_METHODS

if TYPE_CHECKING:
    from thinktwice.cli.photos import Photo
    from thinktwice.localization import Localization
    from thinktwice.models.classifier import Classifier

NAME = "localize"
HELP = "object boxes from saliency (GrabCut on the map), drawn on the photo or as JSON"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", help="image files")
    add_target_argument(parser)
    add_methods_argument(parser, default=("feedback",))
    parser.add_argument("--box", default="grabcut", choices=BOX_METHODS, help="box rule")
    parser.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line on stdout (its only output); no pictures unless --out",
    )
    parser.add_argument(
        "--out", help="folder for the box pictures (default: out; none with --json)"
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
    pictures = args.out if args.out is not None else (None if args.json else "out")
    out = output_folder(pictures) if pictures is not None else None
    photos, failures = read_photos(args.images)
    for record, picture in localize_photos(model, photos, specs, methods, args, out):
        if args.json:  # stdout holds the JSON lines only
            print(json.dumps(record), flush=True)
        elif picture is not None:
            say(args, picture)
    return 2 if failures else 0


def localize_photos(
    model: Classifier,
    photos: list[Photo],
    specs: list[int | str],
    methods: list[str],
    args: argparse.Namespace,
    out: Path | None,
) -> list[tuple[dict[str, Any], Path | None]]:
    """(JSON record, picture path or None) per (method, photo, class)."""
    from thinktwice.cli.common import method_options, method_variant
    from thinktwice.cli.photos import pair_stem
    from thinktwice.explanation import explain
    from thinktwice.localization import localize

    found = []
    for method in methods if photos else []:
        label, key, _ = method_variant(method, args)
        result = explain(
            model,
            [photo.image for photo in photos],
            [specs] * len(photos),
            method=method,
            progress=False if args.quiet else None,
            **method_options(method, args),
        )
        for pair, (image_index, target) in enumerate(
            zip(result.image_index, result.targets, strict=True)
        ):
            photo, target = photos[int(image_index)], int(target)
            box = localize(photo.pixels, result.saliency[pair].numpy(), method=args.box)
            record = box_record(photo, target, model.classes.name(target), method, box)
            picture = None
            if out is not None:
                path = out / f"{pair_stem(photo, target, model)}__{key}__box.png"
                picture = draw(photo, record, box, path, label)
            found.append((record, picture))
    return found


def box_record(
    photo: Photo, target: int, name: str, method: str, found: Localization
) -> dict[str, Any]:
    box = found.box
    return {
        "image": str(photo.path),
        "target": target,
        "class_name": name,
        "method": method,
        "box": [box.x0, box.y0, box.x1, box.y1] if box is not None else None,
        "reason": found.reason if box is None else None,
    }


def draw(
    photo: Photo, record: dict[str, Any], found: Localization, path: Path, method: str
) -> Path:
    """The photo with the box, labelled by class and ``method`` (its display name)."""
    from thinktwice.visualization import draw_boxes, save_png

    boxes = [found.box] if found.box is not None else []
    labels = [f"{record['class_name']} ({method})"] if boxes else None
    return save_png(draw_boxes(photo.pixels, boxes, labels), path)
