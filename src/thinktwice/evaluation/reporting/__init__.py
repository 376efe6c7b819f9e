"""What a run folder is turned into for people, from the folder alone: the run summarised
once (``run_summary``), summary.json, summary.md and the bar chart (``summary_files``), the
self-contained HTML report (``html_report`` gathers a run for it; ``page/`` holds the page:
its data, template, style and script); :func:`write_reports` (``write``) writes them all."""

from thinktwice.evaluation.reporting.write import WrittenReports, write_reports

__all__ = ["WrittenReports", "write_reports"]
