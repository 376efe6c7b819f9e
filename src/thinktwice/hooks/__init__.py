"""The hook machinery every method uses: where rules go (:mod:`~thinktwice.hooks.sites`),
what probe forwards found about a model, kept once per model (:mod:`~thinktwice.hooks.probes`),
installing a rule there for a ``with`` block (:mod:`~thinktwice.hooks.install`), and the
model rewrite that runs only the part of a network above given modules
(:mod:`~thinktwice.hooks.split`). What a rule does lives with the method that uses it."""
