"""Ideas for a faster GrabCut box, each side by side with the paper's on the same maps.

The maps are bench_grabcut's (every method's map of each ground-truth label, imagenet-val-1000
dev photos at 512 px and VOC 2007 dev photos), made once and kept in ``--maps`` (a pickle,
outside the repository). Each map runs the paper's GrabCut and every idea back to back in one
worker, the order rotating (every photo is at most 512 px, eval's default ``max_side``); one
JSON line per map is appended to ``--out`` as it finishes (a run can be stopped and
summarised), and ``--summary`` prints speed-up (sum of the paper's seconds / sum of the
idea's, on the same maps) and the share of IoU >= 0.5 verdicts kept.

    .venv/bin/python benchmarks/grabcut_ideas.py --maps /tmp/gc/jobs.pkl --out ideas.jsonl \\
        [--imagenet 40 --voc 25] [--ideas banded_b8,coarse128_full1,...] [--workers 2]
    (``--ideas per_iteration``: the paper's GrabCut timed and judged after each iteration)
    .venv/bin/python benchmarks/grabcut_ideas.py --out ideas.jsonl --summary
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np


def coarse_then_full(photo: np.ndarray, smap: np.ndarray, side: int, full: int):
    """All 5 iterations on a copy ``side`` px long, then ``full`` plain ones at full size
    (``full`` = 1, side 128 is ``--box grabcut_coarse``)."""
    from thinktwice.localization import coarse_grabcut_box

    return coarse_grabcut_box(photo, smap, coarse_side=side, refine=full)


def coarse_full_banded(photo: np.ndarray, smap: np.ndarray, side: int, bands: int, band: int):
    """``grabcut_coarse`` (side px), then ``bands`` banded full-size iterations."""
    import cv2

    from thinktwice.localization.coarse_grabcut import _refined_start
    from thinktwice.localization.grabcut import (
        GRABCUT_SEED,
        box_in_photo,
        grabcut_seeds,
        seeded,
        shrunk,
    )
    from thinktwice.localization.result import to_image_size

    height, width = photo.shape[:2]
    seeds = grabcut_seeds(to_image_size(smap, width, height))
    bgr = cv2.cvtColor(photo, cv2.COLOR_RGB2BGR)
    small = shrunk(bgr, side)
    coarse = grabcut_seeds(to_image_size(smap, small.shape[1], small.shape[0]))
    if not (seeded(seeds) and seeded(coarse)):
        return None
    models = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(GRABCUT_SEED)
    cv2.grabCut(small, coarse, None, *models, 5, cv2.GC_INIT_WITH_MASK)
    mask = _refined_start(coarse, seeds)
    cv2.grabCut(bgr, mask, None, *models, 1, cv2.GC_EVAL)
    labels = banded_iterations(bgr, seeds, (mask & 1).astype(np.uint8), models, bands, band)
    return box_in_photo(labels.astype(bool), width, height)


def band_mask(seeds: np.ndarray, labels: np.ndarray, band: int) -> np.ndarray:
    """GrabCut's mask for one banded iteration: probable labels (from ``labels``) within
    ``band`` px of the foreground's boundary, definite ones elsewhere, the seeds' definite
    pixels kept (so the max-flow only works near the boundary)."""
    import cv2

    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    near = cv2.dilate(labels, disk) != cv2.erode(labels, disk)
    mask = np.where(labels, cv2.GC_FGD, cv2.GC_BGD).astype(np.uint8)
    mask[near] = np.where(labels[near], cv2.GC_PR_FGD, cv2.GC_PR_BGD)
    hard = (seeds == cv2.GC_BGD) | (seeds == cv2.GC_FGD)
    mask[hard] = seeds[hard]
    return mask


def banded_iterations(bgr, seeds, labels, models, count: int, band: int) -> np.ndarray:
    """Up to ``count`` GrabCut iterations (colour models from every pixel) whose cut only
    moves pixels within ``band`` px of the boundary; stops once no label changes."""
    import cv2

    for _ in range(count):
        cut = band_mask(seeds, labels, band)
        cv2.grabCut(bgr, cut, None, *models, 1, cv2.GC_EVAL)
        new = (cut & 1).astype(np.uint8)
        if np.array_equal(new, labels):
            break
        labels = new
    return labels


def paper(photo: np.ndarray, smap: np.ndarray, iterations: int = 5):
    from thinktwice.localization import grabcut_box

    return grabcut_box(photo, smap, iterations=iterations)


def banded(photo: np.ndarray, smap: np.ndarray, band: int):
    """The paper's first iteration (whole photo), then 4 banded ones (``band`` px)."""
    import cv2

    from thinktwice.localization.grabcut import GRABCUT_SEED, box_in_photo, grabcut_seeds, seeded
    from thinktwice.localization.result import to_image_size

    height, width = photo.shape[:2]
    seeds = grabcut_seeds(to_image_size(smap, width, height))
    if not seeded(seeds):
        return None
    bgr = cv2.cvtColor(photo, cv2.COLOR_RGB2BGR)
    models = np.zeros((1, 65)), np.zeros((1, 65))
    mask = seeds.copy()
    cv2.setRNGSeed(GRABCUT_SEED)
    cv2.grabCut(bgr, mask, None, *models, 1, cv2.GC_INIT_WITH_MASK)
    labels = banded_iterations(bgr, seeds, (mask & 1).astype(np.uint8), models, 4, band)
    return box_in_photo(labels.astype(bool), width, height)


IDEAS: dict[str, Callable] = {
    "paper": paper,
    "paper_2_iterations": lambda p, s: paper(p, s, 2),
    "coarse128_full1": lambda p, s: coarse_then_full(p, s, 128, 1),
    "coarse128_full2": lambda p, s: coarse_then_full(p, s, 128, 2),
    "coarse192_full1": lambda p, s: coarse_then_full(p, s, 192, 1),
    "coarse256_full1": lambda p, s: coarse_then_full(p, s, 256, 1),
    "coarse128_full1_band8x2": lambda p, s: coarse_full_banded(p, s, 128, 2, 8),
    "banded_b8": lambda p, s: banded(p, s, 8),
    "banded_b4": lambda p, s: banded(p, s, 4),
    "banded_b16": lambda p, s: banded(p, s, 16),
}


def one_map(index: int, job: dict, ideas: list[str]) -> dict:
    """Verdict, seconds and box of the paper's GrabCut and each idea on one map."""
    import cv2

    from thinktwice.localization import iou

    cv2.setNumThreads(1)
    names = ["paper", *[n for n in ideas if n != "paper"]]
    shift = index % len(names)
    out: dict = {"i": index, "method": job["method"], "source": job["source"]}
    for name in names[shift:] + names[:shift]:
        started = time.perf_counter()
        found = IDEAS[name](job["photo"], job["map"])
        seconds = time.perf_counter() - started
        box = None if found is None else found.box
        right = box is not None and any(iou(box, t) >= 0.5 for t in job["truths"])
        out[name] = [right, seconds, None if box is None else [box.x0, box.y0, box.x1, box.y1]]
    return out


def per_iteration(index: int, job: dict) -> dict:
    """The paper's GrabCut one iteration per call (the same boxes as one 5-iteration call):
    seconds of the k-means start and of each iteration, verdict after each, whether the
    mask changed."""
    import cv2

    from thinktwice.localization import iou
    from thinktwice.localization.grabcut import GRABCUT_SEED, box_in_photo, grabcut_seeds
    from thinktwice.localization.result import to_image_size

    cv2.setNumThreads(1)
    photo = job["photo"]
    height, width = photo.shape[:2]
    mask = grabcut_seeds(to_image_size(job["map"], width, height))
    bgr = cv2.cvtColor(photo, cv2.COLOR_RGB2BGR)
    models = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(GRABCUT_SEED)
    started = time.perf_counter()
    cv2.grabCut(bgr, mask, None, *models, 0, cv2.GC_INIT_WITH_MASK)
    out: dict = {"i": index, "method": job["method"], "start": time.perf_counter() - started}
    out.update(seconds=[], right=[], changed=[])
    for _ in range(5):
        before = mask & 1
        started = time.perf_counter()
        cv2.grabCut(bgr, mask, None, *models, 1, cv2.GC_EVAL)
        out["seconds"].append(time.perf_counter() - started)
        box = box_in_photo((mask & 1).astype(bool), width, height).box
        out["right"].append(box is not None and any(iou(box, t) >= 0.5 for t in job["truths"]))
        out["changed"].append(float(np.mean(before != (mask & 1))))
    return out


def iteration_summary(out: Path) -> None:
    """Stopping the paper's GrabCut after k iterations, or once a mask stops changing."""
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    total = sum(r["start"] + sum(r["seconds"]) for r in rows)
    print("| rule | n | speed-up | verdicts kept |\n|---|---:|---:|---:|")
    for k in range(1, 5):
        spent = sum(r["start"] + sum(r["seconds"][:k]) for r in rows)
        kept = np.mean([r["right"][k - 1] == r["right"][4] for r in rows])
        print(f"| paper's, {k} iteration(s) | {len(rows)} | {total / spent:.2f}x | {kept:.1%} |")
    stops = [next((k + 1 for k in range(1, 5) if r["changed"][k] == 0), 5) for r in rows]
    spent = sum(r["start"] + sum(r["seconds"][:k]) for r, k in zip(rows, stops, strict=True))
    kept = np.mean([r["right"][k - 1] == r["right"][4] for r, k in zip(rows, stops, strict=True)])
    print(f"| early stop (no label changed) | {len(rows)} | {total / spent:.2f}x | {kept:.1%} |")


def run(maps: Path, out: Path, ideas: list[str], workers: int, imagenet: int, voc: int) -> None:
    """Make (or read) the maps, then append one line per map to ``out`` as maps finish."""
    if not maps.exists():
        from bench_grabcut import maps_of

        pickle.dump(maps_of(imagenet, voc), maps.open("wb"))
    jobs = pickle.loads(maps.read_bytes())
    order = list(range(len(jobs)))
    random.Random(0).shuffle(order)  # a stopped run still covers every method and source
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool, out.open("a") as f:
        futures = [
            pool.submit(per_iteration, i, jobs[i]) if ideas == ["per_iteration"]
            else pool.submit(one_map, i, jobs[i], ideas)
            for i in order
        ]  # fmt: skip
        for future in as_completed(futures):
            f.write(json.dumps(future.result()) + "\n")
            f.flush()


SMOOTH = ("gradcam", "feedback")


def summary(out: Path) -> None:
    """Per idea: maps, speed-up over the paper's GrabCut, verdicts kept (all maps, and the
    smooth Grad-CAM / feedback maps)."""
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    ideas = sorted({k for r in rows for k in r} - {"i", "method", "source", "paper"})
    print("| idea | n | speed-up | verdicts kept | kept, gradcam+feedback |")
    print("|---|---:|---:|---:|---:|")
    for idea in ideas:
        group = [r for r in rows if idea in r]
        speed = sum(r["paper"][1] for r in group) / sum(r[idea][1] for r in group)
        kept = np.mean([r[idea][0] == r["paper"][0] for r in group])
        smooth = [r[idea][0] == r["paper"][0] for r in group if r["method"] in SMOOTH]
        print(f"| {idea} | {len(group)} | {speed:.2f}x | {kept:.1%} | {np.mean(smooth):.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=Path, default=Path("/tmp/grabcut_maps.pkl"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ideas", default="banded_b8,coarse128_full1")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--imagenet", type=int, default=40)
    parser.add_argument("--voc", type=int, default=25)
    parser.add_argument("--summary", action="store_true")
    args = parser.parse_args()
    if args.summary:
        first = json.loads(args.out.read_text().splitlines()[0])
        (iteration_summary if "changed" in first else summary)(args.out)
        return
    run(args.maps, args.out, args.ideas.split(","), args.workers, args.imagenet, args.voc)


if __name__ == "__main__":
    main()
