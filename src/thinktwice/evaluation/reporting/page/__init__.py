"""The report page, all in this folder: the data it shows (``data``), its HTML
(``render``, ``template.html``, ``report.css``) and the gallery's script (``report.js``).

It knows nothing of run folders: :mod:`thinktwice.evaluation.reporting.html_report`
gathers a run into the page's data and calls :func:`render.render_page`.
"""
