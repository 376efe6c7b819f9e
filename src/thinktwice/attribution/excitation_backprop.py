"""Excitation backprop and contrastive excitation backprop (Zhang et al., ECCV 2016).

Excitation backprop (EBP) passes a probability top-down: the target class's unit
holds 1, and each neuron hands its share to the neurons below in proportion to
their *excitatory* contributions. For a layer ``y_i = sum_j w_ij x_j + b_i`` with
non-negative inputs that is ``p_j = sum_i x_j w+_ij / (sum_k w+_ik x_k) p_i``
(``w+ = max(w, 0)``; the bias takes no share), so the probability is conserved
wherever a neuron has an excitatory input. The map is the excitation at one
intermediate layer summed over its channels (TorchRay's ``excitation_backprop``).

Contrastive EBP subtracts, at the classifier's input, the excitation of the
"dual" unit whose weights are the class's weights negated (TorchRay flips the
classifier layer's weights for a first pass and subtracts the excitation it
gives at the classifier's input, ``contrast_layer``; here the two shares are taken in
the one backward, which is the same since every later step is linear in the
excitation). The map is the positive part of the channel sum.

Facts taken from ``facebookresearch/TorchRay`` (commit 6a198ee,
``torchray/attribution/excitation_backprop.py``, ``examples/attribution_benchmark.py``):
convolutions, linear layers and average pools use the rule above (bias ignored,
``1e-20`` added to the denominator: here a zero denominator gives zero);
activations, max-pools and the rest keep their gradient; ``batch_norm`` passes
the excitation unchanged; the seed is one-hot at the target; the map is read at
VGG16's ``pool4`` (``features.23``) and ResNet50's ``layer3``; the contrast at
the classifier's input (VGG16's ``relu7``, ResNet50's ``avgpool``).

Where this implementation goes further, so it runs on any ReLU network:

* **BatchNorm** is folded into the convolution (or linear layer) that feeds it:
  ``BN(Wx) = s * (Wx) + t`` is one affine layer with weights ``s * W`` and a bias
  EBP ignores. With a positive scale ``s`` this is TorchRay's rule exactly (the
  scale cancels in the ratio); a negative ``s`` swaps which inputs excite.
  A BatchNorm not fed by such a layer passes the excitation unchanged.
* **Signed inputs** (the image, a linear bottleneck's output): the share is
  taken over the excitatory contributions ``(w_ij x_j)+`` (``= w+ x`` for
  ``x >= 0``, TorchRay's case), and a neuron whose value is negative (a linear
  bottleneck passes those on) shares its excitation among the contributions
  that made it negative. Excitation stays non-negative and is conserved.
* **Residual sums** ``a + b`` of two activations (EfficientNet's skips) split the
  excitation in proportion to ``a`` and ``b`` (TorchRay's ``EltwiseSum`` rule),
  of the same sign as the sum.
* **ReLU-family activations** pass the excitation of active neurons (input
  > 0): for ReLU that is its gradient (TorchRay's rule); a ReLU6 unit saturated
  at 6 keeps its excitation, where the gradient would drop it.

The map's layer (``layer``): TorchRay's for VGG16; otherwise the input of the
network's last downsampling convolution or pool (ResNet50's ``layer3`` in
TorchRay's benchmark): ``blocks.11._act0`` (14 x 14) on EfficientNet-Lite0,
``features.10`` (fire8, 27 x 27) on SqueezeNet 1.0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.overrides import TorchFunctionMode

from thinktwice.attribution.base import (
    Attribution,
    AttributionMethod,
    require_sites,
    target_scores,
    warn_ungated,
)
from thinktwice.attribution.gradcam import last_spatial_site
from thinktwice.errors import ModelError, OptionError
from thinktwice.hooks.install import frozen_parameters
from thinktwice.hooks.sites import (
    ACTIVATIONS,
    AVERAGES,
    downsampler_inputs,
    survey_sites,
    visit_with_sources,
)
from thinktwice.models.classifier import Classifier
from thinktwice.models.state import eval_mode

AFFINE: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
NORMS: tuple[type[nn.Module], ...] = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
#: TorchRay's benchmark layers (examples/attribution_benchmark.py), by zoo name.
TORCHRAY_LAYERS = {"vgg16": "network.features.23"}  # pool4


# --- what a network looks like to EBP: found once, by one probe forward ---------------------------


@dataclass
class Layout:
    """The modules EBP needs to know by name, from one forward of a probe.

    ``folded``: affine module -> the BatchNorm its output feeds directly;
    ``classifier``: the last affine module (the class scores' layer);
    ``downsampler_inputs``: for each convolution or pool that shrinks a spatial map
    (not to a single cell), the module whose output it takes, in execution order.
    """

    folded: dict[str, str] = field(default_factory=dict)
    classifier: str | None = None
    downsampler_inputs: list[str] = field(default_factory=list)


def survey_layout(model: nn.Module, probe: torch.Tensor) -> Layout:
    """The :class:`Layout` of ``model`` seen by one forward of ``probe`` in eval mode."""
    affine_names = {name for name, module in model.named_modules() if isinstance(module, AFFINE)}
    layout = Layout(downsampler_inputs=[name for name, _ in downsampler_inputs(model, probe)])

    def visit(module: nn.Module, name: str, source: str | None, _inputs: tuple, _output: Any):
        if isinstance(module, NORMS) and source in affine_names:
            layout.folded[source] = name
        if isinstance(module, AFFINE):
            layout.classifier = name

    visit_with_sources(model, probe, visit)
    return layout


def default_layer(model: Classifier, layout: Layout, probe: torch.Tensor) -> str:
    """Where the map is read: TorchRay's layer for its networks, else the input of the last
    downsampling layer, else Grad-CAM's layer."""
    if model.name in TORCHRAY_LAYERS:
        return TORCHRAY_LAYERS[model.name]
    if layout.downsampler_inputs:
        return layout.downsampler_inputs[-1]
    return model.gradcam_layer or last_spatial_site(model, probe)


# --- the rules ------------------------------------------------------------------------------------


class _Replace(torch.autograd.Function):
    """Forward: the module's output; backward: ``rule(grad)`` to the module's input."""

    @staticmethod
    def forward(ctx, inputs, output, rule):  # type: ignore[override]
        ctx.rule = rule
        return output.clone()

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return ctx.rule(grad), None, None


class _Sum(torch.autograd.Function):
    """``a + b``, whose backward splits the excitation in proportion to the summands."""

    @staticmethod
    def forward(ctx, a, b):  # type: ignore[override]
        total = a + b
        ctx.save_for_backward(a, b, total)
        return total

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        a, b, total = ctx.saved_tensors
        rising = (total > 0).to(grad.dtype)
        up = _share(grad * rising, a.clamp_min(0), b.clamp_min(0))
        down = _share(grad * (1 - rising) * (total < 0), a.clamp_max(0), b.clamp_max(0))
        return up[0] + down[0], up[1] + down[1]


def _share(grad: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, ...]:
    scale = _divide(grad, a + b)
    return scale * a, scale * b


def _divide(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """``numerator / denominator``, 0 where the denominator is 0 (nothing to share with)."""
    safe = torch.where(denominator == 0, torch.ones_like(denominator), denominator)
    return torch.where(denominator == 0, torch.zeros_like(numerator), numerator / safe)


def _transpose(linear: Callable[[torch.Tensor], torch.Tensor], like: torch.Tensor, grad):
    """The vector-Jacobian product of the linear map ``linear`` at ``grad``."""
    probe = torch.zeros_like(like).requires_grad_(True)
    with torch.enable_grad():
        (result,) = torch.autograd.grad(linear(probe), probe, grad)
    return result


LinearMap = Callable[[torch.Tensor], torch.Tensor]


def excitation_shares(
    grad: torch.Tensor,
    x: torch.Tensor,
    up: LinearMap,
    down: LinearMap | None,
    sign: torch.Tensor | None,
    contrast: bool = False,
) -> torch.Tensor:
    """The excitation of the inputs ``x`` of one linear map ``y = up(x) + down(x)``, with
    ``up`` its non-negative and ``down`` its non-positive weights (None: none).

    A neuron whose value (``sign``) is positive shares ``grad`` among its contributions
    ``w_ij x_j > 0``, one whose value is negative among those ``< 0``; ``sign`` None treats
    every neuron as positive (the class unit: the evidence *for* the class).
    ``contrast``: the excitation of the positive contributions minus that of the
    negative ones (the dual unit's), each sharing all of ``grad``.
    """
    x_up, x_down = x.clamp_min(0), x.clamp_max(0)
    signed = bool((x < 0).any())
    # (weights, inputs) whose products are >= 0, and those whose products are <= 0
    excite = [(up, x_up)] + ([(down, x_down)] if down is not None and signed else [])
    inhibit = ([(up, x_down)] if signed else []) + ([(down, x_up)] if down is not None else [])
    if contrast:
        return _shared(grad, x, excite) - _shared(grad, x, inhibit)
    if sign is None or not bool((sign < 0).any()):
        return _shared(grad, x, excite)
    return _shared(grad * (sign > 0), x, excite) + _shared(grad * (sign < 0), x, inhibit)


def _shared(
    excitation: torch.Tensor, x: torch.Tensor, pairs: list[tuple[LinearMap, torch.Tensor]]
) -> torch.Tensor:
    """Each neuron's ``excitation`` shared among the contributions ``w_ij x_j`` of ``pairs``
    (all of one sign, so every share ``w_ij x_j / sum_k w_ik x_k`` is non-negative)."""
    if not pairs:
        return torch.zeros_like(x)
    total = sum(weights(inputs) for weights, inputs in pairs)
    share = _divide(excitation, total)
    return sum(inputs * _transpose(weights, x, share) for weights, inputs in pairs)


class ExcitationRules:
    """The forward hooks and the sum rule that make autograd compute excitation.

    Every hook acts only on tensors that require grad (the graph starts at the map's
    layer) and not while a rule itself runs the module (``_busy``).
    """

    def __init__(self, model: nn.Module, layout: Layout, contrastive: bool):
        self.modules = dict(model.named_modules())
        self.names = {module: name for name, module in self.modules.items()}
        self.layout = layout
        self.contrastive = contrastive
        self._busy = 0

    def hook(self, module: nn.Module, inputs: tuple, output: Any) -> Any:
        if (
            self._busy
            or not inputs
            or not torch.is_tensor(output)
            or not torch.is_tensor(inputs[0])
        ):
            return None
        x = inputs[0]
        if not x.requires_grad:
            return None
        if isinstance(module, AFFINE):
            return self._affine(module, x, output)
        if isinstance(module, NORMS):
            return _Replace.apply(x, output.detach(), lambda grad: grad)
        if isinstance(module, AVERAGES):
            return self._average(module, x, output)
        if isinstance(module, ACTIVATIONS):
            active = (x > 0).to(x.dtype)
            return _Replace.apply(x, output.detach(), lambda grad: grad * active)
        return None

    def _affine(self, module: nn.Module, x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        name = self.names[module]
        value_in = x.detach()
        weight = module.weight.detach()
        value = output.detach()
        bn_name = self.layout.folded.get(name)
        if bn_name is not None:
            norm = self.modules[bn_name]
            scale = norm.weight.detach() / torch.sqrt(norm.running_var + norm.eps)
            weight = weight * scale.view(-1, *([1] * (weight.dim() - 1)))
            value = _batch_norm(norm, value)
        classifier = name == self.layout.classifier
        sign = None if classifier else value

        def run(w: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
            return lambda inputs: self._call(module, {"weight": w, "bias": None}, inputs)

        up, down = run(weight.clamp_min(0)), run(weight.clamp_max(0))
        contrast = classifier and self.contrastive
        return _Replace.apply(
            x, output.detach(),
            lambda grad: excitation_shares(grad, value_in, up, down, sign, contrast),
        )  # fmt: skip

    def _average(self, module: nn.Module, x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        value_in, value = x.detach(), output.detach()

        def pool(inputs: torch.Tensor) -> torch.Tensor:
            return self._call(module, {}, inputs)

        return _Replace.apply(
            x, value, lambda grad: excitation_shares(grad, value_in, pool, None, value)
        )

    def _call(self, module: nn.Module, parameters: dict, inputs: torch.Tensor) -> torch.Tensor:
        self._busy += 1
        try:
            return functional_call(module, parameters, (inputs,))
        finally:
            self._busy -= 1


def _batch_norm(norm: nn.Module, values: torch.Tensor) -> torch.Tensor:
    """A BatchNorm's eval-mode output, without calling the module (its hook would fire)."""
    return F.batch_norm(
        values,
        norm.running_mean,
        norm.running_var,
        None if norm.weight is None else norm.weight.detach(),
        None if norm.bias is None else norm.bias.detach(),
        False,
        0.0,
        norm.eps,
    )


class _ResidualSums(TorchFunctionMode):
    """Routes ``a + b`` of two same-shaped tensors in the graph through :class:`_Sum`."""

    ADDS = {torch.Tensor.__add__, torch.Tensor.__radd__, torch.Tensor.add, torch.add}

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        if func in self.ADDS and len(args) == 2 and not kwargs:
            a, b = args
            if (
                torch.is_tensor(a)
                and torch.is_tensor(b)
                and a.shape == b.shape
                and a.requires_grad
                and b.requires_grad
            ):
                return _Sum.apply(a, b)
        return func(*args, **kwargs)


@contextmanager
def excitation_installed(model: nn.Module, rules: ExcitationRules) -> Iterator[None]:
    """Within the block, autograd through ``model`` computes excitation (eval mode, frozen
    parameters, in-place activations switched off; everything restored on exit)."""
    modules = [
        m for m in model.modules() if isinstance(m, (*AFFINE, *NORMS, *AVERAGES, *ACTIVATIONS))
    ]
    inplace = [m for m in modules if getattr(m, "inplace", False)]
    handles = []
    with eval_mode(model), frozen_parameters(model):
        try:
            for module in inplace:
                module.inplace = False
            handles = [module.register_forward_hook(rules.hook) for module in modules]
            with _ResidualSums():
                yield
        finally:
            for handle in handles:
                handle.remove()
            for module in inplace:
                module.inplace = True


# --- the methods ----------------------------------------------------------------------------------


class ExcitationBackprop(AttributionMethod):
    """Excitation backprop: the class's probability passed top-down along excitatory
    connections, read at ``layer`` (a module name; default: see the module docstring)
    and summed over channels.

    Args:
        model: the classifier.
        layer: the module whose output excitation is the map.
        device: where to compute.

    Returns (from :meth:`attribute`): the map upsampled to the input size; ``template``
    is None; ``details["mass"]`` is each pair's total excitation at the layer (1 where
    every neuron on the way has an excitatory input: probability is conserved).
    """

    name = "excitation_backprop"
    label = "Excitation backprop"
    order = 50
    contrastive: ClassVar[bool] = False

    def __init__(
        self,
        model: Classifier,
        layer: str | None = None,
        *,
        device: str | torch.device | None = None,
    ):
        super().__init__(model, device=device)
        survey = survey_sites(self.model, self.probe())
        if not any(s.kind == "activation" for s in survey.sites):
            require_sites(self.model, survey, self.name, "activation modules")
        warn_ungated(survey, self.name)
        self.layout = survey_layout(self.model, self.probe())
        if self.layout.classifier is None:
            raise ModelError(f"{self.name}: the network has no convolution or linear layer")
        self.layer = self._checked_layer(layer) or default_layer(
            self.model, self.layout, self.probe()
        )

    def _checked_layer(self, layer: str | None) -> str | None:
        if layer is None:
            return None
        modules = dict(self.model.named_modules())
        for candidate in (layer, f"network.{layer}"):
            if candidate in modules and candidate:
                return candidate
        raise OptionError(
            f"{self.name}: layer {layer!r} is not a module of the network (see "
            "model.named_modules(); names may omit the 'network.' prefix)"
        )

    def _attribute(self, inputs: torch.Tensor, targets: torch.Tensor) -> Attribution:
        excitation, scores = self._excitation(inputs, targets)
        summed = excitation.sum(dim=1, keepdim=True)
        mass = summed.flatten(1).sum(dim=1)
        if summed.dim() != 4:
            raise ModelError(
                f"{self.name}: layer {self.layer!r} gives {tuple(excitation.shape)}, not a "
                "[N, C, H, W] feature map; choose another layer"
            )
        saliency = F.interpolate(
            summed.clamp_min(0), size=inputs.shape[-2:], mode="bilinear", align_corners=False
        )[:, 0]
        return Attribution(
            saliency=saliency,
            template=None,
            scores=scores.unsqueeze(0),
            targets=targets,
            method=self.name,
            details={"layer": self.layer, "mass": mass},
        )

    def _excitation(
        self, inputs: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(excitation at the layer's output [N, C, ...], target scores [N])."""
        layer = dict(self.model.named_modules())[self.layer]
        captured: list[torch.Tensor] = []

        def start_graph_here(_module, _inputs, output: torch.Tensor) -> torch.Tensor | None:
            if captured or not torch.is_tensor(output):
                return None
            captured.append(output.detach().requires_grad_(True))
            return captured[-1]

        rules = ExcitationRules(self.model, self.layout, self.contrastive)
        handle = layer.register_forward_hook(start_graph_here)
        try:
            with excitation_installed(self.model, rules), torch.enable_grad():
                scores = target_scores(self.model(inputs), targets)
                if not captured:
                    raise ModelError(
                        f"{self.name}: layer {self.layer!r} is not used in the forward"
                    )
                (excitation,) = torch.autograd.grad(scores.sum(), captured[0])
        finally:
            handle.remove()
        return excitation.detach(), scores.detach()


class ContrastiveExcitationBackprop(ExcitationBackprop):
    """Contrastive excitation backprop: the class's excitation minus that of its dual unit
    (the class's classifier weights negated), taken at the classifier's input and passed
    down to ``layer``; the map is the positive part of the channel sum.

    ``details["mass"]`` is the signed total at the layer (0 where both shares are
    conserved: each carries the whole probability).
    """

    name = "contrastive_excitation_backprop"
    label = "Contrastive excitation backprop"
    order = 60
    contrastive = True
