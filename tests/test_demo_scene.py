"""The demo's VOC scene: one photo with three classes, each mapped and boxed by two methods."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.patches import Rectangle

from thinktwice.cli.commands.demo import SCENE, scene_figure_file, scene_step
from thinktwice.evaluation.datasets import open_dataset
from thinktwice.evaluation.metrics.localization import gt_labels
from thinktwice.localization.boxes import Box
from thinktwice.visualization.scene import SceneCell, SceneRow, scene_figure

from .conftest import SHARED, require_shared

VOC2007 = SHARED / "datasets" / "voc2007"


def test_scene_figure_draws_the_truth_on_every_cell_and_each_method_box() -> None:
    image = np.full((60, 80, 3), 128, dtype=np.uint8)
    blob = np.zeros((60, 80), dtype=np.float32)
    blob[10:30, 10:40] = 1.0
    truth = [Box(10, 10, 39, 29)]
    rows = [
        SceneRow("cat", truth, [SceneCell("A", blob, Box(10, 10, 39, 29)), SceneCell("B", blob)]),
        SceneRow("dog", truth, [SceneCell("A", blob, Box(0, 0, 9, 9)), SceneCell("B", blob)]),
    ]
    figure = scene_figure(image, rows, title="t")
    patches = [p for ax in figure.axes for p in ax.patches if isinstance(p, Rectangle)]
    assert len(patches) == 2 * 3 + 2  # the truth on each of 3 cells per row, 2 method boxes
    notes = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert notes == ["IoU 1.00 ✓", "no box", "IoU 0.00", "no box"]


def test_the_scene_photo_has_three_classes_a_target_can_take() -> None:
    require_shared(VOC2007)
    dataset = open_dataset("voc2007", split="test")
    sample = dataset[dataset.image_ids.index(SCENE)]
    names = {o.names[0] for o in sample.objects if o.classes}
    assert len(gt_labels(sample.objects)) == 3 and names == {"cat", "chair", "diningtable"}


def test_the_scene_step_says_why_it_is_skipped(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("THINKTWICE_DATASETS", str(tmp_path))
    assert "the scene step is skipped" in scene_step(tmp_path, SCENE, None)


@pytest.mark.slow
def test_the_scene_figure_is_written(tmp_path: Path) -> None:
    require_shared(VOC2007)
    path = scene_figure_file(open_dataset("voc2007", split="test"), SCENE, tmp_path, "cpu")
    assert path.name == f"voc2007-{SCENE}__scene.png" and path.stat().st_size > 50_000
