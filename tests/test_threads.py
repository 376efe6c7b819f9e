"""One model explained from several threads at once gives the maps it gives from one thread.

Issue 18: with two threads on one model, guided backprop returned wrong maps with no error,
Grad-CAM raised "not been used in the graph" and feedback failed every time, because each
call installs hooks (and switches flags) on the shared model while the other thread runs it.
Every call now holds the model's lock while it changes or runs it (models/state.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import torch
from torch import nn

import thinktwice
from thinktwice.attribution import METHODS

THREADS = 6


def _small_net() -> thinktwice.Classifier:
    torch.manual_seed(0)
    network = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5),
    )  # fmt: skip
    return thinktwice.wrap(network, input_size=32, class_names=list("abcde"))


def _at_once(calls: list[Callable[[], object]]) -> list[object]:
    """Run every call in its own thread, all released together; results (or the exception
    each raised) in order."""
    start = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def work(index: int) -> None:
        start.wait()
        try:
            results[index] = calls[index]()
        except Exception as error:  # noqa: BLE001 - reported by the test
            results[index] = error

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a thread hangs"
    return results


@pytest.mark.parametrize("method", ["gradient", "deconvnet", "guided_backprop", "gradcam",
                                    "feedback"])  # fmt: skip
def test_one_method_from_many_threads_on_one_model(method):
    model = _small_net()
    torch.manual_seed(1)
    images = [torch.rand(2, 3, 32, 32) for _ in range(THREADS)]
    attributor = METHODS[method](model)
    expected = [attributor.attribute(x, [1, 3]).saliency for x in images]
    for _ in range(3):  # the failures were intermittent: try several times
        got = _at_once([lambda x=x: attributor.attribute(x, [1, 3]).saliency for x in images])
        for result, reference in zip(got, expected, strict=True):
            assert isinstance(result, torch.Tensor), result
            torch.testing.assert_close(result, reference, rtol=1e-5, atol=1e-6)


def test_every_method_and_plain_forwards_at_once_on_one_model():
    """Different methods (each with its own hooks), explain() and plain predictions from
    concurrent threads; the model ends as it began."""
    model = _small_net()
    model.train()
    torch.manual_seed(2)
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad(), thinktwice.models.state.eval_mode(model):
        logits = model(x)
    expected = {m: METHODS[m](model).attribute(x, [0, 2, 4]).saliency for m in METHODS}
    calls: list[Callable[[], object]] = []
    for method in METHODS:
        calls.append(lambda m=method: ("method", m, METHODS[m](model).attribute(x, [0, 2, 4])))
        calls.append(
            lambda m=method: ("explain", m, thinktwice.explain(
                model, x, [0, 2, 4], method=m, progress=False))
        )  # fmt: skip
    got = _at_once(calls)
    for item in got:
        assert isinstance(item, tuple), item
        _, method, result = item
        torch.testing.assert_close(result.saliency, expected[method], rtol=1e-5, atol=1e-6)
    assert model.training and all(m.training for m in model.modules())
    assert all(p.requires_grad for p in model.parameters())
    assert model.network[1].inplace  # the in-place flag came back
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    with torch.no_grad(), thinktwice.models.state.eval_mode(model):
        torch.testing.assert_close(model(x), logits)


def test_a_plain_forward_during_an_explanation_sees_no_hooks():
    """Predictions from other threads while feedback's gates are installed wait for them to
    come out, so they give the network's own scores."""
    model = _small_net()
    torch.manual_seed(3)
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        logits = model(x)
    feedback = METHODS["feedback"](model, layers="all", max_iter=6)
    finished = threading.Event()
    predictions: list[torch.Tensor] = []

    def explain_twice() -> None:
        try:
            for _ in range(2):
                feedback.attribute(x, 1)
        finally:
            finished.set()

    def predict_meanwhile() -> None:
        while not finished.is_set():
            predictions.append(_predict(model, x))

    got = _at_once([explain_twice, predict_meanwhile, predict_meanwhile])
    assert got == [None, None, None]
    assert predictions
    for result in predictions:
        torch.testing.assert_close(result, logits)


def _predict(model: thinktwice.Classifier, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)


def test_the_shipped_model_from_three_threads(lite0):
    """The issue's case on the real network: guided backprop, Grad-CAM and feedback at once."""
    torch.manual_seed(4)
    x = torch.rand(1, 3, 224, 224)
    methods = ["guided_backprop", "gradcam", "feedback"]
    built = {m: METHODS[m](lite0) for m in methods}
    expected = {m: built[m].attribute(x, 281).saliency for m in methods}
    got = _at_once([lambda m=m: built[m].attribute(x, 281).saliency for m in methods])
    for method, result in zip(methods, got, strict=True):
        assert isinstance(result, torch.Tensor), (method, result)
        torch.testing.assert_close(result, expected[method], rtol=1e-4, atol=1e-6)
