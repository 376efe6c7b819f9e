"""Metrics: hand-computed localization and classification cases, outcomes and the summary
(the pointing game is in test_pointing.py, deletion/insertion in test_faithfulness.py)."""

from __future__ import annotations

import json

import pytest

from thinktwice.errors import ThinkTwiceError
from thinktwice.evaluation.datasets import GroundTruth
from thinktwice.evaluation.metrics.localization import (
    SUMMARY_KEYS,
    ImageOutcome,
    MetricsAccumulator,
    PointingTrial,
    cls_correct,
    evaluate_image,
    loc_correct,
    loc_gt_score,
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


# --- outcomes, summary, JSON -------------------------------------------------------------------


def outcomes() -> list[ImageOutcome]:
    return [
        ImageOutcome(
            "a", True, True, True, True, 1.0, (PointingTrial(CAT, True),), insertion_auc=0.9
        ),
        ImageOutcome(
            "b",
            False,
            True,
            False,
            True,
            0.0,
            (PointingTrial(CAT, False, True),),
            insertion_auc=0.5,
        ),
        ImageOutcome(
            "c",
            False,
            False,
            False,
            False,
            0.5,
            (PointingTrial(DOG, True, True, small=True), PointingTrial(CAT, True)),
        ),
        ImageOutcome("d", False, True, False, False, 1.0, ()),
    ]


def test_summary_keys_and_values() -> None:
    summary = MetricsAccumulator(outcomes()).summary()
    assert set(SUMMARY_KEYS) <= set(summary)
    assert set(summary) - set(SUMMARY_KEYS) == {
        "loc_error_pairs",
        "loc_pairs",
        "pointing_class_mean",
        "pointing_trials",
        "pointing_difficult",
        "pointing_difficult_class_mean",
        "pointing_difficult_trials",
        "pointing_small",
        "pointing_small_class_mean",
        "pointing_small_trials",
        "deletion_auc",
        "insertion_auc",
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
    assert summary["pointing_trials"] == 4 and summary["pointing_difficult_trials"] == 2
    assert summary["pointing_small"] == 1.0 and summary["pointing_small_trials"] == 1  # c's dog
    assert summary["deletion_auc"] is None and summary["insertion_auc"] == pytest.approx(0.7)
    counts = {"n", "loc_pairs"}
    fractions = {k: v for k, v in summary.items() if k not in counts and not k.endswith("_trials")}
    assert all(v is None or 0.0 <= v <= 1.0 for v in fractions.values())


def test_loc_error_per_pair_weighs_each_photo_by_its_labels() -> None:
    """A photo with three classes, two localized, and a photo with one class, missed: per
    image (the devkit) 1 - (2/3 + 0) / 2; per (photo, class) pair 1 - 2 / 4."""
    three = ImageOutcome("a", loc_gt=2 / 3, loc_gt_labels=3)
    one = ImageOutcome("b", loc_gt=0.0, loc_gt_labels=1)
    summary = MetricsAccumulator([three, one]).summary()
    assert summary["loc_error_gt"] == pytest.approx(1 - (2 / 3) / 2)
    assert summary["loc_error_pairs"] == pytest.approx(0.5)
    assert summary["loc_pairs"] == 4  # the count the chart shows beside the per-pair error
    assert ImageOutcome.from_json(three.to_json()) == three
    # a record without its label count (an older run) gives no per-pair error, not a wrong one
    assert (
        MetricsAccumulator([three, ImageOutcome("c", loc_gt=1.0)]).summary()["loc_error_pairs"]
        is None
    )
    with pytest.raises(ThinkTwiceError, match="positive"):
        ImageOutcome.from_json({"image_id": "a", "loc_gt": 1.0, "loc_gt_labels": 0})


def test_summary_without_difficult_or_unmeasured_values() -> None:
    plain = [ImageOutcome("x", loc_gt=1.0), ImageOutcome("y", loc_gt=0.0)]
    summary = MetricsAccumulator(plain).summary()
    assert summary["loc_error_gt"] == 0.5
    assert summary["cls_error_top1"] is None and summary["pointing"] is None
    assert summary["pointing_difficult"] is None and summary["pointing_difficult_trials"] == 0
    assert summary["deletion_auc"] is None
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
        '{"image_id": "a", "deletion_auc": -0.1}',
        '{"image_id": "a", "insertion_auc": "high"}',
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
        loc_gt_labels=2,
    )
    assert evaluate_image("img", OBJECTS) == ImageOutcome("img")


def test_evaluate_image_without_boxes_still_classifies_and_keeps_aucs() -> None:
    outcome = evaluate_image("img", OBJECTS, ranked=[CAR, CAT], faithfulness={"deletion_auc": 0.25})
    assert (outcome.cls_top1, outcome.cls_top5) == (False, True)
    assert outcome.loc_top1 is None and outcome.loc_gt is None
    assert outcome.deletion_auc == 0.25 and outcome.insertion_auc is None
    with pytest.raises(ValueError, match="unknown faithfulness key"):
        evaluate_image("img", OBJECTS, faithfulness={"road": 0.1})
