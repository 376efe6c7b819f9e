"""MaxBoxAccV2 as clovaai/wsolevaluation defines it: cases worked out by hand, and properties."""

from __future__ import annotations

import numpy as np
import pytest

from thinktwice.evaluation.metrics.maxboxacc import (
    DELTAS,
    best_ious,
    boxacc_trial,
    contour_boxes,
    heldout_taus,
    markdown_maxboxacc,
    normalised_map,
    resized_box,
    summarise_maxboxacc,
    tau_grid,
)
from thinktwice.localization.boxes import Box

TAUS = tau_grid()
ALL = (1 << 100) - 1  # right at every one of the 100 taus


def _blank() -> np.ndarray:
    return np.zeros((224, 224), np.float32)


def _record(image_id: str, trials, top5=(7,), cls_top1=True) -> dict:
    return {"image_id": image_id, "top5": list(top5), "cls_top1": cls_top1,
            "maxboxacc": [t.to_json() for t in trials]}  # fmt: skip


def test_the_grid_is_0_to_0_99_in_steps_of_0_01():
    assert len(TAUS) == 100 and TAUS[0] == 0 and TAUS[-1] == pytest.approx(0.99)
    assert len(tau_grid(0.001)) == 1000


def test_one_map_one_box_iou_by_hand():
    smap = _blank()
    smap[50:100, 60:120] = 1.0  # rows 50..99, columns 60..119
    # its contour's bounding rectangle is x 60, y 50, w 60, h 50: the box (60, 50, 120, 100),
    # one pixel past the blob on the far sides (wsolevaluation's x + w), 61 x 51 = 3111 pixels
    assert contour_boxes(normalised_map(smap), [0.0])[0].tolist() == [[60, 50, 120, 100]]
    ious = best_ious(smap, [(60, 50, 119, 99)], TAUS)  # the blob itself: 3000 pixels
    np.testing.assert_allclose(ious, 3000 / 3111)
    trial = boxacc_trial(smap, 7, [Box(60, 50, 119, 99)], 224, 224, TAUS)
    assert trial.correct == {30: ALL, 50: ALL, 70: ALL}


def test_every_contour_counts_not_only_the_largest():
    smap = _blank()
    smap[10:60, 10:60] = 1.0  # a large blob, far from the object
    smap[150:170, 150:170] = 1.0  # a small one on it
    truth = Box(150, 150, 169, 169)  # 400 pixels; the small blob's box is 21 x 21 = 441
    ious = best_ious(smap, [resized_box(truth, 224, 224)], TAUS)
    np.testing.assert_allclose(ious, 400 / 441)
    largest_only = contour_boxes(normalised_map(smap), [0.5])[0]
    assert len(largest_only) == 2  # both contours are boxes


@pytest.mark.parametrize(
    ("truth", "iou", "right"),
    [
        (Box(10, 10, 29, 49), 0.5, {30: True, 50: True, 70: False}),  # 400 / 800 exactly
        (Box(10, 10, 29, 50), 400 / 820, {30: True, 50: False, 70: False}),
        (Box(10, 10, 23, 29), 0.7, {30: True, 50: True, 70: True}),  # 280 / 400 exactly
        (Box(10, 10, 29, 25), 0.8, {30: True, 50: True, 70: True}),
        (Box(10, 10, 29, 15), 0.3, {30: True, 50: False, 70: False}),  # 120 / 400 exactly
    ],
)
def test_a_box_at_exactly_delta_counts_as_right(truth, iou, right):
    smap = _blank()
    smap[10:29, 10:29] = 1.0  # the box (10, 10, 29, 29): 20 x 20 = 400 pixels
    assert best_ious(smap, [resized_box(truth, 224, 224)], [0.5])[0] == pytest.approx(iou)
    trial = boxacc_trial(smap, 1, [truth], 224, 224, TAUS)
    assert {d: trial.correct[d] == ALL for d in DELTAS} == right
    assert all(trial.correct[d] in (0, ALL) for d in DELTAS)


def test_the_best_tau_and_the_score_at_a_held_out_tau():
    smap = _blank()
    smap[60:160, 60:160] = 0.5  # uint8 127: above int(tau * 255) for tau <= 0.49 only
    smap[100:120, 100:120] = 1.0  # uint8 255: above every threshold
    big, core = Box(60, 60, 159, 159), Box(100, 100, 119, 119)
    low = sum(1 << i for i in range(50))  # tau 0 .. 0.49: the big box
    trials = [boxacc_trial(smap, 7, [truth], 224, 224, TAUS) for truth in (big, core, big)]
    assert [t.correct[50] for t in trials] == [low, ALL - low, low]
    records = [_record(f"i{n}", [t]) for n, t in enumerate(trials)]
    summary = summarise_maxboxacc(records, TAUS)
    assert summary["maxboxacc_50"] == pytest.approx(2 / 3)
    assert summary["maxboxacc_50_tau"] == 0.0  # the first of the best taus
    assert summary["maxboxacc_v2"] == pytest.approx(2 / 3)  # same at 30 and 70 here
    assert summary["maxboxacc_top1_loc"] == pytest.approx(2 / 3)
    dev = {"30": 0.5, "50": 0.5, "70": 0.5}
    held = summarise_maxboxacc(records, TAUS, dev)
    assert held["boxacc_50_heldout"] == pytest.approx(1 / 3)
    assert held["boxacc_v2_heldout"] == pytest.approx(1 / 3)
    assert held["heldout_tau_50"] == 0.5
    assert held["top1_loc_heldout"] == pytest.approx(1 / 3)
    assert heldout_taus({"gradcam": summary})["gradcam"] == {"30": 0.0, "50": 0.0, "70": 0.0}
    assert "MaxBoxAccV2" in markdown_maxboxacc({"gradcam": held})


def test_top1_localization_needs_the_right_class_first():
    smap = _blank()
    smap[50:100, 60:120] = 1.0
    trial = boxacc_trial(smap, 7, [Box(60, 50, 119, 99)], 224, 224, TAUS)
    records = [_record("a", [trial]), _record("b", [trial], top5=(3, 7), cls_top1=False)]
    summary = summarise_maxboxacc(records, TAUS)
    assert summary["maxboxacc_50"] == 1.0  # ground truth known: both maps are right
    assert summary["maxboxacc_top1_loc"] == 0.5  # image b's top-1 class is wrong


def test_flat_and_empty_maps_give_the_box_0_0_0_0():
    truth = [(0, 0, 0, 0)]
    for smap in (_blank(), np.full((224, 224), 3.0), np.full((224, 224), np.nan)):
        assert contour_boxes(normalised_map(smap), [0.0])[0].tolist() == [[0, 0, 0, 0]]
        np.testing.assert_allclose(best_ious(smap, truth, [0.0, 0.5]), 1.0)


def test_boxes_and_maps_are_brought_to_the_224_grid():
    assert resized_box(Box(120, 100, 239, 199), 448, 448) == (60, 50, 119, 99)
    assert resized_box(Box(0, 0, 499, 374), 500, 375) == (0, 0, 223, 223)  # int(499 * 0.448)
    assert resized_box(Box(10, 20, 30, 40), 227, 227) == (9, 19, 29, 39)
    small = np.zeros((112, 112), np.float32)
    small[20:40, 30:50] = 5.0
    scoremap = normalised_map(small)
    assert scoremap.shape == (224, 224) and scoremap.min() == 0 and scoremap.max() == 1


def _random_maps(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:224, :224]
    for _ in range(count):
        smap = np.zeros((224, 224))
        for _ in range(rng.integers(1, 4)):
            cy, cx, s = rng.uniform(20, 200), rng.uniform(20, 200), rng.uniform(8, 50)
            smap += rng.uniform(0.2, 1) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
        smap += 0.05 * rng.random((224, 224))
        x0, y0 = rng.integers(0, 150, 2)
        w, h = rng.integers(20, 74, 2)
        truth = Box(int(x0), int(y0), int(x0 + w), int(y0 + h))
        yield smap.astype(np.float32), truth


def test_monotone_in_delta_and_invariant_to_scaling_the_map():
    records, scaled = [], []
    for n, (smap, truth) in enumerate(_random_maps(12)):
        trial = boxacc_trial(smap, 1, [truth], 224, 224, TAUS)
        assert trial.correct[70] & ~trial.correct[50] == 0  # right at 70 -> right at 50
        assert trial.correct[50] & ~trial.correct[30] == 0
        for factor in (2.0, 0.25, 3.7):
            assert boxacc_trial(smap * factor, 1, [truth], 224, 224, TAUS) == trial
        records.append(_record(str(n), [trial], top5=(1,)))
        scaled.append(_record(str(n), [boxacc_trial(smap * 8, 1, [truth], 224, 224, TAUS)]))
    summary = summarise_maxboxacc(records, TAUS)
    assert summary["maxboxacc_30"] >= summary["maxboxacc_50"] >= summary["maxboxacc_70"]
    assert summary["maxboxacc_30"] > 0 and summary["maxboxacc_70"] < 1  # the cases differ
    assert summarise_maxboxacc(scaled, TAUS)["maxboxacc_v2"] == summary["maxboxacc_v2"]


def test_a_record_from_another_grid_is_refused():
    from thinktwice.errors import ThinkTwiceError

    smap = _blank()
    smap[50:100, 60:120] = 1.0
    trial = boxacc_trial(smap, 7, [Box(60, 50, 119, 99)], 224, 224, tau_grid(0.001))
    with pytest.raises(ThinkTwiceError, match="tau-step"):
        summarise_maxboxacc([_record("a", [trial])], TAUS)
