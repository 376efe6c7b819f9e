"""Feedback at the cost of what changes: the network below its lowest gate runs once.

Every feedback pass runs the network with other gates, but nothing below the
lowest installed gate depends on them. :class:`ModelTrace` traces a model once
with ``torch.fx`` and, for the modules a computation needs (the installed gate
sites, the layer Grad-CAM reads), cuts its graph in two:

* the *prefix*: every node none of those modules can reach (it is the same in
  every pass); it runs once per batch, without autograd, on the distinct images;
* the *suffix*: those modules and everything downstream of them; it runs in each
  pass from the prefix's *boundary* tensors (the prefix values the suffix reads,
  e.g. a residual branch's input as well as the main path).

A pass runs the suffix *through the model's own call* (:meth:`BoundPrefix.running`
swaps ``model.forward`` for the block), so every hook installed on the model and
its modules -- gates, their per-forward call counter, Grad-CAM's capture -- acts
exactly as in a full forward. Only passes that need no gradient below the cut
may use it (the solver's intermediate passes and a Grad-CAM read above the cut);
the image gradient still needs the full network.

Tracing treats as leaves (called whole, so their hooks fire) the ``torch.nn``
modules, every gate-site kind, the modules named by the caller, and any module
holding no gate-site kind (whatever its forward does, e.g. TensorFlow "SAME"
padding computed from the input's shape). A model that does not trace, or whose
traced split does not reproduce its output on a probe, gets ``None`` from
:func:`trace_model` with the reason, and feedback runs the whole network each pass.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.fx as fx
from torch import nn

from thinktwice.hooks.sites import site_kind
from thinktwice.models.state import eval_mode
from thinktwice.pairs import distinct_rows

#: How close the split network's logits must be to the model's on the probe.
PROBE_TOLERANCE = 1e-4


class _SiteTracer(fx.Tracer):
    """fx tracing that keeps gate-site modules, the ``keep`` modules and every module
    without a gate-site kind inside it as single calls."""

    def __init__(self, keep: Iterable[str]):
        super().__init__()
        self.keep = set(keep)

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        if super().is_leaf_module(module, qualified_name) or qualified_name in self.keep:
            return True
        if site_kind(module) is not None:
            return True
        return not any(site_kind(m) is not None for m in module.modules() if m is not module)


@dataclass
class Split:
    """A model's graph cut in two: ``prefix(images) -> boundary``, ``suffix(*boundary) ->
    logits``."""

    prefix: fx.GraphModule
    suffix: fx.GraphModule
    boundary: tuple[str, ...]  # the prefix nodes the suffix reads
    batched: tuple[bool, ...]  # per boundary node: whether it depends on the images

    def bind(self, model: nn.Module, images: torch.Tensor) -> BoundPrefix:
        """The prefix of ``model`` computed once for ``images`` (distinct rows only, in eval
        mode, without autograd)."""
        firsts, inverse = distinct_rows(images)
        with eval_mode(model), torch.no_grad():
            values = self.prefix(images[firsts])
        return BoundPrefix(self, tuple(values), inverse)


@dataclass
class BoundPrefix:
    """A batch's prefix values; :meth:`running` runs passes of its rows from them."""

    split: Split
    values: tuple[torch.Tensor, ...]  # batched ones: one row per distinct image
    inverse: torch.Tensor  # batch row -> distinct image

    @contextmanager
    def running(self, model: nn.Module, rows: torch.Tensor | None = None) -> Iterator[None]:
        """Within the block, ``model(x)`` for the batch's ``rows`` (default: all) runs only
        the suffix, from the cached boundary (``x`` must hold those rows)."""
        picked = self.inverse if rows is None else self.inverse[rows]
        values = [
            value[picked] if batched else value
            for value, batched in zip(self.values, self.split.batched, strict=True)
        ]
        suffix = self.split.suffix

        def forward(images: torch.Tensor, *_args, **_kwargs) -> torch.Tensor:
            if len(images) != len(picked):
                raise RuntimeError(
                    f"a split pass was given {len(images)} rows, its prefix holds {len(picked)}"
                )
            return suffix(*values)

        had_own = "forward" in model.__dict__
        saved = model.__dict__.get("forward")
        model.forward = forward  # type: ignore[method-assign]
        try:
            yield
        finally:
            if had_own:
                model.forward = saved  # type: ignore[method-assign]
            else:
                del model.forward


class ModelTrace:
    """A model traced once; :meth:`split` cuts it below given modules.

    ``probe``: an input batch (a few rows) on which every cut is checked against the
    model itself before it is used. Raises whatever ``torch.fx`` raises when the model
    does not trace (see :func:`trace_model`).
    """

    def __init__(self, model: nn.Module, probe: torch.Tensor, keep: Iterable[str] = ()):
        self.model = model
        self.probe = probe
        with eval_mode(model):
            self.graph = _SiteTracer(keep).trace(model)
        self._splits: dict[frozenset[str], Split | None] = {}
        self.problems: dict[frozenset[str], str] = {}  # cuts that failed their check, and why

    def split(self, modules: Iterable[str]) -> Split | None:
        """The graph cut below every call of ``modules`` (module names; a call of a module
        that holds one counts too); None when nothing lies below them or when the cut
        does not reproduce the model on the probe (a warning, once, says why)."""
        key = frozenset(modules)
        if key not in self._splits:
            split = self._cut(key)
            problem = _mismatch(self.model, split, self.probe) if split is not None else None
            if problem is not None:
                self.problems[key] = problem
                warnings.warn(
                    f"feedback: the network split below the gates ({problem}); every pass "
                    "runs the whole network",
                    RuntimeWarning,
                    stacklevel=2,
                )
                split = None
            self._splits[key] = split
        return self._splits[key]

    def bind(self, images: torch.Tensor, modules: Iterable[str]) -> BoundPrefix | None:
        """The prefix below ``modules`` computed for ``images``; None when there is none."""
        split = self.split(modules)
        return None if split is None else split.bind(self.model, images)

    def _cut(self, modules: frozenset[str]) -> Split | None:
        nodes = list(self.graph.nodes)
        needed = _downstream(nodes, {n for n in nodes if _calls_any(n, modules)})
        constant = [n for n in nodes if n not in needed and n.op != "output"]
        if not any(n.op == "call_module" for n in constant):
            return None  # nothing worth saving: no layer lies below the cut
        boundary = [n for n in constant if any(user in needed for user in n.users)]
        batched = _downstream(nodes, {n for n in nodes if n.op == "placeholder"})
        return Split(
            prefix=fx.GraphModule(self.model, _prefix_graph(constant, boundary)),
            suffix=fx.GraphModule(self.model, _suffix_graph(nodes, needed, boundary)),
            boundary=tuple(n.name for n in boundary),
            batched=tuple(n in batched for n in boundary),
        )


def trace_model(
    model: nn.Module, probe: torch.Tensor, keep: Iterable[str] = ()
) -> tuple[ModelTrace | None, str | None]:
    """(the model's trace, None), or (None, why it does not trace)."""
    try:
        return ModelTrace(model, probe, keep), None
    except Exception as error:  # noqa: BLE001 -- fx raises many kinds; any means "no trace"
        text = str(error).strip().splitlines()
        return None, f"{type(error).__name__}: {text[-1] if text else ''}".rstrip(": ")


def _mismatch(model: nn.Module, split: Split, probe: torch.Tensor) -> str | None:
    """Why ``split`` does not reproduce ``model`` on ``probe`` with a repeated row, or None."""
    rows = torch.cat([probe, probe[:1]])
    try:
        with eval_mode(model), torch.no_grad():
            expected = model(rows)
            with split.bind(model, rows).running(model):
                got = model(rows)
    except Exception as error:  # noqa: BLE001
        return f"{type(error).__name__}: {error}".splitlines()[0]
    scale = float(expected.abs().max().clamp_min(1.0))
    if got.shape != expected.shape or not torch.allclose(
        got, expected, rtol=0, atol=PROBE_TOLERANCE * scale
    ):
        return "its logits differ from the model's on a probe"
    return None


def _calls_any(node: fx.Node, modules: frozenset[str]) -> bool:
    """Whether ``node`` calls one of ``modules`` or a module holding one."""
    if node.op != "call_module":
        return False
    target = str(node.target)
    return any(name == target or name.startswith(target + ".") for name in modules)


def _downstream(nodes: Sequence[fx.Node], starts: set[fx.Node]) -> set[fx.Node]:
    """``starts`` and every node that reads one of them, directly or not."""
    reached = set(starts)
    for node in nodes:  # topological order: a node's inputs come before it
        if node not in reached and any(arg in reached for arg in node.all_input_nodes):
            reached.add(node)
    return reached


def _prefix_graph(constant: Sequence[fx.Node], boundary: Sequence[fx.Node]) -> fx.Graph:
    graph = fx.Graph()
    copies: dict[fx.Node, fx.Node] = {}
    for node in constant:
        copies[node] = graph.node_copy(node, lambda n: copies[n])
    graph.output(tuple(copies[n] for n in boundary))
    return graph


def _suffix_graph(
    nodes: Sequence[fx.Node], needed: set[fx.Node], boundary: Sequence[fx.Node]
) -> fx.Graph:
    graph = fx.Graph()
    copies = {node: graph.placeholder(f"boundary_{i}") for i, node in enumerate(boundary)}
    for node in nodes:
        if node in needed:
            copies[node] = graph.node_copy(node, lambda n: copies[n])
        elif node.op == "output":
            graph.output(fx.map_arg(node.args[0], lambda n: copies[n]))
    return graph
