"""Scratch prototype: maps read off the last feature map A and a linear head W (Lite0).

Several readings from one forward per batch, each saved as its own study run
(runs/study/PREFIX-READING), for ``study.py score``.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

from thinktwice.io.images import load_image
from thinktwice.models.state import eval_mode
from thinktwice.models.zoo import load_model

sys.path.insert(0, "experiments")
from study import ROOT, open_data, pairs_of  # noqa: E402


def readings(a: torch.Tensor, w: torch.Tensor, b: torch.Tensor, logits, targets) -> dict:
    """a [N, K, h, w] features, w [C, K], b [C]; per-pair maps at feature resolution."""
    n = len(targets)
    z = torch.einsum("nkhw,ck->nchw", a, w) + b.view(1, -1, 1, 1)  # local logits
    zc = z[torch.arange(n), targets]  # [N, h, w]
    cam = zc - b[targets].view(-1, 1, 1)
    rest = logits.clone()
    rest[torch.arange(n), targets] = -float("inf")
    p_others = rest.softmax(1)  # the competitors' share, c excluded
    w_others = p_others @ w  # [N, K]
    wc = w[targets]
    contrast = wc - w_others
    gate = (torch.einsum("nk,nkhw->nkhw", contrast, a) > 0).float()
    local_z = z.clone()
    local_z[torch.arange(n), targets] = -float("inf")
    lse_others = local_z.logsumexp(1)
    return {
        "cam": cam.clamp_min(0),
        "local-logodds": zc - lse_others,
        "local-p": torch.sigmoid(zc - lse_others),
        "cam-x-localp": cam.clamp_min(0) * torch.sigmoid(zc - lse_others),
        "contrast-cam": torch.einsum("nk,nkhw->nhw", contrast, a).clamp_min(0),
        "gated-cam": torch.einsum("nk,nkhw->nhw", wc, gate * a).clamp_min(0),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("prefix")
    p.add_argument("--limit", type=int)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", type=int, default=224)
    args = p.parse_args()
    torch.set_num_threads(1)
    dataset = open_data("voc2007", "dev")
    model = load_model()
    head = model.network._fc
    w, b = head.weight.detach(), head.bias.detach()
    captured = []
    model.network._head_act.register_forward_hook(lambda m, i, o: captured.append(o.detach()))
    ids = dataset.image_ids[: args.limit]
    names = None
    for part, start in enumerate(range(0, len(ids), args.batch)):
        samples = [dataset[i] for i in range(start, min(start + args.batch, len(ids)))]
        photos = torch.stack([model.preprocess(load_image(s.path)) for s in samples])
        if args.size != 224:
            photos = F.interpolate(photos, size=(args.size, args.size), mode="bilinear")
        captured.clear()
        with eval_mode(model), torch.no_grad():
            logits = model(photos)
        feats = captured[-1]
        ranking = logits.argsort(1, descending=True)
        rows, targets, meta = pairs_of(samples, ranking)
        if not rows:
            continue
        r = torch.tensor(rows)
        maps = readings(feats[r], w, b, logits[r], torch.tensor(targets))
        names = list(maps)
        for key, value in maps.items():
            out = ROOT / f"{args.prefix}-{key}"
            out.mkdir(parents=True, exist_ok=True)
            (out / "settings.json").write_text(json.dumps({"data": "voc2007", "split": "dev"}))
            up = F.interpolate(value[:, None], size=(224, 224), mode="bilinear",
                               align_corners=False)[:, 0]
            np.savez_compressed(out / f"part-{part:04d}.npz",
                                maps=up.numpy().astype(np.float16), meta=json.dumps(meta))
        print(f"{start + len(samples)}/{len(ids)}", file=sys.stderr)
    print(names)


if __name__ == "__main__":
    main()
