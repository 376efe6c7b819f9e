"""The hook machinery every method uses: where rules go (:mod:`~thinktwice.hooks.sites`),
installing a rule there for a ``with`` block (:mod:`~thinktwice.hooks.install`), and the
model rewrite that runs only the part of a network above given modules
(:mod:`~thinktwice.hooks.split`). What a rule does lives with the method that uses it."""
