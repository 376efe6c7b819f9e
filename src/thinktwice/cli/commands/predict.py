"""``thinktwice predict``: the top-5 classes of each image."""

from __future__ import annotations

import argparse

from thinktwice.cli import common
from thinktwice.options import TOP_K

NAME = "predict"
HELP = "top-5 classes of images, with names and probabilities"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_images_argument(parser)
    parser.add_argument("-k", type=common.positive_int, default=TOP_K, help="how many classes")
    common.add_model_arguments(parser)
    common.add_device_argument(parser)


def run(args: argparse.Namespace) -> int:
    import torch

    from thinktwice.cli.photos import probabilities, read_photos

    model = common.model_from_args(args)
    photos, failures = read_photos(args.images)
    k = min(args.k, len(model.classes))
    for photo in photos:
        probs = probabilities(model, model.preprocess(photo.image)[None])[0]
        top = torch.topk(probs, k)
        print(photo.path)
        for p, index in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            print(f"  {index:4d}  {p:6.3f}  {model.classes.name(index)}")
    return 2 if failures else 0
