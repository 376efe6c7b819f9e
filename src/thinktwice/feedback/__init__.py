"""Feedback's own parts: the gate rule at each site (:mod:`~thinktwice.feedback.gates`) and
the solvers that set the gates (:mod:`~thinktwice.feedback.solvers`). The method built on
them is :class:`thinktwice.attribution.feedback.Feedback`."""
