"""Feedback saliency (Cao et al., 2015): the gradient after the feedback loop.

Gates go on the chosen sites, a solver sets them top-down to maximise the
target score, and the template ``T_c = dS_c/dI`` at the final gates is the map.
Every option is checked when the method is built (an :class:`OptionError`
listing the valid choices), before any image is processed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from thinktwice.attribution.base import (
    Attribution,
    AttributionMethod,
    require_sites,
    saliency_from_template,
    warn_ungated,
)
from thinktwice.attribution.gradcam import grad_cam, last_spatial_site
from thinktwice.cam import class_activation_map, unit_range
from thinktwice.errors import ModelError, OptionError
from thinktwice.feedback.solvers import Solver, make_solver, solver_defaults
from thinktwice.feedback.solvers.base import FeedbackResult
from thinktwice.hooks.install import rules_installed
from thinktwice.hooks.probes import probed
from thinktwice.hooks.sites import (
    GateSite,
    SiteCache,
    check_kinds,
    describe_sites,
    finer_feature_map,
    module_site,
    select_sites,
)
from thinktwice.hooks.split import BoundPrefix, trace_model
from thinktwice.models.classifier import Classifier
from thinktwice.options import (
    DEFAULT_LAYERS,
    DEFAULT_SALIENCY,
    DEFAULT_SOLVER,
    FEEDBACK_PRESETS,
    FINE_LAYER,
    PRESET_FAILURES,
    SALIENCY_MAPS,
    SITE_KINDS,
)
from thinktwice.options import DEFAULT_SOLVER_OPTIONS as DEFAULT_OPTIONS

DEFAULT_KINDS = SITE_KINDS
T = TypeVar("T")

__all__ = ["DEFAULT_KINDS", "DEFAULT_LAYERS", "DEFAULT_OPTIONS", "DEFAULT_SOLVER", "Feedback"]


def _with_defaults(solver: str, options: dict[str, Any]) -> dict[str, Any]:
    """The default solver's measured options, under the ones the caller set."""
    return {**DEFAULT_OPTIONS, **options} if solver == DEFAULT_SOLVER else dict(options)


def saliency_map(template: torch.Tensor, kind: str) -> torch.Tensor:
    """``"abs"``: the paper's ``max_colour |T|``; ``"positive"``: ``max_colour max(T, 0)``,
    the authors' notebook (only the evidence *for* the class)."""
    if kind == "positive":
        return template.clamp_min(0).amax(dim=1)
    return saliency_from_template(template)


def gated_grad_cam(
    model: Classifier,
    layer: str,
    solver: Solver,
    result: FeedbackResult,
    sites: Sequence[GateSite],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    prefix: BoundPrefix | None = None,
) -> torch.Tensor:
    """Grad-CAM of the network with feedback's final gates in place: the class's
    feature-map weights (and, for gates below the layer, its activations) come from
    the pruned network. ``layer``: the module Grad-CAM reads; ``prefix``: the network
    below the gates and ``layer``, computed once for ``inputs``."""
    rule = solver.make_rule(sites, result.sites)
    rule.set_gates(result.gates)  # the gates act in the plain mode: no decision, no record
    shortcut = prefix.running(model) if prefix is not None else nullcontext()
    with rules_installed(model, rule.sites, rule), shortcut:
        cam, _ = grad_cam(model, layer, inputs, targets)
    return cam


#: How a display name says which map feedback reads.
MAP_WORDS = {
    "gradcam": "gated Grad-CAM",
    "abs": "paper map",
    "positive": "positive map",
    "gains": "gate gains",
    "fused": "gated Grad-CAM × gate gains",
}
#: How a display name says which solver set the gates (the default says nothing).
SOLVER_WORDS = {"fsp": "FSP", "fr": "FR", "relaxed": "relaxed", "attention": "top-down attention"}


def _sites_in_words(layers: Any) -> str:
    if layers == "all":
        return "all sites"
    if layers == FINE_LAYER:
        return "the finer feature map"
    if isinstance(layers, int):
        return f"top {layers} site" + ("" if layers == 1 else "s")
    return "sites " + "+".join(
        str(name) for name in ([layers] if isinstance(layers, str) else layers)
    )


def warn_failing_preset(preset: str | None, model: nn.Module) -> None:
    """A warning when ``preset`` is one measured to fail on a model like ``model``."""
    if preset not in PRESET_FAILURES:
        return
    needs, measured = PRESET_FAILURES[preset]
    has_batchnorm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if needs == "any" or (needs == "batchnorm" and has_batchnorm):
        warnings.warn(
            f"feedback preset {preset!r} was measured to fail: {measured} (docs/feedback.md)",
            stacklevel=3,
        )


def cam_of_last_pass(
    result: FeedbackResult, sites: Sequence[GateSite], layer: str, size: Sequence[int]
) -> torch.Tensor | None:
    """Grad-CAM of the gated network read from the solver's last pass, which ran with the
    final gates, when ``layer`` is a gated site called once per forward (its gated output
    is the feature map, the gradient the pass recorded there is dS/dA); None otherwise, and
    :func:`gated_grad_cam` runs one more pass."""
    calls = [s for s in sites if s.name == layer]
    if len(calls) != 1 or calls[0].position != "output" or calls[0] not in result.sites:
        return None
    recorded = recorded_map(result, calls[0].key)
    return None if recorded is None else class_activation_map(*recorded, size)


def recorded_map(
    result: FeedbackResult, key: str, *, gated: bool = True
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(feature map, dS/d feature map) the solver's last pass recorded at site ``key``,
    the feature map times its final gate when ``gated``; None unless both are [N, C, H, W]."""
    activation, grad = result.last_pass.get(key, (None, None))
    if activation is None or grad is None or activation.dim() != 4:
        return None
    gate = result.gates.get(key) if gated else None
    return (activation if gate is None else activation * gate), grad


def gate_gains(result: FeedbackResult, site: GateSite, size: Sequence[int]) -> torch.Tensor:
    """[N, H, W]: ``sum_c relu(dS/dy_c) * y_c`` at ``site`` in the solver's last pass (``y``
    the gated tensor), upsampled bilinearly to ``size``. For the non-negative outputs of
    ReLUs and pools this is each unit's gain ``y * dS/dy`` where positive: where the gates
    let the class's evidence through. With open gates it is LayerCAM's formula (Jiang et
    al., 2021) at that layer."""
    recorded = recorded_map(result, site.key)
    if recorded is None:
        raise ModelError(
            f"feedback: saliency='gains' needs a spatial gated site with a gradient; "
            f"{site.key!r} gave none"
        )
    gated, grad = recorded
    gains = (grad.clamp_min(0) * gated).sum(dim=1, keepdim=True)
    return F.interpolate(gains, size=tuple(size), mode="bilinear", align_corners=False)[:, 0]


def fused_map(class_map: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
    """[N, H, W]: the product of the two maps, each min-max normalised per pair. Where the
    coarse class map and the finer gains agree: the class map says which object, the
    gains one resolution finer say where in it (a flat map contributes ones)."""
    return unit_range(class_map) * unit_range(gains)


def observed_class_map(
    result: FeedbackResult, site: GateSite, size: Sequence[int]
) -> torch.Tensor | None:
    """Grad-CAM of the gated network at an observed (not gated) ``site``, read from the
    solver's last pass; None when the pass recorded nothing there."""
    recorded = recorded_map(result, site.key, gated=False)
    return None if recorded is None else class_activation_map(*recorded, size)


def with_preset(preset: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """The options of ``preset`` (see :data:`~thinktwice.options.FEEDBACK_PRESETS`), under
    the ones the caller set."""
    if preset is None:
        return dict(options)
    if preset not in FEEDBACK_PRESETS:
        raise OptionError(
            f"unknown feedback preset {preset!r}; choose one of: {', '.join(FEEDBACK_PRESETS)}"
        )
    return {**FEEDBACK_PRESETS[preset], **options}


def _option_in_words(key: str, value: Any) -> str:
    """One changed feedback option as a display name says it."""
    if key == "layers":
        return _sites_in_words(value)
    if key == "kinds":
        return "kinds " + "+".join(value)
    if key == "placement":
        return "input gates" if value == "inputs" else f"gates on {value}"
    if key == "decision":
        return f"{value} rule"
    if key == "prune_only":
        return "prune-only" if value else "reopening"
    if key == "max_iter":
        return f"max-iter {value}"
    shown = f"{value:g}" if isinstance(value, float) else value
    return f"{key.replace('_', '-')} {shown}"


def _finer_or_error(
    model: nn.Module, probe: torch.Tensor, cam_site: GateSite
) -> GateSite | ModelError:
    """:func:`finer_feature_map`, or the ModelError it raised (kept, to warn each time)."""
    try:
        return finer_feature_map(model, probe, cam_site)
    except ModelError as error:
        return error


class Feedback(AttributionMethod):
    """Feedback gates on ``layers`` (``"all"``, the top k sites, or site names).

    ``solver_options`` go to the solver (``max_iter``, ``step``, ``sparsity``,
    ``prune_only``, ``decision``, ...); for the default solver, unset ones take
    ``DEFAULT_OPTIONS``. ``layers=k`` with k at or above the number of sites gates
    every site. ``placement="inputs"`` gates the input of every convolution,
    linear layer, activation and max-pool (the image included) instead of the
    outputs of activations and pools. ``saliency`` is ``"abs"`` (the paper's map)
    or ``"positive"``. ``preset="reference"`` is the authors' notebook recipe
    (:data:`~thinktwice.options.FEEDBACK_PRESETS`); options given beside it win.
    """

    name = "feedback"
    label = "Feedback"
    order = 100

    def __init__(
        self,
        model: Classifier,
        solver: str | None = None,
        layers: int | str | Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        *,
        placement: str | None = None,
        saliency: str | None = None,
        preset: str | None = None,
        device: str | torch.device | None = None,
        split: bool = True,
        **solver_options: Any,
    ):
        super().__init__(model, device=device)
        warn_failing_preset(preset, self.model)
        given = {"solver": solver, "layers": layers, "kinds": kinds}
        given |= {"placement": placement, "saliency": saliency}
        options = self.resolved_options(preset=preset, **given, **solver_options)
        solver_name, layers = options.pop("solver"), options.pop("layers")
        self.kinds = check_kinds(options.pop("kinds"))
        self.placement, self.saliency = options.pop("placement"), options.pop("saliency")
        if self.saliency not in SALIENCY_MAPS:
            raise OptionError(
                f"saliency must be one of {', '.join(SALIENCY_MAPS)}; got {self.saliency!r}"
            )
        self.solver = make_solver(solver_name, **options)
        self.layers = layers
        self.site_cache = SiteCache(self.model, self.placement)  # one per model and shape
        survey = self.site_cache.survey(self.probe())  # checks placement
        if not select_sites(survey.sites, "all", self.kinds):
            require_sites(self.model, survey, self.name, "gate sites")
        warn_ungated(survey, self.name)
        self.cam_layer = None  # found once here, not by a probe forward per batch
        self.observed: list[GateSite] = []  # the class-map layer, for solvers that read it
        self.fine_site: GateSite | None = None  # layers="fine": the feature map gated
        if self._needs_class_map():
            self.cam_layer = self.model.gradcam_layer or last_spatial_site(self.model, self.probe())
            cam_site = self._probed(
                "module site",
                self.cam_layer,
                lambda probe: module_site(self.model, self.cam_layer, probe),
            )
            if self.solver.observes_class_map:
                self.observed = [cam_site]
            if layers == FINE_LAYER:
                self.fine_site = self._finer_or_class_map_site(cam_site)
        if layers != FINE_LAYER and not select_sites(survey.sites, layers, self.kinds):
            # bad names fail now, not per batch
            raise OptionError(
                f"layers={layers!r} selects no gate site, and feedback needs one: give layers "
                f">= 1 (the top k sites), 'all', 'fine' or site names; "
                f"{describe_sites(survey.sites)}"
            )
        self.trace = self._trace(split)

    def _finer_or_class_map_site(self, cam_site: GateSite) -> GateSite:
        """The feature map one resolution finer than Grad-CAM's layer; for a network with
        none (no downsampling between a gate site and that layer), that layer itself, with
        a warning: the class map then gates its own feature map."""
        found = self._probed(
            "finer feature map",
            cam_site,
            lambda probe: _finer_or_error(self.model, probe, cam_site),
        )
        if isinstance(found, GateSite):
            return found
        warnings.warn(
            f"feedback: {found}; layers='fine' gates {cam_site.name!r}, the class map's own "
            "layer, instead",
            RuntimeWarning,
            stacklevel=4,
        )
        return cam_site

    def _probed(self, what: str, about: object, compute: Callable[[torch.Tensor], T]) -> T:
        """``compute(grey probe image)``, once per model and input size for every Feedback
        of the model (:func:`~thinktwice.hooks.probes.probed`)."""
        probe = self.probe()
        return probed(self.model, (what, about, tuple(probe.shape[1:])), lambda: compute(probe))

    def _needs_class_map(self) -> bool:
        """Whether the map, the solver or ``layers="fine"`` reads Grad-CAM's layer."""
        return (
            self.saliency in ("gradcam", "fused")
            or self.solver.observes_class_map
            or self.layers == FINE_LAYER
        )

    def _gated_sites(self, sites: Sequence[GateSite]) -> list[GateSite]:
        if self.fine_site is not None:
            return [self.fine_site]
        return select_sites(sites, self.layers, self.kinds)

    def _trace(self, split: bool):
        """The model traced for running later passes above the gates only
        (:mod:`~thinktwice.hooks.split`); None, with a warning, when it does not trace."""
        if not split:
            return None
        keep = [self.cam_layer] if self.cam_layer else []
        keep += [self.fine_site.name] if self.fine_site is not None else []
        trace, problem = probed(  # one trace, and one check per split, for every Feedback
            self.model,
            ("fx trace", tuple(keep), self.model.input_size),
            lambda: trace_model(self.model, torch.rand(2, 3, *self.model.input_size), keep),
        )
        if trace is None:
            warnings.warn(
                f"feedback: {type(self.model).__name__} does not trace with torch.fx "
                f"({problem}); every feedback pass runs the whole network",
                RuntimeWarning,
                stacklevel=3,
            )
        return trace

    @classmethod
    def resolved_options(cls, preset: str | None = None, **options: Any) -> dict[str, Any]:
        """Every option a Feedback built with ``options`` uses: the ones given (None:
        unset), then the preset's, then the library defaults."""
        chosen = with_preset(preset, {k: v for k, v in options.items() if v is not None})
        solver = chosen.pop("solver", DEFAULT_SOLVER)
        layers = chosen.pop("layers", DEFAULT_LAYERS)
        return {
            "solver": solver,
            "layers": layers if isinstance(layers, int | str) else list(layers),
            "kinds": list(chosen.pop("kinds", DEFAULT_KINDS)),
            "placement": chosen.pop("placement", "outputs"),
            "saliency": chosen.pop("saliency", DEFAULT_SALIENCY),
            **dict(sorted(_with_defaults(solver, chosen).items())),
        }

    @classmethod
    def complete_options(cls, **options: Any) -> dict[str, Any]:
        """The resolved options with the chosen solver's own defaults filled in (``fsp``:
        ``max_iter=10``, ...), which :meth:`resolved_options` leaves to the solver."""
        resolved = cls.resolved_options(**options)
        return {**resolved, **{k: v for k, v in solver_defaults(resolved["solver"]).items()
                               if k not in resolved}}  # fmt: skip

    @classmethod
    def option_words(cls, resolved: Mapping[str, Any]) -> list[str]:
        """The options that make this feedback differ from the default one, in words:
        solver, sites, kinds, placement, the solver's options, the map."""
        defaults = cls.resolved_options()
        solver = resolved.get("solver", DEFAULT_SOLVER)
        baseline = {**defaults, **solver_defaults(solver)}
        if solver == DEFAULT_SOLVER:
            baseline.update(DEFAULT_OPTIONS)
        words = [] if solver == DEFAULT_SOLVER else [SOLVER_WORDS.get(solver, solver)]
        for key, value in resolved.items():
            if key in ("solver", "saliency") or (key in baseline and baseline[key] == value):
                continue
            words.append(_option_in_words(key, value))
        if resolved.get("saliency", DEFAULT_SALIENCY) != defaults["saliency"]:
            words.append(MAP_WORDS.get(resolved["saliency"], f"{resolved['saliency']} map"))
        return words

    @classmethod
    def description(cls, resolved: Mapping[str, Any]) -> list[str]:
        """The changed options and, always, the map ("gated Grad-CAM" for the default)."""
        saliency = resolved.get("saliency", DEFAULT_SALIENCY)
        words = [w for w in cls.option_words(resolved) if w not in MAP_WORDS.values()]
        return [*words, MAP_WORDS.get(saliency, f"{saliency} map")]

    def _attribute(self, inputs: torch.Tensor, targets: torch.Tensor) -> Attribution:
        sites = self.site_cache.sites(inputs)
        gated = self._gated_sites(sites)
        cam = self.saliency == "gradcam"
        prefix = self._prefix(inputs, sites, gated)
        result = self.solver.solve(
            self.model,
            inputs,
            targets,
            sites,
            gated,
            template=self.saliency in ("abs", "positive"),
            prefix=prefix,
            observe=self.observed,
        )
        if self.saliency in ("gains", "fused"):
            saliency = gate_gains(result, result.sites[0], inputs.shape[-2:])
            if self.saliency == "fused":
                class_map = self._class_map(result, sites, inputs, targets, prefix)
                saliency = fused_map(class_map, saliency)
        elif cam:
            saliency = self._class_map(result, sites, inputs, targets, prefix)
        else:
            saliency = saliency_map(result.template, self.saliency)
        return Attribution(
            saliency=saliency,
            template=result.template,
            scores=result.scores,
            targets=targets,
            method=self.name,
            details={
                "solver": self.solver.name,
                "converged": result.converged,
                "monotone": result.monotone,
                "open_fraction": result.open_fraction,
                "sites": [site.key for site in result.sites],
                "evidence": result.evidence,
            },
        )

    def _class_map(
        self,
        result: FeedbackResult,
        sites: Sequence[GateSite],
        inputs: torch.Tensor,
        targets: torch.Tensor,
        prefix: BoundPrefix | None,
    ) -> torch.Tensor:
        """Grad-CAM of the gated network: from the last pass where it recorded Grad-CAM's
        layer (observed or gated there), else from one more pass."""
        size = inputs.shape[-2:]
        if (
            self.observed
            and (cam := observed_class_map(result, self.observed[-1], size)) is not None
        ):
            return cam
        cam = cam_of_last_pass(result, sites, self.cam_layer, size)
        if cam is None:
            cam = gated_grad_cam(
                self.model, self.cam_layer, self.solver, result, sites, inputs, targets, prefix
            )
        return cam

    def _prefix(
        self, inputs: torch.Tensor, sites: Sequence[GateSite], gated: Sequence[GateSite]
    ) -> BoundPrefix | None:
        """The network below every installed gate (and the Grad-CAM layer), computed once
        for ``inputs``; None when the model did not trace or nothing lies below them."""
        if self.trace is None:
            return None
        modules = {site.name for site in self.solver.installed_sites(sites, gated)}
        modules |= {site.name for site in self.observed}
        if self.saliency in ("gradcam", "fused"):
            modules.add(self.cam_layer)
        return self.trace.bind(inputs, modules)
