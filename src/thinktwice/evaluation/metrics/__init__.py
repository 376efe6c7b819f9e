"""What an evaluation measures, as pure functions over plain data: localization and
classification (``localization``), TorchRay's pointing game (``pointing``), deletion/insertion
AUC (``faithfulness``), wsolevaluation's MaxBoxAcc (``maxboxacc``), class specificity on
multi-object photos (``specificity``), McNemar / Wilcoxon (``paired``) and the per-method
summary of a results file (``summary``)."""
