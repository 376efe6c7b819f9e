"""What probe forwards find about a model, found once per model.

A method learns where its rules go by probe forwards: the site survey, Grad-CAM's layer
and its site, the finer feature map, the torch.fx trace and its split checks. Those
depend only on the module tree and the input shape, not on the images, yet ``explain``
builds a new method per call. :func:`probed` keeps each result on the model itself, so
every method instance of one model (and every call) shares it.

The cache is a plain attribute of the probed module (any ``nn.Module``: a
:class:`~thinktwice.models.Classifier`, or a bare network a survey is given), not a
field of the Classifier: the hooks room sits above the models room, which must not
import it back, and a cache keyed by model in this module would be global mutable state.
It is no submodule, buffer or state-dict entry, moves with no ``.to()``, and is not
carried by ``copy.deepcopy`` or pickling: a copy probes itself.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from torch import nn

from thinktwice.models.state import exclusive

#: The attribute of a probed model that holds its :class:`ProbeCache`.
PROBES_ATTRIBUTE = "_thinktwice_probes"

T = TypeVar("T")
ModuleTree = tuple[tuple[str, nn.Module], ...]


class ProbeCache:
    """Probe results of one model, by key; valid for the module tree it was made for
    (the same module objects under the same names)."""

    def __init__(self, modules: ModuleTree = ()):
        self.modules = modules
        self.values: dict[Hashable, Any] = {}

    def matches(self, modules: ModuleTree) -> bool:
        """Whether ``modules`` is the tree these results were probed on."""
        return len(modules) == len(self.modules) and all(
            name == old_name and module is old
            for (name, module), (old_name, old) in zip(modules, self.modules, strict=True)
        )

    def __deepcopy__(self, _memo: dict) -> ProbeCache:
        return ProbeCache()  # the copy's modules are other objects: it probes itself

    def __reduce__(self) -> tuple:
        return (ProbeCache, ())


def probe_cache(model: nn.Module) -> ProbeCache:
    """The model's cache for its current module tree: a new, empty one when a module was
    replaced, added or renamed since the last probe."""
    modules = tuple(model.named_modules())
    cache = model.__dict__.get(PROBES_ATTRIBUTE)
    if not isinstance(cache, ProbeCache) or not cache.matches(modules):
        cache = ProbeCache(modules)
        object.__setattr__(model, PROBES_ATTRIBUTE, cache)  # a plain attribute, no submodule
    return cache


def probed(model: nn.Module, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, run once per ``model`` (its module tree) and ``key``.

    ``key`` must name everything else the result depends on (the input shape, the
    placement, the layer...). Runs under the model's lock (:func:`exclusive`, which
    every probe forward takes anyway), so two threads probing one model compute a result
    once; the cache is only ever replaced whole or given a new entry, so even without the
    lock a race would compute twice, never mix two trees' results. An exception from
    ``compute`` is not kept: the next call tries again.
    """
    with exclusive(model):
        cache = probe_cache(model)
        if key not in cache.values:
            cache.values[key] = compute()
        return cache.values[key]
