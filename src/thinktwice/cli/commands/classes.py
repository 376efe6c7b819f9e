"""``thinktwice classes``: find class indices by name."""

from __future__ import annotations

import argparse

from thinktwice.cli.common import add_model_arguments, model_from_args, report

NAME = "classes"
HELP = "find class indices by (part of) their name"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", help="a name or part of one, e.g. 'retriever'")
    parser.add_argument("--limit", type=int, default=20, help="at most this many matches")
    add_model_arguments(parser)


def run(args: argparse.Namespace) -> int:
    model = model_from_args(args)
    matches = model.classes.search(args.query, limit=args.limit)
    if not matches:
        report(f"{args.query!r}: no class name matches")
        return 2
    for index, name in matches:
        print(f"{index:4d}  {name}")
    return 0
