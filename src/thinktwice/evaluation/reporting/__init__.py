"""What a run folder is turned into for people: summary.json, summary.md and the bar chart
(``summary_files``), the self-contained HTML report (``html_report`` gathers a run for
it; ``page/`` holds the page: its data, template, style and script)."""
