"""How much of a class's probability excitation backprop brings to its map layer.

    python experiments/ebp_mass.py [--model M --weights W] [--images N]

For the first N voc2007 dev photos (default 20) and each of their ground-truth classes (its
smallest ImageNet index), the total excitation at the map's layer: 1 when every neuron on the
way has an excitatory input, less where neurons are driven by biases (which EBP ignores).
"""

from __future__ import annotations

import argparse

import numpy as np

from thinktwice.attribution import ExcitationBackprop
from thinktwice.evaluation.datasets import open_dataset
from thinktwice.evaluation.metrics.localization import gt_labels
from thinktwice.models.zoo import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--weights")
    parser.add_argument("--images", type=int, default=20)
    args = parser.parse_args()
    model = load_model(args.model, weights=args.weights)
    data = open_dataset("voc2007", split="dev")
    method = ExcitationBackprop(model)
    masses = []
    for index in range(args.images):
        sample, photo = data.with_photo(index)
        image = model.preprocess(photo)[None]
        for label in gt_labels(sample.objects):
            masses.append(float(method.attribute(image, min(label)).details["mass"][0]))
    mass = np.array(masses)
    print(
        f"{args.model}: layer {method.layer}, {len(mass)} (photo, class) pairs: excitation "
        f"reaching the layer mean {mass.mean():.3f}, median {np.median(mass):.3f}, "
        f"min {mass.min():.3f}, max {mass.max():.3f}"
    )


if __name__ == "__main__":
    main()
