"""An evaluation from end to end: run it (``run/``), then write its reports (``reporting/``).

The runner writes no report; these two calls add the one call that does
(:func:`~thinktwice.evaluation.reporting.write.write_reports`), so a library user gets what
``thinktwice eval`` and ``thinktwice rescore`` leave: the run folder with summary.json,
summary.md, errors.png and report.html, and the per-method summaries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from thinktwice.evaluation.datasets.base import Dataset
from thinktwice.evaluation.reporting.write import write_reports
from thinktwice.evaluation.run.rescore import rescore_run
from thinktwice.evaluation.run.runner import EvalSettings, run_evaluation
from thinktwice.models.classifier import Classifier

__all__ = ["EvalSettings", "evaluate", "rescore"]

Summaries = dict[str, dict[str, Any]]


def evaluate(
    model: Classifier, dataset: Dataset, out_dir: str | Path, settings: EvalSettings, **run: Any
) -> Summaries | None:
    """Run (or resume) an evaluation into ``out_dir`` and write its reports; rank 0 returns
    the per-method summaries (summary.json's "methods"), the other ranks None. ``run``:
    ``shard``, ``progress``, ``report`` of
    :func:`~thinktwice.evaluation.run.runner.run_evaluation`."""
    scope = run_evaluation(model, dataset, out_dir, settings, **run)
    return None if scope is None else write_reports(out_dir).summaries


def rescore(run_dir: str | Path, out_dir: str | Path, **options: Any) -> Summaries:
    """Score ``run_dir``'s stored maps again into ``out_dir`` and write its reports; the
    per-method summaries. See :func:`~thinktwice.evaluation.run.rescore.rescore_run`."""
    rescore_run(run_dir, out_dir, **options)
    return write_reports(out_dir).summaries
