"""``thinktwice report``: one self-contained HTML page of an evaluation run, to look at.

Like ``eval`` and ``rescore`` it writes every report of the run folder (summary.json,
summary.md and the chart beside the page), from the folder alone. The page (summary
table, chart, paired comparisons, a filterable gallery of every image with each method's
map and box) needs no server and no network: open it from any folder.
"""

from __future__ import annotations

import argparse

from thinktwice.cli.common import add_out_argument

NAME = "report"
HELP = "write the HTML report (summary, charts, gallery) of an eval run folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the --out folder of `thinktwice eval`")
    add_out_argument(parser, "the HTML file to write (default: RUN_DIR/report.html)", default=None)


def run(args: argparse.Namespace) -> int:
    from thinktwice.evaluation.reporting import write_reports

    print(write_reports(args.run_dir, args.out).paths["report"])
    return 0
