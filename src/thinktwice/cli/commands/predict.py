"""``thinktwice predict``: the top-5 classes of each image."""

from __future__ import annotations

import argparse

import torch

from thinktwice.cli.common import add_model_arguments, model_from_args, probabilities, read_photos

NAME = "predict"
HELP = "top-5 classes of images, with names and probabilities"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", help="image files")
    parser.add_argument("-k", type=int, default=5, help="how many classes (default 5)")
    add_model_arguments(parser)


def run(args: argparse.Namespace) -> int:
    model = model_from_args(args)
    photos, failures = read_photos(args.images)
    k = max(1, min(args.k, len(model.classes)))
    for photo in photos:
        probs = probabilities(model, model.preprocess(photo.image)[None])[0]
        top = torch.topk(probs, k)
        print(photo.path)
        for p, index in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            print(f"  {index:4d}  {p:6.3f}  {model.classes.name(index)}")
    return 2 if failures else 0
