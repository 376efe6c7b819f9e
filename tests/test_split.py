"""Feedback passes above the lowest gate only (hooks/split.py): same maps, less work."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import thinktwice
from thinktwice.attribution import METHODS
from thinktwice.hooks.sites import find_sites
from thinktwice.hooks.split import ModelTrace, trace_model


class _SamePad(nn.Conv2d):
    """Padding computed from the input's shape: fx cannot trace through it (a leaf here)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = max(0, (x.shape[-1] - 1) % 2)
        return super().forward(F.pad(x, [0, pad, 0, pad]) if pad else x)


class _Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.act(self.conv(x))  # the skip reads a tensor from below the gate


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = _SamePad(3, 8, 3, stride=2)
        self.act0 = nn.ReLU()
        self.block1 = _Residual(8)
        self.pool = nn.MaxPool2d(2)
        self.block2 = _Residual(8)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block2(self.pool(self.block1(self.act0(self.stem(x))))))


def _toy() -> thinktwice.Classifier:
    torch.manual_seed(0)
    return thinktwice.wrap(_Net(), mean=(0.5,) * 3, std=(0.5,) * 3, input_size=32)


def _pairs(model: thinktwice.Classifier, images: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    x = torch.rand(images, 3, *model.input_size)
    return x.repeat_interleave(2, 0), torch.tensor([0, 1, 2, 3, 4, 0] * images)[: 2 * images]


SOLVER_OPTIONS = [
    {},
    {"saliency": "abs"},
    {"solver": "fsp", "layers": 2, "max_iter": 3},
    {"solver": "fr", "layers": 3, "max_iter": 2},
    {"solver": "fsp", "objective": "evidence", "layers": 2, "max_iter": 2},
    {"solver": "relaxed", "layers": ["network.block2.act"], "max_iter": 3, "saliency": "positive"},
]


@pytest.mark.parametrize("options", SOLVER_OPTIONS, ids=str)
def test_split_passes_give_the_maps_of_whole_network_passes(options):
    model = _toy()
    images, targets = _pairs(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # hard solvers' monotonicity notes
        whole = METHODS["feedback"](model, split=False, **options).attribute(images, targets)
        split = METHODS["feedback"](model, **options).attribute(images, targets)
    torch.testing.assert_close(split.saliency, whole.saliency, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(split.scores, whole.scores, rtol=1e-5, atol=1e-5)


def test_the_cut_lies_below_the_gates_and_keeps_the_skip_connection():
    model = _toy()
    trace = ModelTrace(model, torch.rand(2, 3, 32, 32))
    split = trace.split({"network.block2.act"})
    assert split is not None
    # the suffix reads the skip (the block's input) and the conv below the gate, both constant
    assert split.boundary == ("network_pool", "network_block2_conv")
    called = {str(n.target) for n in split.prefix.graph.nodes if n.op == "call_module"}
    assert "network.block2.act" not in called
    assert {"network.block1.act", "network.block2.conv"} <= called
    assert "network.stem" in called  # the shape-dependent module is traced as one call
    # a cut at the input saves nothing: no split
    first_site = find_sites(model, torch.zeros(1, 3, 32, 32), placement="inputs")[0]
    assert first_site.name == "network.stem"
    assert trace.split({"network.stem"}) is None


def test_a_suffix_pass_runs_no_module_below_the_cut():
    model = _toy()
    images, targets = _pairs(model)
    calls: list[str] = []
    handles = [
        module.register_forward_hook(lambda m, i, o, name=name: calls.append(name))
        for name, module in model.named_modules()
        if name.endswith(("stem", "block1.act", "block2.act"))
    ]
    try:
        trace = ModelTrace(model, images[:2])
        bound = trace.bind(images, {"network.block2.act"})
        calls.clear()
        with bound.running(model), torch.no_grad():
            logits = model(images)
    finally:
        for handle in handles:
            handle.remove()
    assert calls == ["network.block2.act"]
    with torch.no_grad():
        torch.testing.assert_close(logits, model(images))


def test_a_model_that_does_not_trace_runs_todays_path_and_says_so():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.act = nn.ReLU()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            y = self.act(self.conv(x))
            if y.sum() > 0:  # data-dependent control flow: fx cannot trace it
                y = y * 2
            return self.fc(y.mean(dim=(2, 3)))

    model = thinktwice.wrap(Branchy(), mean=(0.5,) * 3, std=(0.5,) * 3, input_size=16)
    assert trace_model(model, torch.rand(2, 3, 16, 16))[0] is None
    with pytest.warns(RuntimeWarning, match="does not trace with torch.fx"):
        method = METHODS["feedback"](model, saliency="abs", layers="all")
    images = torch.rand(2, 3, 16, 16)
    result = method.attribute(images, torch.tensor([0, 1]))
    reference = METHODS["feedback"](model, saliency="abs", layers="all", split=False)
    torch.testing.assert_close(result.saliency, reference.attribute(images, [0, 1]).saliency)


@pytest.mark.parametrize("options", [{}, {"saliency": "abs"}], ids=["default", "paper map"])
def test_default_feedback_on_the_shipped_model_is_unchanged_by_the_split(lite0, cat_dog, options):
    image, _ = cat_dog
    images = torch.stack([image, image, image.flip(-1)])
    targets = torch.tensor([281, 254, 281])
    whole = METHODS["feedback"](lite0, split=False, **options).attribute(images, targets)
    method = METHODS["feedback"](lite0, **options)
    assert method.trace is not None  # Lite0 traces (its SAME-padding convolutions as leaves)
    split = method.attribute(images, targets)
    scale = float(whole.saliency.abs().max())
    torch.testing.assert_close(split.saliency, whole.saliency, rtol=1e-4, atol=1e-5 * scale)


def test_grad_cam_read_from_the_last_pass_equals_one_more_gated_pass(lite0, cat_dog):
    from thinktwice.attribution.feedback import cam_of_last_pass, gated_grad_cam

    image, _ = cat_dog
    images = torch.stack([image, image.flip(-1)])
    targets = torch.tensor([281, 254])
    method = METHODS["feedback"](lite0, preset="relaxed-gradcam", split=False)
    sites = find_sites(lite0, images[:1], warn=False)
    gated = [s for s in sites if s.key in method.attribute(images, targets).details["sites"]]
    result = method.solver.solve(lite0, images, targets, sites, gated, template=False)
    read = cam_of_last_pass(result, sites, method.cam_layer, images.shape[-2:])
    assert read is not None  # Lite0's Grad-CAM layer is the top gated site
    again = gated_grad_cam(lite0, method.cam_layer, method.solver, result, sites, images, targets)
    torch.testing.assert_close(read, again, rtol=1e-5, atol=1e-6 * float(again.abs().max()))
