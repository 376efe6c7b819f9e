"""The model is never modified, in any mode, by any method: parameters, buffers, hooks, flags.

Run on the shipped EfficientNet-Lite0, whose BatchNorm layers would move their
running statistics if a forward ran in train mode; also after an exception
raised in the middle of an attribution.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import thinktwice
from thinktwice.attribution import METHODS
from thinktwice.hooks.sites import find_sites

TIGER_CAT = 282

CONFIGURATIONS = [
    ("gradient", {}),
    ("deconvnet", {}),
    ("guided_backprop", {}),
    ("gradcam", {}),
    ("feedback", {"solver": "fsp", "max_iter": 2}),
    ("feedback", {"solver": "fr", "max_iter": 2}),
    ("feedback", {"solver": "relaxed", "max_iter": 2}),
]
IDS = [f"{m}-{o.get('solver', '')}".rstrip("-") for m, o in CONFIGURATIONS]


def snapshot(model: nn.Module) -> dict[str, Any]:
    """Everything an attribution could leave changed, by value."""
    hooks = {}
    for name, module in model.named_modules():
        for attribute, value in vars(module).items():
            if "hook" in attribute and isinstance(value, dict):
                hooks[(name, attribute)] = list(value.items())
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()},
        "training": {name: m.training for name, m in model.named_modules()},
        "requires_grad": {name: p.requires_grad for name, p in model.named_parameters()},
        "parameter_ids": [id(p) for p in model.parameters()],
        "inplace": {name: m.inplace for name, m in model.named_modules() if hasattr(m, "inplace")},
        "hooks": hooks,
        "tensor_hooks": {
            name: list((p._backward_hooks or {}).items()) for name, p in model.named_parameters()
        },
        "global_hooks": [
            list(getattr(torch.nn.modules.module, attribute).items())
            for attribute in dir(torch.nn.modules.module)
            if attribute.startswith("_global_") and attribute.endswith("hooks")
        ],
    }


def assert_unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert before["state"].keys() == after["state"].keys()
    for key, value in before["state"].items():
        assert torch.equal(value, after["state"][key]), f"{key} changed"
    for part in ("training", "requires_grad", "parameter_ids", "inplace", "hooks"):
        assert before[part] == after[part], part
    assert before["tensor_hooks"] == after["tensor_hooks"]
    assert before["global_hooks"] == after["global_hooks"]


@pytest.fixture
def lite0_in_mode(lite0, request):
    """The shared model in the mode under test, put back in eval mode afterwards."""
    lite0.train(request.param == "train")
    yield lite0
    lite0.eval()


@pytest.fixture(scope="module")
def image(cat_dog) -> torch.Tensor:
    return cat_dog[0][None]


@pytest.mark.parametrize("lite0_in_mode", ["train", "eval"], indirect=True)
@pytest.mark.parametrize(("method", "options"), CONFIGURATIONS, ids=IDS)
def test_attribution_leaves_the_model_as_it_was(lite0_in_mode, image, method, options):
    model = lite0_in_mode
    before = snapshot(model)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    result = METHODS[method](model, **options).attribute(image, TIGER_CAT)
    assert torch.isfinite(result.saliency).all()
    assert_unchanged(before, snapshot(model))


@pytest.mark.parametrize("lite0_in_mode", ["train", "eval"], indirect=True)
@pytest.mark.parametrize(("method", "options"), CONFIGURATIONS, ids=IDS)
@pytest.mark.parametrize("failing_call", [1, 2])
def test_an_exception_mid_attribution_leaves_the_model_as_it_was(
    lite0_in_mode, image, method, options, failing_call, monkeypatch
):
    """The n-th backward raises: hooks are in, parameters frozen, eval mode set, gates moved."""
    model = lite0_in_mode
    method_object = METHODS[method](model, **options)
    before = snapshot(model)
    real_grad, calls = torch.autograd.grad, []

    def failing_grad(*args, **kwargs):
        calls.append(1)
        if len(calls) == failing_call:
            raise RuntimeError("failure in the middle of an attribution")
        return real_grad(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", failing_grad)
    if failing_call == 1 or method == "feedback":
        with pytest.raises(RuntimeError, match="middle of an attribution"):
            method_object.attribute(image, TIGER_CAT)
    else:  # one backward only: the second call never comes
        method_object.attribute(image, TIGER_CAT)
    monkeypatch.undo()
    assert_unchanged(before, snapshot(model))


@pytest.mark.parametrize("lite0_in_mode", ["train"], indirect=True)
def test_explain_top5_and_find_sites_leave_a_train_mode_model_alone(lite0_in_mode, image):
    """The paths outside attribute(): ranking classes for top-k targets, finding sites."""
    model = lite0_in_mode
    before = snapshot(model)
    find_sites(model, image)
    thinktwice.explain(model, image[0], "top5", method="feedback", max_iter=1)
    assert_unchanged(before, snapshot(model))


def test_a_forward_in_train_mode_does_change_the_model(lite0, image):
    """The snapshot sees what an unguarded forward does (the tests above could fail)."""
    before = snapshot(lite0)
    try:
        lite0.train()
        with torch.no_grad():
            lite0(image)
    finally:
        lite0.eval()
    after = snapshot(lite0)
    changed = [k for k, v in before["state"].items() if not torch.equal(v, after["state"][k])]
    assert any(k.endswith("running_mean") for k in changed)
    for key in changed:  # put the statistics back for the other tests
        lite0.state_dict(keep_vars=True)[key].data.copy_(before["state"][key])
    assert_unchanged(before, snapshot(lite0))


def test_wrap_does_not_change_the_users_module():
    network = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                            nn.LazyLinear(2)).train()  # fmt: skip
    network(torch.rand(2, 3, 8, 8))  # materialise the lazy layer
    before = snapshot(network)
    model = thinktwice.wrap(network, input_size=8, class_names=["a", "b"])
    assert_unchanged(before, snapshot(network))
    METHODS["feedback"](model, max_iter=1).attribute(torch.rand(2, 3, 8, 8), "b")
    assert_unchanged(before, snapshot(network))
