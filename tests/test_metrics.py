"""Metrics: hand-computed localization, classification and pointing-game cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from thinktwice.errors import ThinkTwiceError
from thinktwice.evaluation.datasets import GroundTruth
from thinktwice.evaluation.metrics import (
    SUMMARY_KEYS,
    ImageOutcome,
    MetricsAccumulator,
    PointingGame,
    PointingTrial,
    cls_correct,
    ebp_difficult,
    evaluate_image,
    loc_correct,
    loc_gt_score,
    max_point,
    point_hit,
    pointing_boxes,
    pointing_hit,
    pointing_trial,
)
from thinktwice.localization.boxes import Box, iou

CAT, DOG, CAR = 281, 207, 817
CAT_BOX = Box(10, 10, 19, 19)  # 10 x 10 = 100 pixels
DOG_BOX = Box(50, 50, 89, 69)


def truth(classes: set[int], box: Box, difficult: bool = False) -> GroundTruth:
    return GroundTruth(classes=frozenset(classes), box=box, difficult=difficult)


OBJECTS = (truth({CAT, 282}, CAT_BOX), truth({DOG}, DOG_BOX))


# --- localization and classification ---------------------------------------------------------


def test_right_class_wrong_box_is_wrong() -> None:
    assert not loc_correct([(CAT, DOG_BOX)], OBJECTS, k=1)
    assert not loc_correct([(CAT, None)], OBJECTS, k=1)


def test_wrong_class_right_box_is_wrong() -> None:
    assert not loc_correct([(CAR, CAT_BOX)], OBJECTS, k=1)
    assert not loc_correct([(DOG, CAT_BOX)], OBJECTS, k=1)  # a class of the *other* object


def test_any_accepted_class_of_an_object_counts() -> None:
    assert loc_correct([(282, CAT_BOX)], OBJECTS, k=1)
    assert loc_correct([(DOG, DOG_BOX)], OBJECTS, k=1)


def test_top5_rescue_at_rank_3() -> None:
    guesses = [(CAR, CAT_BOX), (CAT, DOG_BOX), (DOG, Box(52, 50, 89, 69)), (1, None), (2, None)]
    assert [loc_correct(guesses, OBJECTS, k) for k in (1, 2, 3, 5)] == [False, False, True, True]
    assert [cls_correct([c for c, _ in guesses], OBJECTS, k) for k in (1, 2)] == [False, True]


def test_iou_exactly_half_counts_as_correct() -> None:
    half = Box(10, 10, 19, 14)  # 50 pixels inside the 100-pixel cat box
    assert iou(half, CAT_BOX) == 0.5
    assert loc_correct([(CAT, half)], OBJECTS, k=1)
    just_under = Box(10, 10, 19, 13)  # 40 / 100
    assert not loc_correct([(CAT, just_under)], OBJECTS, k=1)


def test_several_boxes_of_one_class_any_may_match() -> None:
    objects = (truth({CAT}, CAT_BOX), truth({CAT}, Box(100, 100, 109, 109)))
    assert loc_correct([(CAT, Box(100, 100, 109, 109))], objects, k=1)


def test_classification_at_k() -> None:
    ranked = [CAR, 1, 2, 3, DOG, CAT]
    assert [cls_correct(ranked, OBJECTS, k) for k in (1, 4, 5)] == [False, False, True]
    assert cls_correct([282], OBJECTS, 1)
    with pytest.raises(ValueError, match="k must be"):
        cls_correct(ranked, OBJECTS, 0)


def test_loc_with_ground_truth_labels() -> None:
    assert loc_gt_score([(CAT, CAT_BOX)], OBJECTS[:1]) == 1.0
    assert loc_gt_score([(CAT, DOG_BOX)], OBJECTS[:1]) == 0.0
    # two labels, one localized: the devkit's per-label average
    assert loc_gt_score([(282, CAT_BOX), (DOG, CAT_BOX)], OBJECTS) == 0.5
    assert loc_gt_score([(CAT, CAT_BOX), (DOG, DOG_BOX)], OBJECTS) == 1.0
    with pytest.raises(ValueError, match="no ground-truth object"):
        loc_gt_score([(CAT, CAT_BOX)], [GroundTruth(frozenset(), CAT_BOX)])


# --- pointing game ---------------------------------------------------------------------------


def peak_map(points: list[tuple[int, int]], size: tuple[int, int] = (120, 100)) -> np.ndarray:
    """A width x height map, 0 except 1.0 at each (x, y) of ``points``."""
    saliency = np.zeros((size[1], size[0]), dtype=np.float32)
    for x, y in points:
        saliency[y, x] = 1.0
    return saliency


BOX = Box(40, 30, 59, 49)


@pytest.mark.parametrize(
    ("point", "hit"),
    [
        ((45, 35), True),  # inside
        ((69, 40), True),  # 10 px right of the box
        ((79, 40), False),  # 20 px right
        ((74, 40), False),  # exactly 15 px: TorchRay's test is strict (< 15)
        ((73, 40), True),  # 14 px
        ((68, 61), False),  # dx 9, dy 12: distance exactly 15
        ((68, 60), True),  # dx 9, dy 11: distance 14.2
    ],
)
def test_pointing_hit_tolerance(point: tuple[int, int], hit: bool) -> None:
    assert pointing_hit(peak_map([point]), [BOX]) is hit


def test_pointing_ties_first_maximum_in_row_major_order() -> None:
    inside, far = (45, 35), (100, 5)  # far has the smaller y: it comes first
    assert max_point(peak_map([inside, far])) == far
    assert not pointing_hit(peak_map([inside, far]), [BOX])
    same_row = peak_map([(45, 35), (100, 35)])  # same y: the smaller x wins
    assert max_point(same_row) == (45, 35) and pointing_hit(same_row, [BOX])


def test_pointing_matches_torchray_mask_formula() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        width, height = rng.integers(20, 60, size=2)
        x0, x1 = sorted(rng.integers(0, width, size=2))
        y0, y1 = sorted(rng.integers(0, height, size=2))
        boxes = [Box(int(x0), int(y0), int(x1), int(y1))]
        saliency = rng.random((height, width))
        # TorchRay: mask of the box pixels, accept region (dv^2 + du^2) < tol^2 around argmax
        v, u = np.unravel_index(np.argmax(saliency), saliency.shape)
        mask = np.zeros((height, width), dtype=bool)
        mask[y0 : y1 + 1, x0 : x1 + 1] = True
        rows, cols = np.mgrid[0:height, 0:width]
        accept = (rows - v) ** 2 + (cols - u) ** 2 < 15**2
        assert pointing_hit(saliency, boxes) == bool((mask & accept).any())


def test_pointing_input_checks() -> None:
    with pytest.raises(ValueError, match="2-D"):
        max_point(np.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match="NaN"):
        max_point(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="at least one"):
        point_hit((1, 1), [])
    with pytest.raises(ValueError, match="resize it"):
        pointing_trial(peak_map([(1, 1)]), OBJECTS, CAT, image_size=(100, 120))


def test_pointing_boxes_skip_only_all_difficult_classes() -> None:
    objects = (
        truth({CAT}, CAT_BOX, difficult=True),
        truth({CAT}, BOX),
        truth({DOG}, DOG_BOX, difficult=True),
    )
    assert pointing_boxes(objects, CAT) == (CAT_BOX, BOX)  # difficult boxes still count
    assert pointing_boxes(objects, DOG) is None
    assert pointing_boxes(objects, CAR) is None
    assert pointing_trial(peak_map([(1, 1)]), objects, DOG) is None
    trial = pointing_trial(peak_map([(45, 35)]), objects, CAT, image_size=(120, 100))
    assert trial == PointingTrial(CAT, True, False)


def test_ebp_difficult_criterion() -> None:
    small_cat, big_dog = truth({CAT}, Box(0, 0, 9, 9)), truth({DOG}, Box(0, 0, 99, 99))
    assert ebp_difficult((small_cat, big_dog), CAT, 100, 100)  # small + distractor
    assert not ebp_difficult((small_cat, big_dog), DOG, 100, 100)  # covers the image
    assert not ebp_difficult((small_cat,), CAT, 100, 100)  # no distractor
    quarter = truth({CAT}, Box(0, 0, 49, 49))  # exactly 1/4: not smaller
    assert not ebp_difficult((quarter, big_dog), CAT, 100, 100)


def test_pointing_game_accuracies() -> None:
    game = PointingGame()
    for class_index, hit in [(1, True), (1, True), (1, False), (2, False)]:
        game.add(class_index, hit)
    assert (game.hits, game.misses) == (2, 2)
    assert game.accuracy == 0.5
    assert game.class_mean_accuracy == pytest.approx((2 / 3 + 0) / 2)
    assert PointingGame().accuracy is None


# --- outcomes, summary, JSON -------------------------------------------------------------------


def outcomes() -> list[ImageOutcome]:
    return [
        ImageOutcome("a", True, True, True, True, 1.0, (PointingTrial(CAT, True),)),
        ImageOutcome("b", False, True, False, True, 0.0, (PointingTrial(CAT, False, True),)),
        ImageOutcome(
            "c",
            False,
            False,
            False,
            False,
            0.5,
            (PointingTrial(DOG, True, True), PointingTrial(CAT, True)),
        ),
        ImageOutcome("d", False, True, False, False, 1.0, ()),
    ]


def test_summary_keys_and_values() -> None:
    summary = MetricsAccumulator(outcomes()).summary()
    assert set(SUMMARY_KEYS) <= set(summary)
    assert set(summary) - set(SUMMARY_KEYS) == {
        "pointing_class_mean",
        "pointing_difficult",
        "pointing_difficult_class_mean",
    }
    assert summary["n"] == 4
    assert summary["cls_error_top1"] == 0.75
    assert summary["cls_error_top5"] == 0.25
    assert summary["loc_error_top1"] == 0.75
    assert summary["loc_error_top5"] == 0.5
    assert summary["loc_error_gt"] == pytest.approx(1 - 2.5 / 4)
    assert summary["pointing"] == 0.75  # 3 hits, 1 miss
    assert summary["pointing_class_mean"] == pytest.approx((2 / 3 + 1) / 2)
    assert summary["pointing_difficult"] == 0.5  # difficult trials: 1 miss (b), 1 hit (c)
    assert all(0.0 <= v <= 1.0 for k, v in summary.items() if k != "n")


def test_summary_without_difficult_or_unmeasured_values() -> None:
    plain = [ImageOutcome("x", loc_gt=1.0), ImageOutcome("y", loc_gt=0.0)]
    summary = MetricsAccumulator(plain).summary()
    assert set(summary) == {*SUMMARY_KEYS, "pointing_class_mean"}
    assert summary["loc_error_gt"] == 0.5
    assert summary["cls_error_top1"] is None and summary["pointing"] is None
    forced = MetricsAccumulator(plain, difficult_subset=True).summary()
    assert forced["pointing_difficult"] is None
    assert MetricsAccumulator().summary()["n"] == 0


def test_outcome_json_round_trip_and_resume() -> None:
    lines = [json.dumps(o.to_json()) for o in outcomes()]
    assert [ImageOutcome.from_json(json.loads(line)) for line in lines] == outcomes()
    resumed = MetricsAccumulator.from_json_lines(lines + lines[:2])  # two images written twice
    assert len(resumed) == 4
    assert resumed.summary() == MetricsAccumulator(outcomes()).summary()
    assert "b" in resumed and "z" not in resumed


@pytest.mark.parametrize(
    "line",
    [
        "{not json",
        '{"cls_top1": true}',
        '{"image_id": "a", "cls_top1": 1}',
        '{"image_id": "a", "loc_gt": 1.5}',
        '{"image_id": "a", "pointing": [{"class_index": 3}]}',
        '{"image_id": "a", "pointing": [3]}',
    ],
)
def test_outcome_from_bad_json(line: str) -> None:
    with pytest.raises(ThinkTwiceError):
        MetricsAccumulator.from_json_lines([line])


def test_evaluate_image_combines_everything() -> None:
    guesses = [(CAR, None), (CAT, CAT_BOX), (DOG, None)]
    outcome = evaluate_image(
        "img",
        OBJECTS,
        guesses=guesses,
        gt_guesses=[(CAT, CAT_BOX), (DOG, CAT_BOX)],
        pointing=[PointingTrial(CAT, True), None],
    )
    assert outcome == ImageOutcome(
        "img",
        cls_top1=False,
        cls_top5=True,
        loc_top1=False,
        loc_top5=True,
        loc_gt=0.5,
        pointing=(PointingTrial(CAT, True),),
    )
    assert evaluate_image("img", OBJECTS) == ImageOutcome("img")
