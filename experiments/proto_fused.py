"""Scratch prototype: Grad-CAM at the last spatial site x the gate gains one resolution finer.

    python experiments/proto_fused.py PREFIX [--model M --weights W] [--data D --split S]
        [--fine SITE[,SITE]] [--feedback JSON] [--limit N]

Writes PREFIX-gradcam, PREFIX-fine and PREFIX-fused as study runs (runs/study/...).
The fine level defaults to the last gate site whose map is larger than the Grad-CAM
layer's; ``--feedback`` reads everything with that Feedback's final gates in place.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch
import torch.nn.functional as F

from thinktwice.attribution.feedback import Feedback
from thinktwice.attribution.gradcam import last_spatial_site
from thinktwice.hooks.install import rules_installed
from thinktwice.hooks.sites import find_sites, select_sites
from thinktwice.models.state import eval_mode
from thinktwice.models.zoo import load_model

sys.path.insert(0, "experiments")
from study import open_data, pairs_of, ranked_batch, save_maps  # noqa: E402


def norm(m: torch.Tensor) -> torch.Tensor:
    low = m.flatten(1).amin(1).view(-1, 1, 1)
    high = m.flatten(1).amax(1).view(-1, 1, 1)
    return (m - low) / (high - low).clamp_min(1e-12)


def default_fine(model, cam_layer: str) -> str:
    """The module where the map last shrinks before the Grad-CAM layer: its input is the
    last tensor at the finer resolution."""
    order: list[tuple[str, int, int]] = []
    handles = []
    for name, module in model.named_modules():
        if next(module.children(), None) is None or name == cam_layer:
            def hook(_m, inputs, out, name=name):
                if inputs and isinstance(inputs[0], torch.Tensor) and inputs[0].dim() == 4:
                    order.append((name, inputs[0].shape[-2] * inputs[0].shape[-1],
                                  out.shape[-2] * out.shape[-1]))
            handles.append(module.register_forward_hook(hook))
    with torch.no_grad():
        model(model_probe(model))
    for h in handles:
        h.remove()
    names = [n for n, _, _ in order]
    before = order[: names.index(cam_layer)]
    return [n for n, area_in, area_out in before if area_in > area_out][-1]


def model_probe(model):
    return torch.full((1, 3, *model.input_size), 0.5)


def capture(model, names: list[str], x, targets, fine: str):
    """(activation, gradient) at each module's output, and at ``fine``'s input."""
    acts: dict[str, list] = {n: [] for n in [*names, fine]}
    modules = dict(model.named_modules())
    handles = []
    for name in names:
        def hook(_m, _i, out, name=name):
            out.retain_grad()
            acts[name].append(out)
        handles.append(modules[name].register_forward_hook(hook))

    def pre(_m, inputs):
        inputs[0].retain_grad()
        acts[fine].append(inputs[0])
    handles.append(modules[fine].register_forward_pre_hook(pre))
    try:
        with torch.enable_grad():
            logits = model(x.clone().requires_grad_(True))
            logits.gather(1, targets.view(-1, 1)).sum().backward()
    finally:
        for h in handles:
            h.remove()
    return {n: (a[-1].detach(), a[-1].grad.detach()) for n, a in acts.items()}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("prefix")
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--weights")
    p.add_argument("--data", default="voc2007")
    p.add_argument("--split", default="dev")
    p.add_argument("--fine")
    p.add_argument("--feedback")
    p.add_argument("--limit", type=int)
    p.add_argument("--batch", type=int, default=16)
    args = p.parse_args()
    torch.set_num_threads(1)
    dataset = open_data(args.data, args.split)
    model = load_model(args.model, weights=args.weights)
    for q in model.parameters():
        q.requires_grad_(False)
    cam_layer = model.gradcam_layer or last_spatial_site(model, model_probe(model))
    fine = args.fine or default_fine(model, cam_layer)
    print("cam layer", cam_layer, "fine", fine, file=sys.stderr)
    fb = Feedback(model, **json.loads(args.feedback)) if args.feedback else None
    ids = dataset.image_ids[: args.limit]
    size = model.input_size
    for part, start in enumerate(range(0, len(ids), args.batch)):
        samples, photos, logits = ranked_batch(model, dataset, ids, start, args.batch)
        ranking = logits.argsort(1, descending=True)
        rows, targets, meta = pairs_of(samples, ranking)
        if not rows:
            continue
        x, t = photos[torch.tensor(rows)], torch.tensor(targets)
        with eval_mode(model):
            if fb is None:
                acts = capture(model, [cam_layer], x, t, fine)
            else:
                sites = find_sites(model, x[:1], warn=False)
                gated = select_sites(sites, fb.layers, fb.kinds)
                result = fb.solver.solve(model, x, t, sites, gated, template=False)
                rule = fb.solver.make_rule(sites, result.sites)
                rule.set_gates(result.gates)
                with rules_installed(model, rule.sites, rule):
                    acts = capture(model, [cam_layer], x, t, fine)

        def up(m):
            return F.interpolate(m[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]

        a, g = acts[cam_layer]
        cam = up((g.mean((2, 3), keepdim=True) * a).sum(1).clamp_min(0))
        gains = up((acts[fine][1].clamp_min(0) * acts[fine][0]).sum(1))
        maps = {"gradcam": cam, "fine": gains, "fused": norm(cam) * norm(gains)}
        save_maps(args, part, maps, meta)
        print(f"{start + len(samples)}/{len(ids)}", file=sys.stderr)


if __name__ == "__main__":
    main()
