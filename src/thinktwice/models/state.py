"""Running a user's model without changing it: eval mode for the call, the device, one thread
at a time.

Every forward thinktwice runs goes through :func:`eval_mode`: BatchNorm uses its
running statistics instead of updating them, dropout is off, and on exit every
module's ``training`` flag is what it was, also after an exception. A model in
train mode therefore comes back in train mode with the same buffers.

**Threads.** An explanation changes its model for a moment: hooks on its
activations (gates, guided-backprop rules, Grad-CAM's capture), parameters that
stop requiring grad, in-place flags, the train/eval flags, the device. A forward
from another thread in that moment would run through those changes (a wrong map
with no error) or undo them. So each network has one re-entrant lock
(:func:`exclusive`), held by every thinktwice call for as long as it changes or
runs the network -- ``explain``, ``Method.attribute``, the site survey, the hook
and mode context managers, and ``Classifier.forward`` itself. Calls on one model
from several threads are therefore correct and run one after the other; for
parallel work give each thread its own model (``load_model`` twice, or
``copy.deepcopy``): separate models share no lock. Calling the bare network
(``model.network(x)``) from another thread bypasses the lock.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from thinktwice.errors import OptionError

_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """The lock of ``model``'s network: a :class:`~thinktwice.models.Classifier` shares it
    with its network (and with any other Classifier around the same network)."""
    network = getattr(model, "network", None)
    owner = network if isinstance(network, nn.Module) and _is_classifier(model) else model
    with _LOCKS_GUARD:
        lock = _LOCKS.get(owner)
        if lock is None:
            lock = _LOCKS[owner] = threading.RLock()
    return lock


def _is_classifier(model: nn.Module) -> bool:
    from thinktwice.models.classifier import Classifier

    return isinstance(model, Classifier)


@contextmanager
def exclusive(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block no other thread runs or changes ``model`` through thinktwice (the
    lock is re-entrant: the same thread may nest these blocks)."""
    with model_lock(model):
        yield model


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block ``model`` is in eval mode, and this thread's alone (:func:`exclusive`);
    every module's own flag is restored on exit."""
    with exclusive(model):
        flags = [(module, module.training) for module in model.modules()]
        try:
            model.eval()
            yield model
        finally:
            for module, training in flags:
                module.training = training


def default_device() -> torch.device:
    """CUDA when a CUDA device is present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a :class:`torch.device` (None: :func:`default_device`), checked to exist."""
    if device is None:
        return default_device()
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as error:
        raise OptionError(
            f"device {device!r} is not a torch device; use e.g. 'cpu', 'cuda' or 'cuda:1'"
        ) from error
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise OptionError(f"device {device!r}: CUDA is not available here; use 'cpu'")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise OptionError(
                f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here"
            )
    return resolved


def model_device(model: nn.Module) -> torch.device:
    """Where ``model``'s parameters (or buffers) live; the CPU for a model that has none."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of ``model``'s parameters (float32 for a model that has none)."""
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


@contextmanager
def on_device(model: nn.Module, device: str | torch.device | None) -> Iterator[torch.device]:
    """Within the block ``model`` is on ``device`` (None: where it already is); moved back after.

    Yields the device the work runs on. Moving keeps the same parameter objects
    and copies values exactly, so the model comes back as it was.
    """
    with exclusive(model):
        home = model_device(model)
        target = home if device is None else resolve_device(device)
        if _same_device(target, home):
            yield home
            return
        model.to(target)
        try:
            yield target
        finally:
            model.to(home)


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return True
    current = torch.cuda.current_device()
    return (a.index if a.index is not None else current) == (
        b.index if b.index is not None else current
    )
