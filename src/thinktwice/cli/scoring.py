"""Options that ``eval`` and ``rescore`` share: how maps are scored (boxes, MaxBoxAcc)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from thinktwice.cli.common import non_negative_int
from thinktwice.errors import OptionError
from thinktwice.options import DEFAULT_TAU_STEP


def add_scoring_arguments(parser: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    """``--tau-step``, ``--tau-from`` and ``--box-workers``."""
    parser.add_argument(
        "--tau-step",
        type=float,
        default=DEFAULT_TAU_STEP if defaults else None,
        metavar="STEP",
        help="MaxBoxAcc thresholds 0, STEP, 2 STEP, ... < 1 (wsolevaluation's "
        f"cam_curve_interval; default: {DEFAULT_TAU_STEP}"
        + ("" if defaults else ", or the run's")
        + ")",
    )
    parser.add_argument(
        "--tau-from",
        metavar="DEV_RUN",
        help="also score MaxBoxAcc at the taus a dev run chose (its summary.json), per method: "
        "the protocol's held-out threshold",
    )
    parser.add_argument(
        "--box-workers",
        type=non_negative_int,
        metavar="N",
        help="processes computing boxes while the next batch's maps are computed (0: boxes in "
        "this process; default: this process's share of the cores, 0 on a single core)",
    )


def heldout_from(run_dir: str | None) -> dict[str, dict[str, float]] | None:
    """Per method, the taus a dev run's summary.json chose (None without ``--tau-from``)."""
    if run_dir is None:
        return None
    from thinktwice.evaluation.metrics.maxboxacc import heldout_taus
    from thinktwice.evaluation.reporting.summary_files import SUMMARY_NAME

    path = Path(run_dir) / SUMMARY_NAME
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        chosen = heldout_taus(data["methods"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise OptionError(f"--tau-from {run_dir}: no readable {SUMMARY_NAME} ({error})") from error
    if not chosen:
        raise OptionError(f"--tau-from {run_dir}: its summary has no MaxBoxAcc (run it with "
                          "--metrics maxboxacc)")  # fmt: skip
    return chosen
