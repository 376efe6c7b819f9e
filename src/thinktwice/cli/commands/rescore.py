"""``thinktwice rescore``: score a run's stored maps again under another box rule or metric.

No saliency is computed: the maps ``eval`` kept in ``RUN_DIR/saliency/`` are read, the
photos loaded again for their boxes, and a new run folder written (resumable like eval).
"""

from __future__ import annotations

import argparse

from thinktwice.cli.common import add_box_argument, add_out_argument, add_quiet_argument
from thinktwice.cli.scoring import add_scoring_arguments, heldout_from

NAME = "rescore"
HELP = "score a finished or interrupted eval run again (another box rule or metric), no saliency"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the --out folder of `thinktwice eval`")
    add_out_argument(parser, "the new run folder (resumable)", required=True)
    add_box_argument(parser, default=None, text="box rule (default: the run's)")
    parser.add_argument("--max-side", metavar="N|none", help="GrabCut's working size "
                        "(default: the run's)")  # fmt: skip
    parser.add_argument("--box-smooth", type=float, metavar="S", help="blur of each map before "
                        "its box (default: the run's)")  # fmt: skip
    parser.add_argument("--metrics", help="comma-separated, from loc,pointing,maxboxacc "
                        "(default: the run's)")  # fmt: skip
    add_scoring_arguments(parser, defaults=False)
    add_quiet_argument(parser, "no progress bar")


def run(args: argparse.Namespace) -> int:
    from thinktwice.cli.commands.eval import _max_side, _split_list, print_reports
    from thinktwice.evaluation.reporting import write_reports
    from thinktwice.evaluation.run.rescore import rescore_run

    max_side = "same" if args.max_side is None else _max_side(args.max_side)
    rescore_run(
        args.run_dir,
        args.out,
        box=args.box,
        max_side=max_side,
        box_smooth=args.box_smooth,
        metrics=_split_list(args.metrics) if args.metrics else None,
        tau_step=args.tau_step,
        heldout=heldout_from(args.tau_from),
        box_workers=args.box_workers,
        progress=not args.quiet,
    )
    print_reports(write_reports(args.out))
    return 0
