"""What the default's gates change, measured on voc2007 dev photos with several classes.

    python experiments/gate_effect.py [--model M --weights W] [--limit N]

For every (photo, ground-truth label) pair of the first N dev photos that hold two or more
mapped classes: the target logit in the open pass and in the gated pass, the mean gate and the
share of gates below 0.5, and where the finer feature map's class evidence (the gate gains
map) lies, with open gates (max_iter=0) and with the top-down gates: its share inside the
class's own boxes and inside the boxes of the photo's *other* objects (persons included) but
outside the class's own. Biased competition predicts the second share falls.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import warnings

import numpy as np
import torch

from thinktwice.attribution.feedback import Feedback
from thinktwice.evaluation.metrics.localization import gt_labels
from thinktwice.evaluation.metrics.pointing import map_to_image
from thinktwice.evaluation.run.runner import classes_to_explain
from thinktwice.io.images import load_image
from thinktwice.models.zoo import load_model

sys.path.insert(0, "experiments")
from study import open_data  # noqa: E402


def box_mask(objects, width: int, height: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    for obj in objects:
        b = obj.box
        mask[int(b.y0) : int(b.y1) + 1, int(b.x0) : int(b.x1) + 1] = True
    return mask


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--weights")
    parser.add_argument("--limit", type=int, default=120)
    args = parser.parse_args()
    model = load_model(args.model, weights=args.weights)
    dataset = open_data("voc2007", "dev")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gated = Feedback(model, saliency="gains")
        open_ = Feedback(model, saliency="gains", max_iter=0)
    rows = []
    for index in range(min(args.limit, len(dataset.image_ids))):
        sample = dataset[index]
        labels = gt_labels(sample.objects)
        if len(labels) < 2:
            continue
        photo = load_image(sample.path)
        x = model.preprocess(photo)[None]
        with torch.no_grad():
            ranked = model(x).argsort(1, descending=True)[0].tolist()
        _, reps = classes_to_explain(sample, ranked)
        xs = x.expand(len(reps), -1, -1, -1)
        g = gated.attribute(xs, reps)
        o = open_.attribute(xs, reps)
        width, height = photo.size
        for i, label in enumerate(labels):
            own = box_mask([o for o in sample.objects if o.classes == label], width, height)
            other = box_mask(sample.objects, width, height) & ~own
            shares = []
            for result in (o, g):
                m = np.clip(
                    map_to_image(result.saliency[i].detach().numpy(), width, height), 0, None
                )
                total = m.sum() or 1.0
                shares.append((m[own].sum() / total, m[other].sum() / total))
            rows.append((float(g.scores[0, i]), float(g.scores[-1, i]), *shares[0], *shares[1]))
    s0, s1, own0, oth0, own1, oth1 = (np.array(v) for v in zip(*rows, strict=True))
    print(f"{args.model}: {len(rows)} pairs in photos with 2+ classes")
    print(
        f"  logit open -> gated: median {np.median(s0):.2f} -> {np.median(s1):.2f}; "
        f"falls on {int((s1 < s0).sum())} of {len(rows)}"
    )
    print(f"  gains mass in own boxes: open {own0.mean():.3f} -> gated {own1.mean():.3f}")
    print(
        f"  gains mass in other objects' boxes: open {oth0.mean():.3f} -> gated {oth1.mean():.3f}"
        f"; lower on {int((oth1 < oth0).sum())} of {len(rows)} pairs"
    )
    print(
        f"  median per-pair change of the other-object share: {statistics.median(oth1 - oth0):+.3f}"
    )


if __name__ == "__main__":
    main()
