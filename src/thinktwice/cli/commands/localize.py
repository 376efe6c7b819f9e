"""``thinktwice localize``: the box a saliency map points at, drawn and/or as JSON lines."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from thinktwice.attribution import METHODS
from thinktwice.cli.common import (
    Photo,
    add_feedback_arguments,
    add_model_arguments,
    add_target_argument,
    check_methods,
    method_options,
    model_from_args,
    output_folder,
    pair_stem,
    read_photos,
    target_specs,
)
from thinktwice.explain import explain
from thinktwice.localization import BOX_METHODS, Localization, localize
from thinktwice.models.classifier import Classifier
from thinktwice.visualization import draw_boxes, save_png

NAME = "localize"
HELP = "object boxes from saliency (GrabCut on the map), drawn on the photo or as JSON"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", help="image files")
    add_target_argument(parser)
    parser.add_argument("--method", default="feedback", choices=list(METHODS), help="saliency")
    parser.add_argument("--box", default="grabcut", choices=BOX_METHODS, help="box rule")
    parser.add_argument("--json", action="store_true", help="one JSON object per line on stdout")
    parser.add_argument("--out", default="out", help="folder for the box pictures (default: out)")
    add_model_arguments(parser)
    add_feedback_arguments(parser)


def run(args: argparse.Namespace) -> int:
    check_methods([args.method])
    model = model_from_args(args)
    specs = target_specs(model, args.target)
    out = output_folder(args.out)
    photos, failures = read_photos(args.images)
    for line, picture in localize_photos(model, photos, specs, args, out):
        print(json.dumps(line) if args.json else picture)
    return 2 if failures else 0


def localize_photos(
    model: Classifier,
    photos: list[Photo],
    specs: list[int | str],
    args: argparse.Namespace,
    out: Path,
) -> list[tuple[dict[str, Any], Path]]:
    """(JSON record, picture path) per (photo, class) pair."""
    if not photos:
        return []
    result = explain(
        model,
        [photo.image for photo in photos],
        [specs] * len(photos),
        method=args.method,
        **method_options(args.method, args),
    )
    found = []
    for pair, (image_index, target) in enumerate(
        zip(result.image_index, result.targets, strict=True)
    ):
        photo, target = photos[int(image_index)], int(target)
        box = localize(photo.pixels, result.saliency[pair].numpy(), method=args.box)
        record = box_record(photo, target, model.classes.name(target), args.method, box)
        picture = out / f"{pair_stem(photo, target, model)}__{args.method}__box.png"
        found.append((record, draw(photo, record, box, picture)))
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


def draw(photo: Photo, record: dict[str, Any], found: Localization, path: Path) -> Path:
    boxes = [found.box] if found.box is not None else []
    labels = [record["class_name"]] if boxes else None
    return save_png(draw_boxes(photo.pixels, boxes, labels), path)
