"""What every feedback solver shares: the feedback loop, one gated pass, and the result.

A solver (:class:`Solver`) runs the loop of section 3.3: a first pass with every
gate open (the ordinary feedforward), then, until the gates stop changing or
``max_iter`` updates were made, a gate update from the last backward pass and a
new gated pass. Subclasses say only how gates move (:meth:`Solver.update`).
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import ClassVar

import torch
from torch import nn

from thinktwice.errors import OptionError
from thinktwice.feedback.gates import DECISIONS, PLAIN, GateRule, PassMode
from thinktwice.hooks.install import rules_installed
from thinktwice.hooks.sites import GateSite
from thinktwice.hooks.split import BoundPrefix
from thinktwice.options import check_feedback_value
from thinktwice.pairs import distinct_rows, occurrence_rounds, one_hot_seed

# A score may drop by float round-off when gates do not change; below this it is no drop.
MONOTONE_TOLERANCE = 1e-4


@dataclass
class FeedbackResult:
    """The outcome of feedback for a batch of N (image, class) pairs.

    ``scores[k, n]`` is pair n's target score in pass k (pass 0: all gates open,
    the ordinary feedforward); ``template`` is ``dS_c/dI`` at the final gates.
    """

    template: torch.Tensor | None  # [N, 3, H, W]; None when solve() was asked for no template
    scores: torch.Tensor  # [passes, N]
    open_fraction: torch.Tensor  # [passes, sites, N]: share of open gates per site
    converged: torch.Tensor  # [N] bool: gates reached a fixed point
    sites: list[GateSite]  # the gated sites, bottom-up
    gates: dict[str, torch.Tensor | None] = field(repr=False, default_factory=dict)
    # [passes, N]: the image's own share of the score, T_c . (I - mean); with objective="evidence"
    evidence: torch.Tensor | None = None
    # per installed site key: (its tensor before the gate, dS/dy at the gated tensor) of the
    # last pass, which ran with the final gates (None: no backward reached the site)
    last_pass: dict[str, tuple[torch.Tensor | None, torch.Tensor | None]] = field(
        repr=False, default_factory=dict
    )

    @property
    def objective(self) -> torch.Tensor:
        """[passes, N]: what the solver maximised (evidence when tracked, else the score)."""
        return self.evidence if self.evidence is not None else self.scores

    @property
    def iterations(self) -> int:
        """Gate updates made (passes after the first)."""
        return self.scores.shape[0] - 1

    @property
    def monotone(self) -> torch.Tensor:
        """[N] bool: the maximised objective never went down from one pass to the next."""
        values = self.objective
        drops = values[:-1] - values[1:]
        tolerance = MONOTONE_TOLERANCE * values.abs().amax(dim=0).clamp_min(1.0)
        return (drops <= tolerance).all(dim=0)


@dataclass
class PassOutput:
    """Target scores and, when asked, the input gradient of one gated pass."""

    scores: torch.Tensor  # [N]
    template: torch.Tensor | None  # [N, 3, H, W]


@dataclass
class Step:
    """What a gate update may read: the batch, the pass just made, the trace so far."""

    classifier: nn.Module
    images: torch.Tensor
    targets: torch.Tensor
    output: PassOutput
    evidence: list[torch.Tensor] = field(default_factory=list)
    # sites recorded in every pass but never gated (see Solver.solve's ``observe``)
    observed: list[GateSite] = field(default_factory=list)


class Solver(ABC):
    """A feedback solver: the shared loop; subclasses move the gates in :meth:`update`.

    ``recursive`` solvers decide gates during the backward pass itself (so a
    pass's own input gradient runs through gates not yet in its forward and is
    never used as the template); ``monotone_expected`` solvers warn when the
    objective drops.
    """

    name: ClassVar[str]
    recursive: ClassVar[bool] = False
    monotone_expected: ClassVar[bool] = False
    #: Whether :meth:`update` reads the class-map layer (passed to :meth:`solve` as ``observe``).
    observes_class_map: ClassVar[bool] = False
    #: Whether :meth:`update` reads nothing but the observed sites: its intermediate passes
    #: then need no backward below them (the gates' own gradients go unread).
    reads_observed_only: ClassVar[bool] = False

    def __init__(self, max_iter: int = 10, decision: str = "gain", prune_only: bool = False):
        check_feedback_value("max_iter", max_iter)
        check_feedback_value("prune_only", prune_only)
        if decision not in DECISIONS:
            raise OptionError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
        self.max_iter = max_iter
        self.decision = decision
        self.prune_only = prune_only

    def installed_sites(
        self, sites: Sequence[GateSite], gated: Sequence[GateSite]
    ) -> list[GateSite]:
        """The sites that need the rule installed (default: the gated ones)."""
        return list(gated)

    def make_rule(
        self,
        sites: Sequence[GateSite],
        gated: Sequence[GateSite],
        observe: Sequence[GateSite] = (),
    ) -> GateRule:
        installed = self.installed_sites(sites, gated)
        keys = {site.key for site in installed}
        return GateRule(
            [*installed, *(site for site in observe if site.key not in keys)],
            gated={site.key for site in gated},
            decision=self.decision,
        )

    def pass_mode(self) -> PassMode:
        """The mode of this solver's feedback passes (see :class:`PassMode`)."""
        return PassMode(recursive=self.recursive, prune_only=self.prune_only)

    def _graph_start(self, observe: Sequence[GateSite], last: bool) -> str | None:
        """Where an intermediate pass's backward may stop: at the observed site when the
        update reads only that (``reads_observed_only``), else at the lowest gate (None)."""
        return observe[-1].key if self.reads_observed_only and observe and not last else None

    @abstractmethod
    def update(self, rule: GateRule, step: Step, *, apply: bool = True) -> torch.Tensor:
        """Move the gates after ``step`` (only report when ``apply`` is False); returns
        [N] bool: the pairs whose gates are at a fixed point (left unchanged)."""

    def solve(
        self,
        classifier: nn.Module,
        images: torch.Tensor,
        targets: torch.Tensor,
        sites: Sequence[GateSite],
        gated: Sequence[GateSite] | None = None,
        *,
        template: bool = True,
        prefix: BoundPrefix | None = None,
        observe: Sequence[GateSite] = (),
    ) -> FeedbackResult:
        """Feedback on ``gated`` sites (default: all ``sites``); ``sites`` are all the
        network's sites of the same placement (some objectives linearise the network).
        ``template=False`` skips the image gradient at the final gates (a caller that
        reads the gates only: no backward pass goes below the lowest gate). ``prefix``:
        the network below every site of :meth:`installed_sites`, computed once for
        ``images`` (:mod:`~thinktwice.hooks.split`); every pass that needs no image
        gradient then runs only the part above it (``prefix`` must lie below the
        ``observe`` sites too). ``observe``: sites whose tensor and gradient every pass
        records without gating them (a layer a solver's update reads, such as the
        class-map layer of :class:`~thinktwice.feedback.solvers.attention.TopDownAttention`)."""
        gated = list(sites if gated is None else gated)
        rule = self.make_rule(sites, gated, observe)
        mode = self.pass_mode()
        scores, fractions, evidence = [], [], []
        with rules_installed(classifier, rule.sites, rule):
            for iteration in range(self.max_iter + 1):
                last = iteration == self.max_iter
                stop_at = self._graph_start(observe, last)
                out = gated_pass(
                    classifier,
                    images,
                    targets,
                    rule,
                    mode=mode,
                    template=template and last and not self.recursive,
                    prefix=prefix,
                    stop_at=stop_at,
                )
                scores.append(out.scores)
                fractions.append(open_fraction(rule, len(images)))
                step = Step(classifier, images, targets, out, evidence, list(observe))
                converged = self.update(rule, step, apply=not last)
                if last or bool(converged.all()):
                    break
            if stop_at is not None:  # a fixed point before the last pass: the maps
                # want the gradients its backward skipped
                out = gated_pass(
                    classifier, images, targets, rule, mode=mode, template=False, prefix=prefix
                )
            if template and out.template is None:  # the template at the final gates
                final = replace(mode, recursive=False)
                out = gated_pass(classifier, images, targets, rule, mode=final, template=True)
        result = FeedbackResult(
            template=out.template,
            scores=torch.stack(scores),
            open_fraction=torch.stack(fractions),
            converged=converged,
            sites=gated,
            gates=rule.gates(),
            evidence=torch.stack(evidence) if evidence else None,
            last_pass={k: (st.activation, st.grad) for k, st in rule.states.items()},
        )
        if self.monotone_expected:
            warn_if_not_monotone(result, self.name)
        return result


def gated_pass(
    classifier: torch.nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
    rule: GateRule | None = None,
    *,
    mode: PassMode = PLAIN,
    template: bool = True,
    prefix: BoundPrefix | None = None,
    stop_at: str | None = None,
) -> PassOutput:
    """Forward with the installed gates acting in ``mode``, then backward from each pair's
    target score.

    The backward records ``dS/dy`` at every gate site (see :class:`GateRule`).
    With ``template=False`` it stops at site ``stop_at`` (default: the lowest gate of
    ``rule``) and skips the image gradient: cheaper, and enough to update the gates;
    with a ``prefix`` of ``images`` such a pass also starts above it. While every gate
    is still open, an image that appears in several pairs goes forward once.
    """
    prefix = None if template else prefix
    if rule is not None:
        mode = replace(mode, graph_from=None if template else stop_at or rule.lowest_gate)
    with torch.enable_grad():
        if rule is not None and rule.all_open():
            firsts, inverse = distinct_rows(images)
            if len(firsts) < len(images):
                return _shared_open_pass(
                    classifier, images, targets, rule, mode, template, firsts, inverse, prefix
                )
        scores, root = _forward(classifier, images, targets, rule, mode, template, prefix)
        (grad,) = torch.autograd.grad(scores.sum(), root)
    return PassOutput(scores=scores.detach(), template=grad if template else None)


def _forward(
    classifier: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor | None,
    rule: GateRule | None,
    mode: PassMode,
    template: bool,
    prefix: BoundPrefix | None = None,
    rows: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(target scores, or all logits when ``targets`` is None; the tensor a backward
    must reach: the image for a ``template``, else the rule's tensor at
    ``mode.graph_from``). With ``prefix`` (passes without template only) the forward
    runs from its cached values for the batch's ``rows`` (default: all)."""
    x = images.detach().requires_grad_(template)
    shortcut = prefix.running(classifier, rows) if prefix is not None else nullcontext()
    running = rule.running(mode) if rule is not None else nullcontext()
    with running, shortcut:
        logits = classifier(x)
    root = x if template else (rule.graph_root if rule is not None else None)
    if root is None:
        raise ValueError("a pass without template needs a rule with a gated site")
    scores = logits if targets is None else logits.gather(1, targets.view(-1, 1)).squeeze(1)
    return scores, root


def _shared_open_pass(
    classifier: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
    rule: GateRule,
    mode: PassMode,
    template: bool,
    firsts: torch.Tensor,
    inverse: torch.Tensor,
    prefix: BoundPrefix | None = None,
) -> PassOutput:
    """The all-open pass with one forward per distinct image and one backward per class
    (``firsts``, ``inverse``: see :func:`~thinktwice.pairs.distinct_rows`).

    Every site's recorded tensors are then per pair again, as after a plain pass.
    """
    rounds = occurrence_rounds(inverse)
    logits, root = _forward(classifier, images[firsts], None, rule, mode, template, prefix, firsts)
    grads = {key: None for key in rule.states}
    decided = {key: None for key in rule.states}
    image_grad = images.new_empty(images.shape) if template else None
    for k, rows in enumerate(rounds):
        seed = one_hot_seed(logits, inverse[rows], targets[rows])
        (grad,) = torch.autograd.grad(logits, root, seed, retain_graph=k + 1 < len(rounds))
        if image_grad is not None:
            image_grad[rows] = grad[inverse[rows]]
        for key, state in rule.states.items():
            _scatter(grads, key, state.grad, rows, inverse, len(images))
            _scatter(decided, key, state.decided, rows, inverse, len(images))
    for key, state in rule.states.items():
        state.grad, state.decided = grads[key], decided[key]
        state.activation = None if state.activation is None else state.activation[inverse]
        state.inputs = None if state.inputs is None else state.inputs[inverse]
    scores = logits.detach()[inverse, targets]
    return PassOutput(scores=scores, template=image_grad)


def _scatter(
    buffers: dict[str, torch.Tensor | None],
    key: str,
    value: torch.Tensor | None,
    rows: torch.Tensor,
    inverse: torch.Tensor,
    batch: int,
) -> None:
    """Copy one round's per-image ``value`` into the per-pair buffer at ``rows``."""
    if value is None:
        return
    if buffers[key] is None:
        buffers[key] = value.new_empty((batch, *value.shape[1:]))
    buffers[key][rows] = value[inverse[rows]]


def baseline_pass(
    classifier: torch.nn.Module, rule: GateRule, targets: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The gated network, linearised at the last pass, evaluated at the mean image.

    Call right after a pass made in a mode with ``record_inputs``. With every
    activation pattern and pool selection frozen the network is affine,
    ``S(I) = T . I + b``; at the mean image (normalised input 0) it gives the part
    of the score, and of every site's activation, that does not come from the
    image. Returns (scores [N], activations per site).
    """
    batch = len(targets)
    mean = classifier.mean.expand(batch, -1, *classifier.input_size)
    rule.freeze()
    try:
        with torch.no_grad():
            scores = classifier(mean).gather(1, targets.view(-1, 1)).squeeze(1)
        activations = {key: state.activation for key, state in rule.states.items()}
    finally:
        rule.unfreeze()
    return scores, activations


def open_fraction(rule: GateRule, batch: int) -> torch.Tensor:
    """[sites, N]: each pair's mean gate value at each gated site.

    For hard gates (0 or 1) this is the share of open gates; for relaxed gates it
    also shows how far they moved without reaching 0.
    """
    rows = []
    for key, state in rule.states.items():
        if key not in rule.gated:
            continue
        if state.gate is None:
            rows.append(torch.ones(batch))
        else:
            rows.append(state.gate.float().flatten(1).mean(dim=1).cpu())
    return torch.stack(rows) if rows else torch.ones(0, batch)


def warn_if_not_monotone(result: FeedbackResult, solver: str) -> None:
    """Say so when a solver that should never lower the score did (never hide it)."""
    broken = (~result.monotone).nonzero().flatten().tolist()
    if broken:
        warnings.warn(
            f"{solver}: the target score decreased during feedback for pair(s) {broken[:10]}; "
            "the score of every pass is in the explanation's scores (Python) and in the plot "
            "of `thinktwice feedback-trace` (command line)",
            RuntimeWarning,
            stacklevel=3,
        )
