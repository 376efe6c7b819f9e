"""The pointing game, checked against TorchRay's rules (evaluation/metrics/pointing.py)."""

from __future__ import annotations

import numpy as np
import pytest

from thinktwice.evaluation.datasets import GroundTruth, open_dataset
from thinktwice.evaluation.metrics.localization import ImageOutcome, MetricsAccumulator
from thinktwice.evaluation.metrics.pointing import (
    PointingGame,
    PointingTrial,
    ebp_difficult,
    map_to_image,
    max_point,
    play,
    point_hit,
    pointing_boxes,
    pointing_hit,
    pointing_trial,
    small_object,
)
from thinktwice.localization.boxes import Box

from .conftest import SHARED, require_shared

CAT, DOG, CAR = 281, 207, 817
CAT_BOX = Box(10, 10, 19, 19)
DOG_BOX = Box(50, 50, 89, 69)


def truth(classes: set[int], box: Box, difficult: bool = False) -> GroundTruth:
    return GroundTruth(classes=frozenset(classes), box=box, difficult=difficult)


OBJECTS = (truth({CAT, 282}, CAT_BOX), truth({DOG}, DOG_BOX))


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


def test_ebp_distractors_are_non_difficult_objects_of_another_class() -> None:
    """A distractor marked difficult does not make a pair difficult (TorchRay's shipped flags:
    VOC07 000658, a small sofa beside a difficult cat, is flagged 0); an object with no
    ImageNet class (a VOC person) is a distractor like any other."""
    small_cat = truth({CAT}, Box(0, 0, 9, 9))
    assert not ebp_difficult((small_cat, truth({DOG}, Box(0, 0, 99, 99), True)), CAT, 100, 100)
    assert ebp_difficult((small_cat, truth(set(), Box(50, 50, 99, 99))), CAT, 100, 100)
    # another cat, difficult or not, is never a distractor of the cat
    assert not ebp_difficult((small_cat, truth({CAT}, Box(50, 50, 59, 59))), CAT, 100, 100)


# TorchRay's EBP flags (torchray/benchmark/pointing_game_ebp_voc07_difficult.txt, commit 6a198ee)
# for the 33 photos of the shared voc2007 test split among the file's first 1,320 ids: the
# (photo, class) pairs flagged 1; every other pair of these photos is flagged 0.
TORCHRAY_FLAGGED = {
    "000280": {"bottle", "person"}, "000369": {"bottle"}, "000449": {"person"},
    "000536": {"person"}, "000587": {"bottle"}, "000606": {"bottle"}, "000655": {"person"},
    "000666": {"person"}, "000723": {"person"},
}  # fmt: skip
TORCHRAY_CHECKED = [
    "000062", "000175", "000204", "000223", "000277", "000280", "000299", "000345", "000369",
    "000378", "000399", "000413", "000449", "000481", "000512", "000536", "000587", "000606",
    "000655", "000658", "000665", "000666", "000723", "000773", "000803", "000893", "000938",
    "000939", "000952", "001019", "001216", "001283", "001318",
]  # fmt: skip
VOC_CLASSES = [
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
]  # fmt: skip


def test_ebp_difficult_matches_torchrays_shipped_voc07_flags() -> None:
    """Every VOC class (person too) given its own index: each trial TorchRay plays on these
    photos is flagged difficult exactly when its file says so."""
    require_shared(SHARED / "datasets" / "voc2007")
    class_map = {name: [index] for index, name in enumerate(VOC_CLASSES)}
    dataset = open_dataset("voc2007", split="test", class_map=class_map)
    position = {image_id: i for i, image_id in enumerate(dataset.image_ids)}
    checked = 0
    for image_id in TORCHRAY_CHECKED:
        sample = dataset[position[image_id]]
        for index, name in enumerate(VOC_CLASSES):
            if pointing_boxes(sample.objects, index) is None:
                continue  # absent, or only difficult boxes: TorchRay plays no trial
            flagged = ebp_difficult(sample.objects, index, sample.width, sample.height)
            assert flagged == (name in TORCHRAY_FLAGGED.get(image_id, set())), (image_id, name)
            checked += 1
    assert checked >= 40


def test_pointing_game_accuracies() -> None:
    game = PointingGame()
    for class_index, hit in [(1, True), (1, True), (1, False), (2, False)]:
        game.add(class_index, hit)
    assert (game.hits, game.misses) == (2, 2)
    assert game.accuracy == 0.5
    assert game.class_mean_accuracy == pytest.approx((2 / 3 + 0) / 2)
    assert PointingGame().accuracy is None


# --- the map on the image: TorchRay's resize -----------------------------------------------------


def test_map_is_resized_bilinear_with_half_pixel_centres_and_no_antialiasing() -> None:
    """F.interpolate(bilinear, align_corners=False) shrinking 4x samples each output pixel at
    source position 4i + 1.5: the mean of the two middle source pixels on each axis (an area
    average would take all 16)."""
    rng = np.random.default_rng(0)
    saliency = rng.random((224, 224)).astype(np.float32)
    shrunk = map_to_image(saliency, 56, 56)
    middle = saliency.reshape(56, 4, 56, 4)[:, 1:3, :, 1:3].mean(axis=(1, 3))
    np.testing.assert_allclose(shrunk, middle, rtol=1e-5, atol=1e-6)
    assert not np.allclose(shrunk, saliency.reshape(56, 4, 56, 4).mean(axis=(1, 3)), atol=1e-3)
    # a peak on a pixel the 4x shrink does not sample does not survive: the point moves
    peaked = np.zeros((224, 224), dtype=np.float32)
    peaked[0, 0], peaked[101, 101] = 1.0, 0.5
    assert max_point(map_to_image(peaked, 56, 56)) == (25, 25)
    np.testing.assert_array_equal(map_to_image(saliency, 224, 224), saliency)


def test_enlarged_map_keeps_values_between_pixel_centres() -> None:
    """Enlarging 2x with half-pixel centres: output x maps to source (x + 0.5) / 2 - 0.5,
    clamped at the border (so the first two and last two columns repeat the edge)."""
    ramp = np.tile(np.arange(4, dtype=np.float32), (4, 1))  # columns 0, 1, 2, 3
    wide = map_to_image(ramp, 8, 4)
    np.testing.assert_allclose(wide[0], [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3])


def test_small_and_ebp_difficult_subsets() -> None:
    small_cat, big_dog = truth({CAT}, Box(0, 0, 9, 9)), truth({DOG}, Box(0, 0, 99, 99))
    assert small_object((small_cat, big_dog), CAT, 100, 100)
    assert not small_object((small_cat, big_dog), DOG, 100, 100)
    assert small_object((small_cat,), CAT, 100, 100)  # small needs no distractor
    assert not ebp_difficult((small_cat,), CAT, 100, 100)  # EBP-difficult does
    two_cats = (truth({CAT}, Box(0, 0, 39, 39)), truth({CAT}, Box(20, 20, 59, 59)))
    # union of the boxes: 1600 + 1600 - 400 = 2800 px of 10,000 -> not small; the sum would be
    assert not small_object(two_cats, CAT, 100, 100)


def test_play_resizes_and_flags_a_trial() -> None:
    saliency = np.zeros((224, 224), dtype=np.float32)
    saliency[30, 30] = 1.0  # near the small cat once the map is stretched onto 120 x 100
    objects = (truth({CAT}, Box(10, 10, 19, 19)), truth({DOG}, Box(0, 0, 119, 99)))
    trial = play(saliency, objects, CAT, 120, 100)
    assert trial == PointingTrial(CAT, hit=True, difficult=True, small=True)
    assert play(saliency, objects, CAR, 120, 100) is None
    assert PointingTrial.from_json(trial.to_json()) == trial
    assert PointingTrial.from_json({"class_index": 3, "hit": False}).small is False


def test_imagenet_val_has_no_ebp_difficult_pair_but_small_objects() -> None:
    """ILSVRC val images hold one class each, so the EBP subset (which needs a second class)
    is empty on imagenet-val-1000; the small-object subset is not."""
    require_shared(SHARED / "datasets" / "imagenet-val-1000")
    dataset = open_dataset("imagenet-val-1000", split="dev")
    difficult = small = 0
    for sample in dataset:
        for label in {obj.classes for obj in sample.objects}:
            c = min(label)
            difficult += ebp_difficult(sample.objects, c, sample.width, sample.height)
            small += small_object(sample.objects, c, sample.width, sample.height)
    assert difficult == 0
    assert 0 < small < len(dataset)


def test_class_mean_groups_trials_by_ground_truth_label_not_by_imagenet_class() -> None:
    """TorchRay averages over VOC's classes: a label mapped to several ImageNet classes is one
    class of the mean whichever of its classes the model ranked best in each photo."""
    dogs = frozenset({151, 152, 153})  # one VOC label, three accepted ImageNet classes
    cars = frozenset({436})
    saliency = np.zeros((100, 100), dtype=np.float32)
    saliency[5, 5] = 1.0  # inside the dog, outside the car
    objects = (truth(dogs, Box(0, 0, 20, 20)), truth(cars, Box(50, 50, 99, 99)))
    trials = [play(saliency, objects, c, 100, 100) for c in (152, 153, 436)]
    assert [t.label for t in trials] == [151, 151, 436]
    assert PointingTrial.from_json(trials[0].to_json()).label == 151
    outcome = ImageOutcome("a", pointing=tuple(trials))
    summary = MetricsAccumulator([outcome]).summary()
    assert summary["pointing"] == pytest.approx(2 / 3)
    # two labels (dog: 2 of 2 hits, car: 0 of 1), not three ImageNet classes
    assert summary["pointing_class_mean"] == pytest.approx(0.5)
    ungrouped = PointingTrial.from_json({"class_index": 7, "hit": True})
    assert ungrouped.label is None and ungrouped.label_key == 7
