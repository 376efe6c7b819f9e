"""The paper's GrabCut box four ways, side by side on the same maps: cv2.grabCut, the warm
engine (``localization/graph_cut``, the default where PyMaxflow is installed), the coarse-to-fine
version, and the warm engine on a copy at half eval's ``max_side``.

Maps: every method's map of each ground-truth label (EfficientNet-Lite0, default options) on
imagenet-val-1000 dev photos upscaled to 512x512 (bicubic, boxes scaled: what
``bench_eval --photo-size 512`` evaluates) and on VOC 2007 dev photos (about 500x375
originals, ``--class-map`` classes). For each map the four rules run back to back in the same
worker process (the order rotating), at eval's default ``max_side``; printed: each rule's time
ratio against cv2.grabCut, the share of its IoU >= 0.5 verdicts that are cv2.grabCut's, per
method and over all maps, and the share of identical boxes. Workers split the maps
(``--workers``, default 2).

    .venv/bin/python benchmarks/bench_grabcut.py [--imagenet 40] [--voc 25] [--workers 2]

Targets (issue 17): >= 4x faster per map than cv2.grabCut with >= 99% of its verdicts kept
(>= 300 maps).
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

METHODS = ("gradient", "deconvnet", "guided_backprop", "gradcam", "feedback")
VOC = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "voc2007"


def photos(imagenet: int, voc: int):
    """(source, sample-like objects, photo array, boxes by class) of the benchmark photos."""
    from PIL import Image

    from thinktwice.evaluation.datasets import open_dataset
    from thinktwice.io import load_image

    dataset = open_dataset("imagenet-val-1000", split="dev")
    for index in range(min(imagenet, len(dataset))):
        sample = dataset[index]
        photo = load_image(sample.path).resize((512, 512), Image.Resampling.BICUBIC)
        sx, sy = 512 / sample.width, 512 / sample.height
        boxes = [(o.classes, o.box.scale(sx, sy).clip(512, 512)) for o in sample.objects]
        yield "imagenet-512", sample, photo, boxes
    class_map = json.loads((VOC / "imagenet_class_map.json").read_text())
    dataset = open_dataset(VOC, split="dev", class_map=class_map)
    taken = 0
    for index in range(len(dataset)):
        if taken >= voc:
            break
        sample = dataset[index]
        if sample.classes:
            taken += 1
            yield "voc2007", sample, load_image(sample.path), [(o.classes, o.box) for o in
                                                                sample.objects]  # fmt: skip


def maps_of(imagenet: int, voc: int) -> list[dict]:
    """Every method's map of each ground-truth label's representative class."""
    import torch

    import thinktwice
    from thinktwice.attribution import METHODS as ALL
    from thinktwice.evaluation.run.runner import classes_to_explain

    model = thinktwice.load_model()
    methods = {name: ALL[name](model) for name in METHODS}
    jobs = []
    for source, sample, photo, boxes in photos(imagenet, voc):
        x = model.preprocess(photo)[None]
        with torch.no_grad():
            ranked = model(x).topk(5, dim=1).indices[0].tolist()
        _, representatives = classes_to_explain(sample, ranked)
        array = np.asarray(photo.convert("RGB"))
        for name, method in methods.items():
            rows = x.repeat(len(representatives), 1, 1, 1)
            found = method.attribute(rows, torch.tensor(representatives)).saliency.numpy()
            for smap, c in zip(found, representatives, strict=True):
                truths = [b for classes, b in boxes if c in classes]
                jobs.append({"source": source, "method": name, "photo": array, "map": smap,
                             "truths": truths})  # fmt: skip
    return jobs


#: rule name -> its label; "opencv" is the reference the others are measured against.
RULES = {
    "opencv": "cv2.grabCut",
    "warm": "warm GrabCut (the default)",
    "coarse": "coarse GrabCut (--box grabcut_coarse)",
    "half": "warm GrabCut on a copy at half max_side (--max-side 256)",
}
OTHERS = [name for name in RULES if name != "opencv"]


def every_box(job: dict, order: int) -> dict:
    """Each rule's verdict and seconds on one map (run back to back, the order rotating)."""
    from functools import partial

    import cv2

    from thinktwice.localization import coarse_grabcut_box, grabcut_box, iou
    from thinktwice.options import DEFAULT_MAX_SIDE

    cv2.setNumThreads(1)
    side = DEFAULT_MAX_SIDE
    rules = {
        "opencv": partial(grabcut_box, engine="opencv", max_side=side),
        "warm": partial(grabcut_box, engine="warm", max_side=side),
        "coarse": partial(coarse_grabcut_box, max_side=side),
        "half": partial(grabcut_box, engine="warm", max_side=side // 2),
    }
    names = [list(RULES)[(order + k) % len(RULES)] for k in range(len(RULES))]
    out = {"source": job["source"], "method": job["method"]}
    for name in names:
        started = time.perf_counter()
        found = rules[name](job["photo"], job["map"])
        out[f"{name}_seconds"] = time.perf_counter() - started
        out[name] = found.box is not None and any(iou(found.box, t) >= 0.5 for t in job["truths"])
        box = found.box
        out[f"{name}_box"] = None if box is None else [box.x0, box.y0, box.x1, box.y1]
    return out


def report(results: list[dict]) -> dict[str, dict[str, float]]:
    """Print the table (each rule against cv2.grabCut) and return the ratios over all maps."""
    rows = {}
    for r in results:
        for key in (r["method"], r["source"], "all maps"):
            rows.setdefault(key, []).append(r)
    header = "| maps | n | cv2.grabCut s/map |" + "".join(
        f" {name} s/map | {name} speed-up | {name} verdicts kept |" for name in OTHERS)
    print(header)
    print("|---|---:|---:|" + "---:|---:|---:|" * len(OTHERS))
    for key, group in rows.items():
        today = np.mean([r["opencv_seconds"] for r in group])
        cells = []
        for name in OTHERS:
            seconds = np.mean([r[f"{name}_seconds"] for r in group])
            kept = np.mean([r[name] == r["opencv"] for r in group])
            cells.append(f" {seconds:.3f} | {today / seconds:.2f}x | {kept:.1%} |")
        print(f"| {key} | {len(group)} | {today:.3f} |" + "".join(cells))
    group = rows["all maps"]
    today = sum(r["opencv_seconds"] for r in group)
    return {name: {"speed": today / sum(r[f"{name}_seconds"] for r in group),
                   "kept": float(np.mean([r[name] == r["opencv"] for r in group])),
                   "same_boxes": float(np.mean([r[f"{name}_box"] == r["opencv_box"]
                                                for r in group]))}
            for name in OTHERS}  # fmt: skip


def run(imagenet: int, voc: int, workers: int) -> dict[str, dict[str, float]]:
    jobs = maps_of(imagenet, voc)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(every_box, jobs, range(len(jobs)), chunksize=1))
    print(f"{len(jobs)} maps ({imagenet} imagenet-val-1000 dev photos at 512 px, {voc} VOC 2007 "
          f"dev photos), {workers} workers\n")  # fmt: skip
    ratios = report(results)
    for name in OTHERS:
        r, label = ratios[name], RULES[name]
        print(f"\n{label}: {r['speed']:.2f}x faster per map than cv2.grabCut (target >= 4x), "
              f"{r['kept']:.1%} of the verdicts kept (target >= 99%), "
              f"{r['same_boxes']:.1%} of the boxes identical")  # fmt: skip
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imagenet", type=int, default=40)
    parser.add_argument("--voc", type=int, default=25)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    run(args.imagenet, args.voc, args.workers)


if __name__ == "__main__":
    main()
