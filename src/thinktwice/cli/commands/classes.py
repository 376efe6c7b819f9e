"""``thinktwice classes``: find classes by index or by (whole words of) their name.

Reads only the class-name list, never the network, so it answers at once.
"""

from __future__ import annotations

import argparse

from thinktwice.cli import common

NAME = "classes"
HELP = "find classes by index (285) or by whole words of their name (cat, golden retriever)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", help="a class index, or a name or words of one, e.g. 'retriever'")
    parser.add_argument(
        "--limit", type=common.positive_int, default=20, help="at most this many matches"
    )
    common.add_model_arguments(parser, weights=False)


def run(args: argparse.Namespace) -> int:
    from thinktwice.models.classes import imagenet_classes

    classes = imagenet_classes()  # every zoo model predicts the 1000 ImageNet classes
    query = args.query.strip()
    if query.isdigit():
        classes.lookup(int(query))  # an index out of range is an error naming the range
    matches = classes.search(query, limit=args.limit)
    if not matches:
        common.report(f"{args.query!r}: no class name matches")
        return 2
    for index, name in matches:
        print(f"{index:4d}  {name}")
    return 0
