"""Scratch prototype: relaxed feedback gates on the image (coarse cells), several objectives.

    python experiments/proto_input_gates.py NAME --res 14 --steps 10 --step 0.2 --price 0.1 \
        --objective logsoftmax --read cam [--limit 120]

Writes the maps in the layout of experiments/study.py (runs/study/NAME), so ``study.py
score`` compares them with the cached baselines.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

from thinktwice.attribution.gradcam import grad_cam, last_spatial_site
from thinktwice.evaluation.metrics.localization import gt_labels
from thinktwice.evaluation.run.runner import classes_to_explain
from thinktwice.io.images import load_image
from thinktwice.models.state import eval_mode
from thinktwice.models.zoo import load_model

sys.path.insert(0, "experiments")
from study import ROOT, label_name, open_data  # noqa: E402


def objective(logits: torch.Tensor, targets: torch.Tensor, kind: str) -> torch.Tensor:
    rows = torch.arange(len(targets))
    if kind == "logsoftmax":
        return logits.log_softmax(1)[rows, targets]
    return logits[rows, targets]


def gate_ascent(model, x, targets, args) -> tuple[torch.Tensor, torch.Tensor]:
    mean = model.mean.view(1, 3, 1, 1).to(x)
    h = torch.ones(len(x), 1, args.res, args.res)
    for _ in range(args.steps):
        h.requires_grad_(True)
        up = F.interpolate(h, size=x.shape[-2:], mode="bilinear", align_corners=False)
        logits = model(mean + up * (x - mean))
        (g,) = torch.autograd.grad(objective(logits, targets, args.objective).sum(), h)
        scale = g.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)
        h = (h.detach() + args.step * (g / scale - args.price)).clamp(0, 1)
    up = F.interpolate(h, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return h, mean + up * (x - mean)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("name")
    p.add_argument("--res", type=int, default=14)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--step", type=float, default=0.2)
    p.add_argument("--price", type=float, default=0.1)
    p.add_argument("--objective", default="logsoftmax")
    p.add_argument("--read", default="cam")  # cam | mask | maskcam
    p.add_argument("--limit", type=int, default=120)
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--weights")
    p.add_argument("--batch", type=int, default=16)
    args = p.parse_args()
    torch.set_num_threads(2)
    out = ROOT / args.name
    out.mkdir(parents=True, exist_ok=True)
    (out / "settings.json").write_text(
        json.dumps({"data": "voc2007", "split": "dev", **vars(args)})
    )
    dataset = open_data("voc2007", "dev")
    model = load_model(args.model, weights=args.weights)
    layer = model.gradcam_layer or last_spatial_site(model, torch.full((1, 3, 224, 224), 0.5))
    ids = dataset.image_ids[: args.limit]
    for part, start in enumerate(range(0, len(ids), args.batch)):
        path = out / f"part-{part:04d}.npz"
        if path.exists():
            continue
        samples = [dataset[i] for i in range(start, min(start + args.batch, len(ids)))]
        photos = torch.stack([model.preprocess(load_image(s.path)) for s in samples])
        with eval_mode(model):
            with torch.no_grad():
                top5 = model(photos).topk(5, dim=1).indices.tolist()
            rows, targets, meta = [], [], []
            for row, sample in enumerate(samples):
                _, reps = classes_to_explain(sample, top5[row])
                for label, target in zip(gt_labels(sample.objects), reps, strict=True):
                    rows.append(row)
                    targets.append(target)
                    meta.append([sample.image_id, label_name(sample, label), target, top5[row]])
            x, t = photos[torch.tensor(rows)], torch.tensor(targets)
            for q in model.parameters():
                q.requires_grad_(False)
            h, gated = gate_ascent(model, x, t, args)
            mask = F.interpolate(h, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
            if args.read == "mask":
                maps = mask
            else:
                cam, _ = grad_cam(model, layer, gated, t)
                maps = cam if args.read == "cam" else cam * mask
        arrays = maps.detach().float().numpy().astype(np.float16)
        np.savez_compressed(path, maps=arrays, meta=json.dumps(meta))
        print(f"{args.name}: {start + len(samples)}/{len(ids)}", file=sys.stderr)


if __name__ == "__main__":
    main()
