"""Dev-split sweeps of saliency variants and box-step variants, with cached maps.

Two steps, so that a box-step variant does not recompute any map:

    python experiments/sweep.py compute NAME --model M [--weights W] --method feedback \
        --options '{"solver": "fsp"}' [--split dev] [--limit N]
    python experiments/sweep.py score NAME [NAME ...] [--map abs|pos] [--smooth S] ...

``compute`` writes, per batch, the maps of every (image, ground-truth class) pair to
``runs/maps/NAME/part-XXXX.npz`` (resumable: finished parts are kept), both
``max_c |T|`` and ``max_c relu(T)`` for template methods. ``score`` boxes every map with
GrabCut (the paper's recipe plus the given variant), and prints the ground-truth-label
localization error and TorchRay's pointing accuracy. Only for choosing settings on a
dev split: published numbers come from ``thinktwice eval``.
"""

from __future__ import annotations

import argparse
import json
import sys
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np
import torch

from thinktwice.attribution import METHODS
from thinktwice.evaluation.datasets import open_dataset
from thinktwice.evaluation.metrics.localization import gt_labels, guess_correct
from thinktwice.evaluation.metrics.pointing import play
from thinktwice.io.images import image_to_array, load_image
from thinktwice.localization import localize, smoothed
from thinktwice.models.zoo import load_model

ROOT = Path("runs/maps")


def compute(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    out = ROOT / args.name
    out.mkdir(parents=True, exist_ok=True)
    settings = {k: getattr(args, k) for k in ("model", "weights", "method", "options", "split")}
    (out / "settings.json").write_text(json.dumps(settings, indent=1))
    dataset = open_dataset(args.dataset, split=args.split)
    model = load_model(args.model, weights=args.weights)
    method = METHODS[args.method](model, **json.loads(args.options))
    ids = dataset.image_ids[: args.limit]
    for part, start in enumerate(range(0, len(ids), args.batch)):
        path = out / f"part-{part:04d}.npz"
        if path.exists():
            continue
        pairs, inputs = [], []
        for index in range(start, min(start + args.batch, len(ids))):
            sample = dataset[index]
            image = load_image(sample.path)
            for label in gt_labels(sample.objects):
                pairs.append((sample.image_id, min(label)))
                inputs.append(model.preprocess(image))
        result = method.attribute(torch.stack(inputs), [c for _, c in pairs])
        maps = {"abs": result.saliency}
        if result.template is not None:
            maps["pos"] = result.template.clamp_min(0).amax(dim=1)
        arrays = {
            f"{kind}/{i}/{c}": m[n].numpy().astype(np.float16)
            for kind, m in maps.items()
            for n, (i, c) in enumerate(pairs)
        }
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.rename(path)
        print(f"{args.name}: {min(start + args.batch, len(ids))}/{len(ids)}", file=sys.stderr)


def _score_one(job: tuple) -> tuple[str, int, bool, bool | None]:
    image_id, cls, smap, path, objects, box_options, sigma = job
    cv2.setNumThreads(1)
    photo = image_to_array(load_image(path))
    height, width = photo.shape[:2]
    smap = smoothed(smap.astype(np.float32), sigma / max(smap.shape))  # sigma in map pixels
    found = localize(photo, smap, **box_options)
    hit = guess_correct((cls, found.box), objects)
    trial = play(smap, objects, cls, width, height)
    return image_id, cls, hit, None if trial is None else trial.hit


def _maps(name: str, kind: str) -> dict[tuple[str, str], np.ndarray]:
    """(image id, class) -> the stored map of ``kind`` of run ``name``."""
    maps = {}
    for part in sorted((ROOT / name).glob("part-*.npz")):
        with np.load(part) as data:
            for key in data.files:
                stored_kind, image_id, cls = key.split("/")
                if stored_kind == kind:
                    maps[(image_id, cls)] = data[key]
    return maps


def score(args: argparse.Namespace) -> None:
    box_options = {"fg_quantile": args.fg, "bg_quantile": args.bg}
    for name in args.names:
        settings = json.loads((ROOT / name / "settings.json").read_text())
        dataset = open_dataset(args.dataset, split=settings["split"])
        samples = {s.image_id: s for s in (dataset[i] for i in range(len(dataset)))}
        jobs = []
        factors = _maps(args.times, "abs") if args.times else None
        for key, smap in _maps(name, args.map).items():
            image_id, cls = key
            if args.limit and len(jobs) >= args.limit:
                break
            if factors is not None:  # e.g. a fine map times a coarse one (guided Grad-CAM)
                other = factors[key].astype(np.float32)
                smap = smap.astype(np.float32) * cv2.resize(other, smap.shape[::-1])
            s = samples[image_id]
            jobs.append((image_id, int(cls), smap, s.path, s.objects, box_options, args.smooth))
        with Pool(args.workers) as pool:
            rows = pool.map(_score_one, jobs, chunksize=8)
        hits = [h for _, _, h, _ in rows]
        points = [p for _, _, _, p in rows if p is not None]
        if args.save:
            times = f"-x-{args.times}" if args.times else ""
            (ROOT / name / f"score-{args.map}-s{args.smooth}{times}.json").write_text(
                json.dumps([[i, c, h, p] for i, c, h, p in rows])
            )
        print(
            f"{name + (' x ' + args.times if args.times else ''):40s} map={args.map} "
            f"smooth={args.smooth} fg={args.fg} bg={args.bg} "
            f"n={len(hits)} loc_err_gt={100 * (1 - np.mean(hits)):.1f} "
            f"pointing={100 * np.mean(points):.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    c = sub.add_parser("compute")
    c.add_argument("name")
    c.add_argument("--model", default="efficientnet_lite0")
    c.add_argument("--weights")
    c.add_argument("--method", default="feedback")
    c.add_argument("--options", default="{}")
    c.add_argument("--dataset", default="imagenet-val-1000")
    c.add_argument("--split", default="dev")
    c.add_argument("--limit", type=int)
    c.add_argument("--batch", type=int, default=16)
    c.add_argument("--threads", type=int, default=1)
    s = sub.add_parser("score")
    s.add_argument("names", nargs="+")
    s.add_argument("--dataset", default="imagenet-val-1000")
    s.add_argument("--map", default="abs", choices=("abs", "pos"))
    s.add_argument("--smooth", type=float, default=0.0)
    s.add_argument("--fg", type=float, default=0.95)
    s.add_argument("--bg", type=float, default=0.30)
    s.add_argument("--limit", type=int)
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--save", action="store_true")
    s.add_argument("--times", help="multiply each map by the abs map of this run")
    args = parser.parse_args()
    {"compute": compute, "score": score}[args.step](args)


if __name__ == "__main__":
    main()
