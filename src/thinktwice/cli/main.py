"""The ``thinktwice`` program: one subcommand per module in :mod:`thinktwice.cli.commands`.

Exit codes: 0 done; 2 bad input (usage, an option out of range, an unreadable
image, an unknown class, a wrong weights file, an unwritable folder), reported
as one line each on stderr. Warnings are one line each too (``--quiet`` drops
them). Building the parser imports no torch: ``thinktwice --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from thinktwice import __version__
from thinktwice.cli.common import PROGRAM, apply_threads, report
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
    "rescore",
    "report",
)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in its help; options without one say so in their own words."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        if not text or "(default" in text or action.default is False:  # flags need none
            return text
        if action.default is None or action.default == []:
            return f"{text} (default: none)"
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line, like every other error of the program."""

    def error(self, message: str) -> NoReturn:
        report(f"{message} (see `{self.prog} --help`)")
        self.exit(2)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Any]]:
    parser = Parser(
        prog=PROGRAM,
        description="Feedback CNNs that look and think twice: class saliency and boxes.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROGRAM} {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = {}
    for module_name in COMMANDS:
        module = importlib.import_module(f"thinktwice.cli.commands.{module_name}")
        sub = subparsers.add_parser(
            module.NAME, help=module.HELP, description=module.HELP, formatter_class=HelpFormatter
        )
        module.add_arguments(sub)
        modules[module.NAME] = module
    return parser, modules


def main(argv: Sequence[str] | None = None) -> int:
    _printable_output()
    parser, modules = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # usage errors exit 2, --help and --version exit 0
        return int(stop.code or 0)
    with warnings.catch_warnings():
        if getattr(args, "quiet", False):
            warnings.simplefilter("ignore")
        warnings.showwarning = _one_line_warning
        try:
            apply_threads(args)
            return int(modules[args.command].run(args))
        except (ThinkTwiceError, OSError) as error:
            report(_error_text(error))
            return 2
        except KeyboardInterrupt:
            report("interrupted; files already written are complete")
            return 130


def _error_text(error: BaseException) -> str:
    """An error as one line: an OSError as "PATH: reason", not "[Errno 17] File exists: 'PATH'"."""
    if not isinstance(error, OSError):
        return str(error)
    if error.strerror and error.filename is not None:
        return f"{error.filename}: {error.strerror.lower()}"
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _printable_output() -> None:
    """Paths from file names that are not UTF-8 (``img_\\xff.jpg``) print escaped instead of
    ending the program in a UnicodeEncodeError (stderr already does this)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    text = " ".join(str(message).split())
    print(f"{PROGRAM}: warning: {text}", file=file or sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
