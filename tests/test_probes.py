"""A model is probed once: a second method of the same model runs no probe forward."""

from __future__ import annotations

import copy
import pickle
import threading

import pytest
import torch
from torch import nn

from thinktwice.attribution import METHODS
from thinktwice.hooks.probes import PROBES_ATTRIBUTE, ProbeCache, probe_cache, probed
from thinktwice.hooks.sites import SiteCache


def _count_forwards(model: nn.Module) -> list[int]:
    """A list whose one number counts the network's forwards from now on."""
    calls = [0]

    def count(_module, _inputs):
        calls[0] += 1

    model.network.register_forward_pre_hook(count)
    return calls


def _pairs(cat_dog) -> tuple[torch.Tensor, torch.Tensor]:
    image, _ = cat_dog
    return torch.stack([image, image, image.flip(-1)]), torch.tensor([281, 254, 281])


@pytest.mark.parametrize("method", ["feedback", "guided_backprop", "deconvnet", "gradcam"])
def test_a_second_method_of_a_model_runs_no_probe_and_gives_the_same_map(lite0, cat_dog, method):
    images, targets = _pairs(cat_dog)
    model = copy.deepcopy(lite0)  # its own probes (and a hook that goes away with it)
    first = METHODS[method](model).attribute(images, targets)
    calls = _count_forwards(model)
    second_method = METHODS[method](model)
    assert calls[0] == 0  # no survey, layer or trace probe when built again
    second = second_method.attribute(images, targets)
    forwards = calls[0]
    METHODS[method](model).attribute(images, targets)
    assert calls[0] == 2 * forwards  # each call runs only its own work, no probe or check
    assert torch.equal(second.saliency, first.saliency)


def test_methods_of_one_model_share_its_site_survey(lite0, cat_dog):
    images, _ = _pairs(cat_dog)
    model = copy.deepcopy(lite0)
    METHODS["guided_backprop"](model)
    calls = _count_forwards(model)
    METHODS["deconvnet"](model)
    METHODS["gradcam"](model)  # its default layer comes from the same survey
    SiteCache(model).sites(images)
    assert calls[0] == 0


def test_a_model_whose_modules_changed_is_probed_again(lite0):
    model = copy.deepcopy(lite0)
    METHODS["feedback"](model)
    probes = model.__dict__[PROBES_ATTRIBUTE]
    model.network._head_act = nn.ReLU6()  # same name, another module
    calls = _count_forwards(model)
    METHODS["feedback"](model)
    assert model.__dict__[PROBES_ATTRIBUTE] is not probes
    assert calls[0] > 0


def test_a_copy_probes_itself(lite0):
    model = copy.deepcopy(lite0)
    METHODS["guided_backprop"](model)
    assert model.__dict__[PROBES_ATTRIBUTE].values
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        carried = twin.__dict__.get(PROBES_ATTRIBUTE)
        assert carried is None or not carried.values  # a copy does not carry the probes
        calls = _count_forwards(twin)
        METHODS["guided_backprop"](twin)
        assert calls[0] == 1  # its own survey
        assert twin.__dict__[PROBES_ATTRIBUTE].matches(tuple(twin.named_modules()))


def test_probed_computes_once_per_key_and_keeps_no_failure():
    model = nn.Sequential(nn.Linear(2, 2))
    runs: list[str] = []
    assert probed(model, "a", lambda: runs.append("a") or 1) == 1
    assert probed(model, "a", lambda: runs.append("a again") or 2) == 1
    assert probed(model, "b", lambda: runs.append("b") or 3) == 3
    with pytest.raises(ValueError):
        probed(model, "c", lambda: (_ for _ in ()).throw(ValueError("no")))
    assert probed(model, "c", lambda: 4) == 4  # a failure is tried again
    assert runs == ["a", "b"]
    assert model.state_dict().keys() == {"0.weight", "0.bias"}  # no buffer, no submodule
    assert PROBES_ATTRIBUTE not in dict(model.named_modules())


def test_a_renamed_or_added_module_makes_a_new_cache():
    model = nn.Sequential(nn.Linear(2, 2))
    first = probe_cache(model)
    assert probe_cache(model) is first
    model.append(nn.ReLU())
    assert probe_cache(model) is not first
    assert isinstance(model.__dict__[PROBES_ATTRIBUTE], ProbeCache)


def test_threads_probing_one_model_compute_once():
    model = nn.Sequential(nn.Linear(2, 2))
    runs: list[int] = []
    start = threading.Barrier(4)

    def probe() -> None:
        start.wait()
        probed(model, "k", lambda: runs.append(1) or len(runs))

    threads = [threading.Thread(target=probe) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert runs == [1]
