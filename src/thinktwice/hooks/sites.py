"""Where gates go: every ReLU-family activation and every max-pool of a network.

A *site* is one call of one such module during the forward pass. Sites are
found by running the model once with hooks, so they come in execution order
(bottom-up) and a module called twice in one pass yields two sites.
"""

from __future__ import annotations

import operator
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from thinktwice.checks import check_choice
from thinktwice.errors import ModelError, OptionError
from thinktwice.hooks.probes import probed
from thinktwice.models.state import eval_mode, exclusive
from thinktwice.options import GATE_PLACEMENTS, SITE_KINDS

ACTIVATIONS: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU)
POOLS: tuple[type[nn.Module], ...] = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
)
# Gated only at their input (placement "inputs": the authors' notebook gates every layer's input).
LAYERS: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
PLACEMENTS = GATE_PLACEMENTS
AVERAGES: tuple[type[nn.Module], ...] = (
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
)
#: Modules that can shrink a spatial map: convolutions and max/average pools.
DOWNSAMPLERS: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d, *POOLS, *AVERAGES)
# Smooth or saturating activations: no on/off gate, no guided/deconvnet rule applies to them.
OTHER_ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.SiLU,
    nn.GELU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.Mish,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Hardtanh,  # nn.ReLU6 is a Hardtanh too, but ACTIVATIONS is checked first
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.RReLU,
    nn.Threshold,
)
_FUNCTIONAL_ACTIVATIONS = {
    torch.relu,
    torch.relu_,
    torch.nn.functional.relu,
    torch.nn.functional.relu6,
    torch.nn.functional.leaky_relu,
    torch.nn.functional.max_pool1d,
    torch.nn.functional.max_pool2d,
    torch.nn.functional.max_pool3d,
    torch.Tensor.relu,
    torch.Tensor.relu_,
}
_FUNCTIONAL_OTHERS = {
    torch.nn.functional.silu,
    torch.nn.functional.gelu,
    torch.nn.functional.elu,
    torch.nn.functional.selu,
    torch.nn.functional.mish,
    torch.nn.functional.hardswish,
    torch.nn.functional.hardtanh,
    torch.nn.functional.softplus,
    torch.sigmoid,
    torch.tanh,
    torch.Tensor.sigmoid,
    torch.Tensor.tanh,
}
HANDLED = "nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU and max-pool modules"


@dataclass(frozen=True)
class GateSite:
    """One gated call: module ``name`` (as in ``named_modules``), its ``call``-th use,
    gated at its output or (``position="input"``) at its input."""

    name: str
    call: int
    kind: str  # "activation", "pool" or "layer" (a convolution or linear layer)
    shape: tuple[int, ...]  # shape of the gated tensor for one sample
    module_type: str
    position: str = "output"  # "output" or "input"

    @property
    def key(self) -> str:
        """A unique, readable identifier: the module name, with ``#k`` for a repeated call
        and ``:in`` for an input gate."""
        key = self.name if self.call == 0 else f"{self.name}#{self.call}"
        return key if self.position == "output" else f"{key}:in"

    @property
    def size(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


@dataclass
class SiteSurvey:
    """The gate sites of one forward pass, and the activations no gate or rule can reach."""

    sites: list[GateSite]
    # "torch.relu" -> calls made as functions outside any gated module
    functional: Counter[str] = field(default_factory=Counter)
    # "nn.SiLU" -> modules of an activation type that takes no gate
    other_modules: Counter[str] = field(default_factory=Counter)

    def ungated(self) -> str:
        """The unreachable activations in words ("" when there are none)."""
        parts = [f"{count} {name} module(s)" for name, count in self.other_modules.items()]
        parts += [f"{count} call(s) of {name}" for name, count in self.functional.items()]
        return ", ".join(parts)


def site_kind(module: nn.Module) -> str | None:
    """``"activation"``, ``"pool"``, ``"layer"`` (convolution, linear), or None for a
    module that takes no gate."""
    if isinstance(module, ACTIVATIONS):
        return "activation"
    if isinstance(module, POOLS):
        return "pool"
    if isinstance(module, LAYERS):
        return "layer"
    return None


class _FunctionalCounter(TorchFunctionMode):
    """Counts activation/pool calls made as functions (``F.relu``), which hooks cannot gate."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()
        self.inside_gated_module = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        if not self.inside_gated_module and (
            func in _FUNCTIONAL_ACTIVATIONS or func in _FUNCTIONAL_OTHERS
        ):
            self.calls[_function_name(func)] += 1
        return func(*args, **(kwargs or {}))

    def enter(self, *_args: object) -> None:
        self.inside_gated_module += 1

    def leave(self, *_args: object) -> None:
        self.inside_gated_module -= 1


def _function_name(func) -> str:
    module = getattr(func, "__module__", None) or ""
    prefix = "F" if module.startswith("torch.nn.functional") else "torch"
    if getattr(func, "__qualname__", "").startswith(("Tensor.", "TensorBase.")):
        prefix = "Tensor"
    return f"{prefix}.{func.__name__}"


def survey_sites(model: nn.Module, example: torch.Tensor, placement: str = "outputs") -> SiteSurvey:
    """Gate sites in execution order, from one forward of ``example[:1]`` in eval mode
    (the model's flags and buffers are left as they were).

    ``placement="outputs"``: the outputs of activations and max-pools (kinds
    ``activation``, ``pool``); ``"inputs"``: the inputs of those and of every
    convolution and linear layer (kind ``layer``), as the authors' notebook gates.
    """
    check_choice("placement", placement, PLACEMENTS)
    at_input = placement == "inputs"
    names = {module: name for name, module in model.named_modules()}
    sites: list[GateSite] = []
    calls: dict[nn.Module, int] = {}
    counter = _FunctionalCounter()
    others: Counter[str] = Counter(
        f"nn.{type(m).__name__}"
        for m in model.modules()
        if site_kind(m) is None and isinstance(m, OTHER_ACTIVATIONS)
    )

    def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        kind = site_kind(module) or ""
        if kind != "layer":
            counter.leave()
        call = calls.get(module, 0)
        calls[module] = call + 1
        if kind == "layer" and not at_input:
            return
        gated = inputs[0] if at_input else (output[0] if isinstance(output, tuple) else output)
        sites.append(
            GateSite(
                name=names[module],
                call=call,
                kind=kind,
                shape=tuple(gated.shape[1:]),
                module_type=type(module).__name__,
                position="input" if at_input else "output",
            )
        )

    with exclusive(model):  # no other thread's forward may meet these hooks
        handles = []
        for module in model.modules():
            if site_kind(module) == "layer":
                handles.append(module.register_forward_hook(record))
            elif site_kind(module) is not None or isinstance(module, OTHER_ACTIVATIONS):
                handles.append(module.register_forward_pre_hook(counter.enter))
                hook = record if site_kind(module) is not None else counter.leave
                handles.append(module.register_forward_hook(hook))
        try:
            with eval_mode(model), torch.no_grad(), counter:
                model(example[:1])
        finally:
            for handle in handles:
                handle.remove()
    return SiteSurvey(sites=sites, functional=counter.calls, other_modules=others)


def find_sites(
    model: nn.Module, example: torch.Tensor, *, warn: bool = True, placement: str = "outputs"
) -> list[GateSite]:
    """The gate sites of ``model`` in execution order, found by one forward on ``example``
    (``placement`` as in :func:`survey_sites`).

    Warns when some activations cannot be gated (functions such as ``F.relu``,
    smooth activations such as ``nn.SiLU``): feedback and the modified-backward
    methods would silently pass them unchanged.
    """
    survey = survey_sites(model, example, placement)
    if warn and survey.ungated():
        warnings.warn(
            f"{type(model).__name__}: thinktwice cannot gate {survey.ungated()}; they pass "
            f"unchanged (gates and rules act on {HANDLED}, one module per use).",
            stacklevel=2,
        )
    return survey.sites


class SiteCache:
    """The sites of one model, surveyed once per placement and input shape for every
    method of that model (:func:`~thinktwice.hooks.probes.probed`).

    A method builds one for its model and asks it for the sites of each batch: only a
    shape no method of the model has met before costs a survey forward. The key is the
    shape of one image; the sites (module names, calls, shapes) do not depend on the
    values, dtype or device of the batch. Each call hands out its own copy, so no caller
    can change what another is given.
    """

    def __init__(self, model: nn.Module, placement: str = "outputs"):
        self.model = model
        self.placement = check_choice("placement", placement, PLACEMENTS)

    def survey(self, example: torch.Tensor) -> SiteSurvey:
        """The full survey of ``example[:1]`` (for the checks a method makes when built);
        its sites then serve every batch of that shape."""
        shape = tuple(example.shape[1:])
        survey = probed(
            self.model,
            ("site survey", self.placement, shape),
            lambda: survey_sites(self.model, example, self.placement),
        )
        return _copy_of(survey)

    def sites(self, inputs: torch.Tensor) -> list[GateSite]:
        """The sites of a batch shaped like ``inputs``, surveyed on its first image when
        the shape is new."""
        return self.survey(inputs).sites


def _copy_of(survey: SiteSurvey) -> SiteSurvey:
    return SiteSurvey(
        sites=list(survey.sites),
        functional=Counter(survey.functional),
        other_modules=Counter(survey.other_modules),
    )


def check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """``kinds`` as a tuple, each one of :data:`SITE_KINDS`."""
    chosen = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    unknown = [k for k in chosen if k not in SITE_KINDS]
    if unknown or not chosen:
        raise OptionError(
            f"kinds must be some of {', '.join(SITE_KINDS)}; got {', '.join(map(repr, chosen))}"
        )
    return chosen


def select_sites(
    sites: Sequence[GateSite],
    layers: int | str | Sequence[str] = "all",
    kinds: Sequence[str] = SITE_KINDS,
) -> list[GateSite]:
    """The sites that get gates.

    ``layers`` is ``"all"``, an int k (the k sites nearest the output, i.e. the
    top-most layers; every site when the network has k or fewer), or a list of
    site keys / module names. Anything else is an :class:`OptionError` that lists
    the valid choices.
    """
    eligible = [s for s in sites if s.kind in check_kinds(kinds)]
    if isinstance(layers, str) and layers == "all":
        return eligible
    if not isinstance(layers, (str, bool)):
        try:
            k = operator.index(layers)
        except TypeError:
            k = None
        if k is not None:
            if k < 0:
                raise OptionError(f"layers must be 'all', k >= 0 or site names; got {k}")
            return eligible[-k:] if k else []  # k above the count: every site
    if isinstance(layers, str):
        wanted = [layers]
    elif isinstance(layers, Sequence) and all(isinstance(n, str) for n in layers):
        wanted = list(layers)
    else:
        raise OptionError(
            f"layers must be 'all', an int k (top k sites) or a list of site names; got {layers!r}"
        )
    unknown = [w for w in wanted if not any(w in (s.key, s.name) for s in eligible)]
    if unknown:
        raise OptionError(f"no gate site named {unknown[0]!r}; {describe_sites(eligible)}")
    return [s for s in eligible if s.key in wanted or s.name in wanted]


def describe_sites(sites: Sequence[GateSite], shown: int = 6) -> str:
    """The valid site keys in a few words (all of them when there are few)."""
    if not sites:
        return "the network has no gate sites of these kinds"
    keys = [s.key for s in sites]
    if len(keys) <= shown:
        return f"the sites are {', '.join(keys)}"
    head, tail = keys[:2], keys[-(shown - 2) :]
    return f"the {len(keys)} sites are {', '.join(head)}, ..., {', '.join(tail)} (bottom-up)"


def module_site(model: nn.Module, name: str, example: torch.Tensor) -> GateSite:
    """The output of module ``name`` (any module, its first call) as a site, from one
    forward of ``example[:1]``: a place to observe, or to gate a whole feature map."""
    modules = dict(model.named_modules())
    if name not in modules:
        raise OptionError(f"no module named {name!r} in {type(model).__name__}")
    seen: list[torch.Tensor] = []

    def record(_module: nn.Module, _inputs: tuple, output: object) -> None:
        if not seen and isinstance(output, torch.Tensor):
            seen.append(output)

    handle = modules[name].register_forward_hook(record)
    try:
        with eval_mode(model), torch.no_grad():
            model(example[:1])
    finally:
        handle.remove()
    if not seen:
        raise OptionError(f"module {name!r} gives no tensor in the forward pass")
    module = modules[name]
    return GateSite(
        name=name,
        call=0,
        kind=site_kind(module) or "layer",
        shape=tuple(seen[0].shape[1:]),
        module_type=type(module).__name__,
    )


def shrinks(inputs: torch.Tensor, output: object) -> bool:
    """Whether a module maps a spatial map to a smaller one of more than one cell."""
    if not torch.is_tensor(output) or inputs.dim() < 3 or output.dim() != inputs.dim():
        return False
    before, after = inputs.shape[2:], output.shape[2:]
    return after.numel() > 1 and any(a < b for a, b in zip(after, before, strict=True))


#: Called per module of a forward: (module, its name, the module whose output is its first
#: input or None, its inputs, its output).
SourceVisitor = Callable[[nn.Module, str, "str | None", tuple, object], None]


def visit_with_sources(model: nn.Module, example: torch.Tensor, visit: SourceVisitor) -> None:
    """One forward of ``example[:1]`` in eval mode, calling ``visit`` after every module
    with the innermost module that produced its first input (how layers connect, from
    hooks alone: no tracing)."""
    names = {module: name for name, module in model.named_modules()}
    produced: dict[int, str] = {}  # id of an output tensor -> the innermost module giving it
    alive: list[torch.Tensor] = []  # keeps those tensors (and so their ids) alive

    def record(module: nn.Module, inputs: tuple, output: object) -> None:
        source = produced.get(id(inputs[0])) if inputs and torch.is_tensor(inputs[0]) else None
        visit(module, names[module], source, inputs, output)
        if torch.is_tensor(output) and id(output) not in produced:
            produced[id(output)] = names[module]
            alive.append(output)

    handles = [module.register_forward_hook(record) for module in names if module is not model]
    try:
        with eval_mode(model), torch.no_grad():
            model(example[:1])
    finally:
        for handle in handles:
            handle.remove()


def downsampler_inputs(
    model: nn.Module, example: torch.Tensor
) -> list[tuple[str, tuple[int, ...]]]:
    """For each convolution or pool that shrinks a spatial map (not to a single cell): the
    module whose output it takes, and that output's spatial size; in execution order."""
    found: list[tuple[str, tuple[int, ...]]] = []

    def visit(module: nn.Module, _name: str, source: str | None, inputs: tuple, output: object):
        if isinstance(module, DOWNSAMPLERS) and source is not None and shrinks(inputs[0], output):
            found.append((source, tuple(inputs[0].shape[2:])))

    visit_with_sources(model, example, visit)
    return found


def finer_feature_map(model: nn.Module, example: torch.Tensor, coarse: GateSite) -> GateSite:
    """The feature map one resolution finer than ``coarse``: the output of the module that
    feeds the last downsampling layer whose input is larger than ``coarse``'s map
    (EfficientNet-Lite0: ``_blocks.11._act0``, 14 x 14 below the 7 x 7 head; SqueezeNet
    1.0: ``features.10``, fire8's 27 x 27 output below fire9's 13 x 13)."""
    area = _area(coarse.shape[1:])
    finer = [name for name, size in downsampler_inputs(model, example) if _area(size) > area]
    if not finer:
        raise ModelError(
            f"{type(model).__name__} has no downsampling layer below {coarse.name!r} "
            f"({'x'.join(map(str, coarse.shape[1:]))}): no finer feature map to gate"
        )
    return module_site(model, finer[-1], example)


def _area(size: Sequence[int]) -> int:
    count = 1
    for side in size:
        count *= side
    return count
