"""Scores of the hard solvers on SqueezeNet 1.0 pass by pass (docs/feedback.md).

    python experiments/score_explosion.py WEIGHTS

The 8 (photo, class) pairs of ../shared/images (two classes per photo); fsp and fr on every
site with the gain rule, and the notebook's rule (preset reference), 10 passes each: the
target logit after the first and the last pass, whether every pass kept it from falling
(``monotone``) and whether the gates reached a fixed point (``converged``).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import torch

from thinktwice.attribution.feedback import Feedback
from thinktwice.io.images import load_image
from thinktwice.models.zoo import load_model

SHARED = Path(__file__).resolve().parents[2] / "shared" / "images"


def pairs(model):
    boxes = json.loads((SHARED / "boxes.json").read_text())
    entries = boxes["images"] if isinstance(boxes, dict) and "images" in boxes else boxes
    photos, targets = [], []
    for entry in entries:
        image = model.preprocess(load_image(SHARED / entry["file"]))
        with torch.no_grad():
            logits = model(image[None])[0]
        for obj in entry["objects"]:  # each object's best-scored accepted class
            photos.append(image)
            targets.append(max(obj["classes"], key=lambda c: float(logits[c])))
    return torch.stack(photos), torch.tensor(targets)


def main() -> None:
    model = load_model("squeezenet1_0", weights=sys.argv[1])
    images, targets = pairs(model)
    variants = {
        "fsp, all sites, gain rule": {"solver": "fsp", "layers": "all", "max_iter": 10},
        "fr, all sites, gain rule": {"solver": "fr", "layers": "all", "max_iter": 10},
        "notebook rule (preset reference)": {"preset": "reference", "max_iter": 10},
    }
    for name, options in variants.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = Feedback(model, saliency="abs", **options).attribute(images, targets)
        scores = result.scores
        first, last = scores[0].tolist(), scores[-1].tolist()
        monotone = result.details["monotone"].tolist()
        converged = result.details["converged"].tolist()
        print(f"{name}: passes {scores.shape[0] - 1}")
        for i in range(len(first)):
            print(
                f"  pair {i} class {int(targets[i])}: {first[i]:.1f} -> {last[i]:.1f}  "
                f"monotone={monotone[i]} converged={converged[i]}"
            )


if __name__ == "__main__":
    main()
