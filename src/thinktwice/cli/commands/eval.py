"""``thinktwice eval``: localization error, classification error and pointing game on a dataset.

Runs under plain ``thinktwice eval ...`` or ``torchrun --nproc_per_node=N
-m thinktwice.cli.main eval ...`` (images sharded across the ranks).
"""

from __future__ import annotations

import argparse
import sys

from thinktwice.attribution import METHODS
from thinktwice.cli.common import add_feedback_arguments, feedback_options
from thinktwice.errors import ThinkTwiceError
from thinktwice.evaluation.datasets import open_dataset
from thinktwice.evaluation.distributed import torchrun_shard
from thinktwice.evaluation.html_report import write_html_report
from thinktwice.evaluation.report import markdown_summary
from thinktwice.evaluation.runner import EvalSettings, evaluate
from thinktwice.localization import BOX_METHODS
from thinktwice.models.zoo import DEFAULT_MODEL, load_model

NAME = "eval"
HELP = "localization / classification error and pointing game of methods on a dataset"


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
    add_feedback_arguments(parser)


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
        print(f"report: {write_html_report(args.out)}", file=sys.stderr)
    return 0
