"""Evaluation: datasets/ (readers), metrics (localization, classification), pointing (TorchRay's
pointing game), faithfulness (deletion/insertion AUC), paired (McNemar, Wilcoxon), results
(the resumable results file), runner (the run), summary and report (what a run leaves)."""
