"""Evaluation in four rooms: ``datasets/`` (readers of the photo sets), ``metrics/`` (pure
functions over outcomes: localization, pointing, faithfulness, MaxBoxAcc, paired tests, the
summary), ``run/`` (the resumable, locked, distributed runner and the files it keeps) and
``reporting/`` (summary.json / summary.md, the chart, the HTML report, written from a run
folder)."""
