"""Dev-split study of saliency variants on several-object photos (issue 16), maps cached.

    python experiments/study.py compute NAME --method gradcam [--options JSON] \
        [--model squeezenet1_0 --weights FILE] [--data voc2007] [--split dev] [--limit N]
    python experiments/study.py score NAME [NAME ...] [--vs gradcam-lite0,...]
    python experiments/study.py misses NAME

``compute`` stores, per batch, the 224-px map of every (photo, ground-truth label) pair,
the label's representative class (its best-ranked accepted ImageNet class, as eval picks
it) and the model's top-5, in ``runs/study/NAME/part-XXXX.npz`` (finished parts are kept).
``score`` plays TorchRay's pointing game on every pair (class mean over the dataset's
labels, all trials and the EBP-difficult ones), prints McNemar against the first name and
the median map correlation with the ``--vs`` runs. ``misses`` says where a run's missed
points fall: on another object (its label), on background, and how the classifier ranked
the class. For choosing on dev only: published numbers come from ``thinktwice eval``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np
import torch

from thinktwice.attribution import METHODS
from thinktwice.evaluation.datasets import open_dataset
from thinktwice.evaluation.metrics.localization import gt_labels, guess_correct
from thinktwice.evaluation.metrics.paired import exact_mcnemar_p
from thinktwice.evaluation.metrics.pointing import map_to_image, max_point, play
from thinktwice.evaluation.run.runner import classes_to_explain
from thinktwice.io.images import image_to_array, load_image
from thinktwice.localization import localize
from thinktwice.models.state import eval_mode
from thinktwice.models.zoo import load_model

ROOT = Path("runs/study")
VOC_MAP = Path("../shared/datasets/voc2007/imagenet_class_map.json")


def open_data(name: str, split: str):
    if name == "voc2007":
        class_map = json.loads(VOC_MAP.read_text())
        return open_dataset(VOC_MAP.parent, split=split, class_map=class_map)
    return open_dataset(name, split=split)


def ranked_batch(model, dataset, ids, start: int, batch: int):
    """(samples, [N, 3, H, W] photos, logits) of ``ids[start : start + batch]``."""
    samples = [dataset[i] for i in range(start, min(start + batch, len(ids)))]
    photos = torch.stack([model.preprocess(load_image(s.path)) for s in samples])
    with eval_mode(model), torch.no_grad():
        logits = model(photos)
    return samples, photos, logits


def save_maps(args, part: int, maps: dict, meta: list) -> None:
    """One part of each map kind as a study run, ``runs/study/PREFIX-KIND``."""
    for key, value in maps.items():
        out = ROOT / f"{args.prefix}-{key}"
        out.mkdir(parents=True, exist_ok=True)
        settings = {"data": args.data, "split": args.split, **vars(args)}
        (out / "settings.json").write_text(json.dumps(settings))
        np.savez_compressed(
            out / f"part-{part:04d}.npz",
            maps=value.numpy().astype(np.float16),
            meta=json.dumps(meta),
        )


def pairs_of(samples, ranking) -> tuple[list[int], list[int], list[list]]:
    """(batch row, target class, [image id, label name, target, top 5]) of every (photo,
    ground-truth label) pair of ``samples``, the target chosen as the eval does."""
    rows, targets, meta = [], [], []
    for row, sample in enumerate(samples):
        _, reps = classes_to_explain(sample, ranking[row].tolist())
        for label, target in zip(gt_labels(sample.objects), reps, strict=True):
            rows.append(row)
            targets.append(target)
            meta.append(
                [sample.image_id, label_name(sample, label), target, ranking[row, :5].tolist()]
            )
    return rows, targets, meta


def label_name(sample, label: frozenset[int]) -> str:
    for obj in sample.objects:
        if obj.classes == label:
            return obj.names[0] if obj.names else str(min(label))
    return str(min(label))


def compute(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    out = ROOT / args.name
    out.mkdir(parents=True, exist_ok=True)
    settings = {
        k: getattr(args, k) for k in ("model", "weights", "method", "options", "data", "rep")
    }
    (out / "settings.json").write_text(json.dumps({**settings, "split": args.split}, indent=1))
    dataset = open_data(args.data, args.split)
    model = load_model(args.model, weights=args.weights)
    method = METHODS[args.method](model, **json.loads(args.options))
    ids = dataset.image_ids[: args.limit]
    for part, start in enumerate(range(0, len(ids), args.batch)):
        path = out / f"part-{part:04d}.npz"
        if path.exists():
            continue
        samples = [dataset[i] for i in range(start, min(start + args.batch, len(ids)))]
        photos = torch.stack([model.preprocess(load_image(s.path)) for s in samples])
        with torch.no_grad():
            ranking = model(photos).argsort(dim=1, descending=True)
        top5 = ranking[:, :5].tolist()
        rows, targets, meta = [], [], []
        for row, sample in enumerate(samples):
            ranked = ranking[row].tolist() if args.rep == "best" else top5[row]
            _, representatives = classes_to_explain(sample, ranked)
            for label, target in zip(gt_labels(sample.objects), representatives, strict=True):
                rows.append(row)
                targets.append(target)
                meta.append([sample.image_id, label_name(sample, label), target, top5[row]])
        maps = np.zeros((0, *photos.shape[-2:]), dtype=np.float16)
        if rows:
            result = method.attribute(photos[torch.tensor(rows)], torch.tensor(targets))
            maps = result.saliency.detach().float().numpy().astype(np.float16)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, maps=maps, meta=json.dumps(meta))
        tmp.rename(path)
        print(f"{args.name}: {min(start + args.batch, len(ids))}/{len(ids)}", file=sys.stderr)


def load_run(name: str) -> tuple[list, np.ndarray]:
    metas, maps = [], []
    for path in sorted((ROOT / name).glob("part-*.npz")):
        with np.load(path) as data:
            metas += json.loads(str(data["meta"]))
            maps.append(data["maps"].astype(np.float32))
    return metas, np.concatenate(maps) if maps else np.zeros((0, 224, 224), np.float32)


class Samples:
    """Samples by image id, read once per process."""

    def __init__(self, data: str, split: str):
        self.dataset = open_data(data, split)
        self.index = {i: n for n, i in enumerate(self.dataset.image_ids)}
        self.cache: dict[str, object] = {}

    def __getitem__(self, image_id: str):
        if image_id not in self.cache:
            self.cache[image_id] = self.dataset[self.index[image_id]]
        return self.cache[image_id]


def trials(name: str, samples: Samples) -> dict[tuple[str, str], tuple[bool, bool]]:
    """(image id, label) -> (hit, difficult) for every scored pair of the run."""
    metas, maps = load_run(name)
    out = {}
    for (image_id, label, target, _), smap in zip(metas, maps, strict=True):
        sample = samples[image_id]
        trial = play(smap, sample.objects, target, sample.width, sample.height)
        if trial is not None:
            out[(image_id, label)] = (trial.hit, trial.difficult)
    return out


def class_mean(scored: dict, keys) -> float:
    per = defaultdict(list)
    for key in keys:
        per[key[1]].append(scored[key][0])
    return 100 * float(np.mean([np.mean(v) for v in per.values()])) if per else float("nan")


def correlations(a: str, b: str) -> float:
    ma, xa = load_run(a)
    mb, xb = load_run(b)
    index = {(m[0], m[1]): n for n, m in enumerate(mb)}
    values = []
    for n, m in enumerate(ma):
        k = index.get((m[0], m[1]))
        if k is None:
            continue
        u, v = xa[n].ravel(), xb[k].ravel()
        if u.std() > 0 and v.std() > 0:
            values.append(float(np.corrcoef(u, v)[0, 1]))
    return float(np.median(values)) if values else float("nan")


def score(args: argparse.Namespace) -> None:
    settings = json.loads((ROOT / args.names[0] / "settings.json").read_text())
    samples = Samples(settings["data"], settings["split"])
    runs = {name: trials(name, samples) for name in args.names}
    common = set.intersection(*(set(r) for r in runs.values()))
    hard = {k for k in common if runs[args.names[0]][k][1]}
    first = runs[args.names[0]]
    print(f"{len(common)} trials, {len(hard)} difficult, {len({k[0] for k in common})} photos")
    print(f"{'run':40s} {'all':>6s} {'diff':>6s} {'acc':>6s} {'p(all)':>8s} {'p(diff)':>8s}  corr")
    for name, scored in runs.items():
        accuracy = 100 * np.mean([scored[k][0] for k in common])
        p_all = exact_mcnemar_p(*_discordant(first, scored, common))
        p_hard = exact_mcnemar_p(*_discordant(first, scored, hard))
        corr = " ".join(f"{vs}:{correlations(name, vs):.3f}" for vs in args.vs if vs != name)
        print(
            f"{name:40s} {class_mean(scored, common):6.1f} {class_mean(scored, hard):6.1f} "
            f"{accuracy:6.1f} {p_all:8.3g} {p_hard:8.3g}  {corr}"
        )


def _discordant(a: dict, b: dict, keys) -> tuple[int, int]:
    only_a = sum(1 for k in keys if a[k][0] and not b[k][0])
    only_b = sum(1 for k in keys if b[k][0] and not a[k][0])
    return only_a, only_b


def _box_one(job: tuple) -> bool:
    smap, path, objects, target = job
    cv2.setNumThreads(1)
    found = localize(image_to_array(load_image(path)), smap)
    return bool(guess_correct((target, found.box), objects))


def boxes(args: argparse.Namespace) -> None:
    """GrabCut (the paper's recipe) on every pair's map: GT-label localization error, cached
    in runs/study/NAME/boxes.json."""
    for name in args.names:
        cache = ROOT / name / "boxes.json"
        if not cache.exists():
            settings = json.loads((ROOT / name / "settings.json").read_text())
            samples = Samples(settings["data"], settings["split"])
            metas, maps = load_run(name)
            jobs = [
                (smap, samples[m[0]].path, samples[m[0]].objects, m[2])
                for m, smap in zip(metas, maps, strict=True)
            ]
            with Pool(args.workers) as pool:
                hits = pool.map(_box_one, jobs, chunksize=4)
            cache.write_text(json.dumps([[m[0], m[1], h] for m, h in zip(metas, hits)]))
        rows = json.loads(cache.read_text())
        error = 100 * (1 - np.mean([h for _, _, h in rows]))
        print(f"{name:40s} n={len(rows)} loc. error GT {error:.1f}%")


def misses(args: argparse.Namespace) -> None:
    settings = json.loads((ROOT / args.name / "settings.json").read_text())
    samples = Samples(settings["data"], settings["split"])
    metas, maps = load_run(args.name)
    where, ranks = Counter(), Counter()
    for (image_id, label, target, top5), smap in zip(metas, maps, strict=True):
        sample = samples[image_id]
        trial = play(smap, sample.objects, target, sample.width, sample.height)
        if trial is None or trial.hit or (args.difficult and not trial.difficult):
            continue
        x, y = max_point(map_to_image(smap, sample.width, sample.height))
        inside = sorted(
            {o.names[0] for o in sample.objects if o.box.distance_to(x, y) < 15 and o.names}
        )
        where[", ".join(inside) if inside else "background"] += 1
        ranks["top1" if top5[0] == target else "top5" if target in top5 else "not top5"] += 1
    print("missed points fall on:", where.most_common(25))
    print("target class ranked:", dict(ranks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compute")
    c.add_argument("name")
    c.add_argument("--method", required=True)
    c.add_argument("--options", default="{}")
    c.add_argument("--model", default="efficientnet_lite0")
    c.add_argument("--weights")
    c.add_argument("--data", default="voc2007")
    c.add_argument("--split", default="dev")
    c.add_argument("--limit", type=int)
    c.add_argument("--batch", type=int, default=16)
    c.add_argument("--threads", type=int, default=2)
    c.add_argument(
        "--rep",
        choices=("top5", "best"),
        default="best",
        help="a label's class: best-ranked of all 1000 (best) or eval's rule (top5)",
    )
    s = sub.add_parser("score")
    s.add_argument("names", nargs="+")
    s.add_argument("--vs", type=lambda t: t.split(","), default=[])
    b = sub.add_parser("boxes")
    b.add_argument("names", nargs="+")
    b.add_argument("--workers", type=int, default=2)
    m = sub.add_parser("misses")
    m.add_argument("name")
    m.add_argument("--difficult", action="store_true")
    args = parser.parse_args()
    {"compute": compute, "score": score, "boxes": boxes, "misses": misses}[args.command](args)


if __name__ == "__main__":
    main()
