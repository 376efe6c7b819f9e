"""Scratch prototype: the coarse class map gates the finer level top-down, then look again.

Pass 1: the plain network; Grad-CAM at the last spatial site. Pass k+1: the input of the
module where the map last shrinks (the fine level) is multiplied by the previous pass's
Grad-CAM, min-max normalised and resized to the fine level's grid; forward and backward
again. Writes PREFIX-camK (Grad-CAM of the last pass), PREFIX-gainK (positive gate gains at
the gated fine level) and PREFIX-fusedK (their normalised product) for K passes.
"""

from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F

from thinktwice.attribution.gradcam import last_spatial_site
from thinktwice.models.state import eval_mode
from thinktwice.models.zoo import load_model

sys.path.insert(0, "experiments")
from proto_fused import default_fine, model_probe, norm  # noqa: E402
from study import open_data, pairs_of, ranked_batch, save_maps  # noqa: E402


def one_pass(model, cam_layer, fine, x, targets, gate):
    """(Grad-CAM at the coarse grid [N, h, w], gate gains at the fine level [N, H, W])."""
    modules = dict(model.named_modules())
    seen = {}

    def coarse(_m, _i, out):
        out.retain_grad()
        seen["a"] = out

    def fine_in(_m, inputs):
        y = inputs[0] if gate is None else inputs[0] * gate
        y.retain_grad()
        seen["f"] = y
        return (y, *inputs[1:])

    handles = [modules[cam_layer].register_forward_hook(coarse),
               modules[fine].register_forward_pre_hook(fine_in)]
    try:
        with torch.enable_grad():
            logits = model(x.clone().requires_grad_(True))
            logits.gather(1, targets.view(-1, 1)).sum().backward()
    finally:
        for h in handles:
            h.remove()
    a, g = seen["a"].detach(), seen["a"].grad.detach()
    cam = (g.mean((2, 3), keepdim=True) * a).sum(1).clamp_min(0)
    f, gf = seen["f"].detach(), seen["f"].grad.detach()
    gains = (gf.clamp_min(0) * f).sum(1)
    return cam, gains


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("prefix")
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--weights")
    p.add_argument("--data", default="voc2007")
    p.add_argument("--split", default="dev")
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--power", type=float, default=1.0, help="gate = norm(cam) ** power")
    p.add_argument("--limit", type=int)
    p.add_argument("--batch", type=int, default=16)
    args = p.parse_args()
    torch.set_num_threads(1)
    dataset = open_data(args.data, args.split)
    model = load_model(args.model, weights=args.weights)
    for q in model.parameters():
        q.requires_grad_(False)
    cam_layer = model.gradcam_layer or last_spatial_site(model, model_probe(model))
    fine = default_fine(model, cam_layer)
    ids = dataset.image_ids[: args.limit]
    size = model.input_size

    def up(m, to=size):
        return F.interpolate(m[:, None], size=to, mode="bilinear", align_corners=False)[:, 0]

    for part, start in enumerate(range(0, len(ids), args.batch)):
        samples, photos, logits = ranked_batch(model, dataset, ids, start, args.batch)
        ranking = logits.argsort(1, descending=True)
        rows, targets, meta = pairs_of(samples, ranking)
        if not rows:
            continue
        x, t = photos[torch.tensor(rows)], torch.tensor(targets)
        maps = {}
        gate = None
        with eval_mode(model):
            for k in range(1, args.passes + 1):
                cam, gains = one_pass(model, cam_layer, fine, x, t, gate)
                maps[f"cam{k}"] = up(cam)
                maps[f"gain{k}"] = up(gains)
                maps[f"fused{k}"] = norm(up(cam)) * norm(up(gains))
                gate = (norm(up(cam, tuple(gains.shape[-2:]))) ** args.power)[:, None]
        save_maps(args, part, maps, meta)
        print(f"{start + len(samples)}/{len(ids)}", file=sys.stderr)


if __name__ == "__main__":
    main()
