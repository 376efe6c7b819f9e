"""Scratch prototype: class maps read at several depths of Lite0, and fusions with the CAM.

One forward and one backward per batch; every reading is saved as its own study run
(runs/study/PREFIX-READING) for ``study.py score``. ``--feedback`` first runs the
default feedback and reads the network with its final gates in place.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

from thinktwice.attribution.feedback import Feedback
from thinktwice.hooks.install import rules_installed
from thinktwice.hooks.sites import find_sites, select_sites
from thinktwice.models.state import eval_mode
from thinktwice.models.zoo import load_model

sys.path.insert(0, "experiments")
from study import ROOT, open_data, pairs_of, ranked_batch  # noqa: E402

LAYERS = {
    "7": "network._head_act",
    "14": "network._blocks.11._act0",
    "14b": "network._blocks.9._act1",
    "28": "network._blocks.4._act1",
}


def up(m: torch.Tensor) -> torch.Tensor:
    return F.interpolate(m[:, None], size=(224, 224), mode="bilinear", align_corners=False)[:, 0]


def norm(m: torch.Tensor) -> torch.Tensor:
    low = m.flatten(1).amin(1).view(-1, 1, 1)
    high = m.flatten(1).amax(1).view(-1, 1, 1)
    return (m - low) / (high - low).clamp_min(1e-12)


def capture(model, x, targets):
    acts = {}
    modules = dict(model.named_modules())
    handles = []
    for key, name in LAYERS.items():
        def hook(_m, _i, out, key=key):
            out.retain_grad()
            acts[key] = out
        handles.append(modules[name].register_forward_hook(hook))
    try:
        with torch.enable_grad():
            xx = x.clone().requires_grad_(True)
            logits = model(xx)
            logits.gather(1, targets.view(-1, 1)).sum().backward()
    finally:
        for h in handles:
            h.remove()
    return {k: (a.detach(), a.grad.detach()) for k, a in acts.items()}


def readings(acts) -> dict[str, torch.Tensor]:
    out = {}
    for key, (a, g) in acts.items():
        out[f"gradcam{key}"] = up((g.mean((2, 3), keepdim=True) * a).sum(1).clamp_min(0))
        out[f"layercam{key}"] = up((g.clamp_min(0) * a).sum(1))
    cam = norm(out["gradcam7"])
    for key in ("14", "14b", "28"):
        out[f"cam7xlayer{key}"] = cam * norm(out[f"layercam{key}"])
        out[f"cam7+layer{key}"] = cam + norm(out[f"layercam{key}"])
    out["cam7xlayer14x28"] = cam * norm(out["layercam14"]) * norm(out["layercam28"])
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("prefix")
    p.add_argument("--limit", type=int)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--feedback", default=None, help="JSON options of a Feedback whose gates stay")
    args = p.parse_args()
    torch.set_num_threads(1)
    dataset = open_data("voc2007", "dev")
    model = load_model()
    for q in model.parameters():
        q.requires_grad_(False)
    fb = Feedback(model, **json.loads(args.feedback)) if args.feedback else None
    ids = dataset.image_ids[: args.limit]
    for part, start in enumerate(range(0, len(ids), args.batch)):
        samples, photos, logits = ranked_batch(model, dataset, ids, start, args.batch)
        ranking = logits.argsort(1, descending=True)
        rows, targets, meta = pairs_of(samples, ranking)
        if not rows:
            continue
        x, t = photos[torch.tensor(rows)], torch.tensor(targets)
        with eval_mode(model):
            if fb is None:
                acts = capture(model, x, t)
            else:
                sites = find_sites(model, x[:1], warn=False)
                gated = select_sites(sites, fb.layers, fb.kinds)
                result = fb.solver.solve(model, x, t, sites, gated, template=False)
                rule = fb.solver.make_rule(sites, result.sites)
                rule.set_gates(result.gates)
                with rules_installed(model, rule.sites, rule):
                    acts = capture(model, x, t)
        for key, value in readings(acts).items():
            out = ROOT / f"{args.prefix}-{key}"
            out.mkdir(parents=True, exist_ok=True)
            (out / "settings.json").write_text(json.dumps({"data": "voc2007", "split": "dev"}))
            np.savez_compressed(out / f"part-{part:04d}.npz",
                                maps=value.numpy().astype(np.float16), meta=json.dumps(meta))
        print(f"{start + len(samples)}/{len(ids)}", file=sys.stderr)


if __name__ == "__main__":
    main()
