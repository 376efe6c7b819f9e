"""How fast the HTML report of a big run opens in a browser, and what it costs to write.

Makes synthetic run folders (no model: tests/synthetic_run.py) of a small and a
large number of images x 5 methods, writes each report, then opens each in
headless Chromium several times, alternating, and prints per run: the file size,
the seconds to write it, and the browser's times from navigation start (the file
read, the embedded data parsed, the first page of the gallery drawn), with the
first-render ratio large/small. It also times what storing the maps adds to an
evaluation: ``MapsStore.record`` of one 224x224 map and a 227x227 photo per
(image, method), as the runner calls it, durable (fsync) and, side by side,
without fsync.

    .venv/bin/python benchmarks/bench_report.py [--images 5000] [--small 500] [--loads 5]

Target: a 5,000-image x 5-method run opens (first gallery page drawn) in under 3 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from unittest import mock

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from tests.browser import chromium, missing_browser, open_report  # noqa: E402
from tests.synthetic_run import make_synthetic_run  # noqa: E402

from thinktwice.evaluation.datasets.base import GroundTruth, Sample  # noqa: E402
from thinktwice.evaluation.reporting.html_report import write_html_report  # noqa: E402
from thinktwice.evaluation.run.maps_store import MapsStore  # noqa: E402
from thinktwice.localization.boxes import Box  # noqa: E402

TARGET_MS = 3000
PHASES = (
    ("file read", "performance.getEntriesByType('navigation')[0].responseEnd"),
    ("data parsed", "window.thinktwiceReport.dataParsed"),
    ("first render", "window.thinktwiceReport.firstRender"),
)


def build(folder: Path, images: int) -> tuple[Path, float, float, float]:
    """The report of a synthetic run, seconds to make the run and to write the report, MB."""
    started = time.perf_counter()
    run = make_synthetic_run(folder, images=images)
    made = time.perf_counter() - started
    started = time.perf_counter()
    html = write_html_report(run)
    return html, made, time.perf_counter() - started, html.stat().st_size / 1e6


def store_cost(records: int = 250) -> dict[str, float]:
    """Milliseconds per ``MapsStore.record`` call, with and without fsync, alternating."""
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, size=(227, 227, 3), dtype=np.uint8)
    maps = {5: rng.normal(size=(224, 224)).astype(np.float32)}
    objects = (GroundTruth(frozenset({5}), Box(10, 10, 200, 200)),)
    methods = ("gradient", "deconvnet", "guided_backprop", "gradcam", "feedback")
    spent = {"durable": 0.0, "no fsync": 0.0}
    with tempfile.TemporaryDirectory(dir=PROJECT_ROOT) as scratch:
        for number in range(records // len(methods)):
            for kind in spent:
                store = MapsStore(Path(scratch) / kind)
                sample = Sample(f"img{number}", Path("x.jpg"), 227, 227, objects)
                skip_sync = mock.patch("os.fsync") if kind == "no fsync" else nullcontext()
                with skip_sync:
                    started = time.perf_counter()
                    for method in methods:
                        store.record(method, sample, photo, maps, [5])
                    spent[kind] += time.perf_counter() - started
    return {kind: 1000 * seconds / records for kind, seconds in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    if reason := missing_browser():
        raise SystemExit(reason)
    with tempfile.TemporaryDirectory() as scratch:
        sizes = (args.small, args.images)
        reports = {n: build(Path(scratch) / f"run{n}", n) for n in sizes}
        times: dict[int, dict[str, list[float]]] = {n: {p: [] for p, _ in PHASES} for n in sizes}
        with chromium() as browser:
            for _ in range(args.loads):
                for n in sizes:
                    page = open_report(browser, reports[n][0])
                    if page.problems:
                        raise SystemExit(f"the page reported problems: {page.problems}")
                    for phase, expression in PHASES:
                        times[n][phase].append(page.evaluate(expression))
                    page.close()
    print(f"{'images x 5':>10} | {'MB':>5} | {'make run s':>10} | {'write s':>7} | "
          + " | ".join(f"{p} ms (median, max)" for p, _ in PHASES))  # fmt: skip
    for n in sizes:
        _, made, written, megabytes = reports[n]
        cells = [f"{statistics.median(v):7.0f}, {max(v):5.0f}" for v in times[n].values()]
        print(f"{n:>10} | {megabytes:5.1f} | {made:10.1f} | {written:7.1f} | "
              + " | ".join(f"{c:>24}" for c in cells))  # fmt: skip
    large = statistics.median(times[args.images]["first render"])
    small = statistics.median(times[args.small]["first render"])
    print(
        f"first render, {args.images} over {args.small} images: {large / small:.2f}x; "
        f"{args.images} images: {large:.0f} ms median = {large / TARGET_MS:.2f} of the "
        f"{TARGET_MS} ms target ({'met' if large < TARGET_MS else 'NOT met'})"
    )
    cost = store_cost()
    print(
        f"maps store: {cost['durable']:.1f} ms per (image, method) record, "
        f"{cost['no fsync']:.1f} ms without fsync ({cost['durable'] / cost['no fsync']:.1f}x)"
    )


if __name__ == "__main__":
    main()
