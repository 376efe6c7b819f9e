"""Issue 18's figures and report page: each model's own probability, whole layer names, error
bars with their n and no colliding labels, a report header in words, and the pointing game's
point drawn where the map pointed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from thinktwice.evaluation.metrics.pointing import PointingTrial, map_to_image, max_point, play
from thinktwice.evaluation.reporting.html_report import report_data, settings_shown
from thinktwice.visualization import bar_chart, feedback_trace_figure, model_comparison_figure

from .browser import chromium, missing_browser, open_report
from .tiny_eval import manifest, run, tiny_imagenet_model


def _blob() -> np.ndarray:
    y, x = np.mgrid[0:12, 0:16] / 12.0
    return np.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2) / 0.05)


def _texts(figure) -> list[str]:
    return [t.get_text() for t in figure.findobj(lambda a: hasattr(a, "get_text"))]


def test_model_comparison_shows_each_models_own_probability():
    photo = np.zeros((48, 64, 3), np.uint8)
    models = [
        ("EfficientNet-Lite0", [("tiger cat (282)\np = 0.014%", _blob())]),
        ("EfficientNet-Lite1", [("tiger cat (282)\np = 0.059%", _blob())]),
    ]
    figure = model_comparison_figure(photo, models)
    titles = [ax.get_title() for ax in figure.axes if ax.images]
    assert "EfficientNet-Lite0\np = 0.014%" in titles
    assert "EfficientNet-Lite1\np = 0.059%" in titles
    heads = [sub._suptitle.get_text() for sub in figure.subfigs if sub._suptitle]
    assert "tiger cat (282)" in heads and not any("p = " in head for head in heads)


def test_the_trace_shows_whole_layer_names():
    names = [f"network.features.{i}.expand3x3_activation:in" for i in range(3)]
    figure = feedback_trace_figure([1.0, 2.0], np.ones((3, 2)), names)
    labels = [t.get_text() for t in figure.axes[1].get_yticklabels()]
    assert labels == [n.removeprefix("network.") for n in names]  # no "..." cut on the left
    long = ["network." + "x" * 70 + f"_{i}" for i in range(2)]
    cut = [t.get_text() for t in feedback_trace_figure([1.0], np.ones((2, 1)), long)
           .axes[1].get_yticklabels()]  # fmt: skip
    assert all(label.endswith(f"_{i}") and "\u2026" in label for i, label in enumerate(cut))


def test_bars_carry_their_n_and_interval_and_labels_never_collide():
    methods = ["gradient", "deconvnet", "guided_backprop", "gradcam", "feedback"]
    values = {m: {"loc_error_gt": 1.0, "pointing": 1.0} for m in methods}
    counts = {m: {"loc_error_gt": 8, "pointing": 8} for m in methods}
    figure = bar_chart(values, ["loc_error_gt", "pointing"], "run", counts=counts)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    for ax in figure.axes:
        assert ax.get_xlabel() in ("n = 8 images", "n = 8 trials")
        whiskers = [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]
        assert whiskers, "a 95% interval per bar"
        low = whiskers[0].lines[2][0].get_segments()[0][0][1]
        assert 0.6 < low < 0.7  # Wilson interval of 8/8: [0.68, 1]
        boxes = [t.get_window_extent(renderer) for t in ax.texts if t.get_text().endswith("%")]
        assert len(boxes) == len(methods)
        for i, first in enumerate(boxes):
            for second in boxes[i + 1 :]:
                assert not first.overlaps(second), "value labels collide"
    assert "100.0%" in _texts(figure)


def test_the_report_header_speaks_in_words():
    settings = {
        "format": 2,
        "dataset": "voc2007",
        "model": "efficientnet_lite0",
        "class_map": {"dog": list(range(151, 269)), "cat": [281, 282, 283, 284, 285]},
        "metrics": ["loc", "pointing"],
        "method_options": {"feedback": {"solver": "relaxed", "layers": 4,
                                        "kinds": ["activation", "pool"]}},
    }  # fmt: skip
    shown = settings_shown(settings)
    assert shown["class map"] == "2 dataset classes (cat, dog) scored as 123 ImageNet classes"
    assert shown["Feedback options"] == "solver relaxed, layers 4, kinds activation+pool"
    assert shown["model"] == "EfficientNet-Lite0" and shown["metrics"] == "loc, pointing"
    assert "format" not in shown
    assert not any("[" in text or "{" in text for text in shown.values())


def test_pointing_trials_keep_their_point_and_the_report_draws_it(tmp_path):
    smap = np.zeros((20, 20), np.float32)
    smap[15, 4] = 1.0
    from thinktwice.evaluation.datasets.base import GroundTruth
    from thinktwice.localization.boxes import Box

    objects = (GroundTruth(frozenset({1}), Box(0, 30, 10, 39)),)
    trial = play(smap, objects, 1, 40, 40)
    assert trial.point == max_point(map_to_image(smap, 40, 40)) == (8, 30) and trial.hit
    assert PointingTrial.from_json(trial.to_json()).point == (8, 30)
    assert "point" not in PointingTrial(1, True).to_json()  # older records keep their form

    data = manifest(tmp_path / "data", ["a.png", "b.png"])
    out = tmp_path / "out"
    run(tiny_imagenet_model(), data, out, methods=("gradient",))
    page = report_data(out)
    labels = [k for image in page.images for k in image.results["gradient"].per_label]
    assert all(k.point is not None and min(k.point) >= 0 and max(k.point) < 48 for k in labels)
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert all(r["pointing"][0]["point"] == k.point for r, k in zip(records, labels, strict=True))


def test_the_report_page_draws_the_point_and_a_short_header(tmp_path):
    why = missing_browser()
    if why:
        pytest.skip(why)
    from thinktwice.evaluation.reporting.html_report import write_html_report

    data = manifest(tmp_path / "data", ["a.png"])
    out = tmp_path / "out"
    run(tiny_imagenet_model(), data, out, methods=("gradient",))
    html = write_html_report(out)
    with chromium() as browser:
        page = open_report(browser, html)
        header = page.inner_text("header")
        legend = page.inner_text("#gallery .legend")
        drawn = page.evaluate(
            """() => {
              const canvas = document.querySelector('td[data-method="gradient"] canvas');
              const ctx = canvas.getContext('2d');
              const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
              let marks = 0;  // the point's colours: hit green or miss red
              for (let i = 0; i < d.length; i += 4) {
                const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
                const hit = r === 0x1a && g === 0x98 && b === 0x50;
                if (hit || (r === 0xd7 && g === 0x30 && b === 0x27)) marks++;
              }
              return marks;
            }"""
        )
        assert page.problems == []
    assert "where the map points" in legend
    assert drawn > 20, "the point and its circle are drawn on the map"
    assert len(header.splitlines()) < 15 and "format" not in header
