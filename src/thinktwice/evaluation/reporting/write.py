"""One call writes every report of a run folder, from the folder alone: summary.json,
summary.md, the chart (errors.png) and report.html.

``thinktwice eval``, ``thinktwice rescore`` and ``thinktwice report`` all call
:func:`write_reports`; the run is summarised once
(:func:`~thinktwice.evaluation.reporting.run_summary.summarise_run`) and every file shows
that one summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thinktwice.evaluation.metrics.summary import REFERENCE
from thinktwice.evaluation.reporting.html_report import html_target, write_html_report
from thinktwice.evaluation.reporting.run_summary import RunSummary, summarise_run
from thinktwice.evaluation.reporting.summary_files import markdown_summary, write_report
from thinktwice.io.files import PathLike

__all__ = ["WrittenReports", "write_reports"]


@dataclass(frozen=True)
class WrittenReports:
    """The files written, by kind (``summary``, ``table``, ``chart`` when some method was
    measured, ``report``), and the summary they show."""

    paths: dict[str, Path]
    summary: RunSummary

    @property
    def summaries(self) -> dict[str, dict[str, Any]]:
        """Per method, its metrics (what summary.json holds under "methods")."""
        return self.summary.summaries

    def table(self) -> str:
        """summary.md's table of methods (without its paired tests), to print."""
        summary = self.summary
        return markdown_summary(summary.summaries, summary.title, summary.headline, summary.labels)


def write_reports(run_dir: PathLike, page: PathLike | None = None) -> WrittenReports:
    """Summarise the run folder once and write every report file of it (``page``: where the
    HTML report goes, an .html file; default RUN_DIR/report.html). A folder that is not a
    usable run is a one-line ThinkTwiceError before anything is written."""
    run = Path(run_dir)
    target = html_target(run, page)
    summary = summarise_run(run)
    paths = write_report(
        run,
        summary.summaries,
        title=summary.title,
        paired=summary.paired,
        paired_scores=summary.paired_scores,
        about=summary.about(),
        reference=REFERENCE,
        headline=summary.headline,
        labels=summary.labels,
    )
    paths["report"] = write_html_report(run, target, summary=summary)
    return WrittenReports(paths, summary)
