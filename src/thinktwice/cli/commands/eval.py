"""``thinktwice eval``: localization error, classification error and pointing game on a dataset.

Runs under plain ``thinktwice eval ...`` or ``torchrun --nproc_per_node=N
-m thinktwice.cli.main eval ...`` (images sharded across the ranks).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from thinktwice.attribution import METHODS
from thinktwice.errors import ThinkTwiceError
from thinktwice.evaluation.datasets import open_dataset
from thinktwice.evaluation.distributed import torchrun_shard
from thinktwice.evaluation.report import markdown_summary
from thinktwice.evaluation.runner import EvalSettings, evaluate
from thinktwice.localization import BOX_METHODS
from thinktwice.models.zoo import DEFAULT_MODEL, load_model

NAME = "eval"
HELP = "localization / classification error and pointing game of methods on a dataset"
FEEDBACK_FLAGS = ("solver", "layers", "max_iter", "step", "sparsity")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dataset",
        help="'tiny-imagenet', a boxes.json manifest, a VOC or ILSVRC-val folder",
    )
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"comma-separated methods (default: {','.join(METHODS)})",
    )
    parser.add_argument("--out", required=True, help="folder for results.jsonl and the summary")
    parser.add_argument("--split", help="dev or test, where the data defines splits")
    parser.add_argument("--limit", type=int, help="only the first N images")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model zoo name")
    parser.add_argument("--weights", help="weights file (needed for vgg16, alexnet, googlenet)")
    parser.add_argument("--batch-size", type=int, default=16, help="images per batch")
    parser.add_argument("--box", choices=BOX_METHODS, default="grabcut", help="box rule")
    parser.add_argument("--threads", type=int, help="torch threads per process")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    feedback = parser.add_argument_group("feedback options (library defaults when omitted)")
    feedback.add_argument("--solver", choices=("fsp", "fr", "relaxed"))
    feedback.add_argument("--layers", help="'all', the top k gate sites, or comma-separated names")
    feedback.add_argument("--max-iter", type=int)
    feedback.add_argument("--step", type=float, help="relaxed solver: ascent step")
    feedback.add_argument("--sparsity", type=float, help="relaxed solver: L1 pull towards 0")


def feedback_options(args: argparse.Namespace) -> dict[str, Any]:
    """Only the feedback options the user set, so the library defaults apply otherwise."""
    options: dict[str, Any] = {}
    for flag in FEEDBACK_FLAGS:
        value = getattr(args, flag, None)
        if value is not None:
            options[flag] = _layers(value) if flag == "layers" else value
    return options


def _layers(text: str) -> int | str | list[str]:
    if text == "all":
        return text
    if text.isdigit():
        return int(text)
    return [name.strip() for name in text.split(",") if name.strip()]


def run(args: argparse.Namespace) -> int:
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    if args.limit is not None and args.limit < 1:
        raise ThinkTwiceError(f"--limit must be at least 1, got {args.limit}")
    if args.batch_size < 1:
        raise ThinkTwiceError(f"--batch-size must be at least 1, got {args.batch_size}")
    dataset = open_dataset(args.dataset, split=args.split)
    model = load_model(args.model, weights=args.weights)
    options = feedback_options(args)
    settings = EvalSettings(
        methods=methods,
        model=args.model,
        dataset=str(args.dataset),
        split=args.split,
        weights=args.weights,
        box=args.box,
        method_options={"feedback": options},
        batch_size=args.batch_size,
        limit=args.limit,
    )
    with torchrun_shard(args.threads) as shard:
        summaries = evaluate(
            model, dataset, args.out, settings, shard=shard, progress=not args.quiet
        )
    if summaries is not None:
        print(
            markdown_summary(
                summaries,
                f"{args.model} on {dataset.name}" + (f" ({args.split})" if args.split else ""),
            )
        )
        print(
            f"results: {args.out}/results.jsonl, summary: {args.out}/summary.json", file=sys.stderr
        )
    return 0
