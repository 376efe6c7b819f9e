"""The ``thinktwice`` program: one subcommand per module in :mod:`thinktwice.cli.commands`.

Exit codes: 0 done; 2 bad input (usage, an unreadable image, an unknown class,
a wrong weights file, an unwritable folder), reported as one line each on stderr.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from thinktwice.cli.common import PROGRAM, report
from thinktwice.errors import ThinkTwiceError

COMMANDS = (
    "predict",
    "classes",
    "explain",
    "localize",
    "compare_models",
    "feedback_trace",
    "demo",
    "eval",
    "report",
)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Feedback CNNs that look and think twice: class saliency and boxes.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = {}
    for module_name in COMMANDS:
        module = importlib.import_module(f"thinktwice.cli.commands.{module_name}")
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        modules[module.NAME] = module
    return parser, modules


def main(argv: Sequence[str] | None = None) -> int:
    parser, modules = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse: usage errors exit 2, --help exits 0
        return int(stop.code or 0)
    try:
        return int(modules[args.command].run(args))
    except (ThinkTwiceError, OSError) as error:
        report(str(error).splitlines()[0] if isinstance(error, OSError) else str(error))
        return 2
    except KeyboardInterrupt:
        report("interrupted; files already written are complete")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
