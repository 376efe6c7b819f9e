"""Is deconvnet's map on a network image-independent? Correlations of its maps across photos.

    python experiments/deconvnet_templates.py [--model M --weights W] [--images N]

For N imagenet-val-1000 dev photos, the deconvnet map of one class (285, Egyptian cat) on
every photo, and of five classes on one photo: the smallest Pearson correlation between two
maps, the largest absolute difference of the templates, and where the maps peak.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import torch

from thinktwice.attribution import METHODS
from thinktwice.evaluation.datasets import open_dataset
from thinktwice.io.images import load_image
from thinktwice.models.zoo import load_model

CLASSES = (1, 285, 340, 500, 967)


def _min_correlation(maps: torch.Tensor) -> float:
    """Over the maps that are not constant (an all-zero map has no correlation)."""
    flat = maps.flatten(1).double().numpy()
    flat = flat[flat.std(axis=1) > 0]
    if len(flat) < 2:
        return float("nan")
    pairs = itertools.combinations(range(len(flat)), 2)
    return float(min(np.corrcoef(flat[i], flat[j])[0, 1] for i, j in pairs))


def _peaks(maps: torch.Tensor) -> list[tuple[int, int]]:
    width = maps.shape[-1]
    return [divmod(int(m.flatten().argmax()), width) for m in maps]


def _zero(maps: torch.Tensor) -> int:
    return int((maps.flatten(1).amax(dim=1) == 0).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--weights")
    parser.add_argument("--images", type=int, default=8)
    args = parser.parse_args()
    model = load_model(args.model, weights=args.weights)
    dataset = open_dataset("imagenet-val-1000", split="dev")
    photos = torch.stack(
        [model.preprocess(load_image(dataset[i].path)) for i in range(args.images)]
    )
    deconvnet = METHODS["deconvnet"](model)
    same_class = deconvnet.attribute(photos, 285)
    same_photo = deconvnet.attribute(photos[:1].repeat(len(CLASSES), 1, 1, 1), list(CLASSES))
    spread = (same_class.template - same_class.template[:1]).abs().max().item()
    print(f"model {args.model}, {args.images} photos, class 285")
    print(f"  min correlation between photos: {_min_correlation(same_class.saliency):.4f}")
    print(f"  max |template - template of photo 0|: {spread:.3g}")
    print(f"  peaks (row, col): {_peaks(same_class.saliency)}")
    print(f"  all-zero maps: {_zero(same_class.saliency)} of {args.images}")
    print(f"one photo, classes {CLASSES}")
    print(f"  min correlation between classes: {_min_correlation(same_photo.saliency):.4f}")
    print(f"  peaks (row, col): {_peaks(same_photo.saliency)}")
    print(f"  all-zero maps: {_zero(same_photo.saliency)} of {len(CLASSES)}")


if __name__ == "__main__":
    main()
