"""How much a pointing-game hit says on a dataset: the hit rate of points that look at nothing.

For every pointing trial (image, ground-truth class) of a dataset, with TorchRay's
rules (``thinktwice.evaluation.metrics.pointing``):

* **centre**: TorchRay's ``center`` baseline, the point (w/2, h/2);
* **random**: a point drawn uniformly over the image's pixels -- its hit rate is
  computed exactly, as the share of pixels within the tolerance of a box;
* the share of the image the class's boxes cover;
* the same two baselines on the small-object trials (boxes cover < 1/4 of the image).

A method's pointing accuracy means something only well above these. The
tolerance is 15 px (TorchRay) and, for comparison, 15 px scaled from a 500-px
photo (VOC's typical size) to the dataset's photo size.

    .venv/bin/python benchmarks/pointing_baselines.py [--split dev]
"""

from __future__ import annotations

import argparse

import numpy as np

from thinktwice.evaluation.datasets import open_dataset
from thinktwice.evaluation.metrics.pointing import POINTING_TOLERANCE, point_hit, pointing_boxes

VOC_SIDE = 500


def near_boxes(boxes, width: int, height: int, tolerance: float) -> np.ndarray:
    """Pixels strictly closer than ``tolerance`` to some box pixel (TorchRay's accept rule)."""
    ys, xs = np.mgrid[0:height, 0:width]
    near = np.zeros((height, width), dtype=bool)
    for box in boxes:
        dx = np.maximum.reduce([box.x0 - xs, np.zeros_like(xs), xs - box.x1])
        dy = np.maximum.reduce([box.y0 - ys, np.zeros_like(ys), ys - box.y1])
        near |= dx**2 + dy**2 < tolerance**2
    return near


def baselines(name: str, split: str | None) -> dict[str, float]:
    dataset = open_dataset(name, split=split)
    rows = []
    for sample in dataset:
        side = max(sample.width, sample.height)
        scaled = POINTING_TOLERANCE * side / VOC_SIDE
        for label in {obj.classes for obj in sample.objects}:
            boxes = pointing_boxes(sample.objects, min(label))
            if boxes is None:
                continue
            centre = (sample.width / 2, sample.height / 2)
            area = near_boxes(boxes, sample.width, sample.height, 0.5).mean()
            rows.append(
                (
                    area,
                    point_hit(centre, boxes),
                    near_boxes(boxes, sample.width, sample.height, POINTING_TOLERANCE).mean(),
                    point_hit(centre, boxes, scaled),
                    near_boxes(boxes, sample.width, sample.height, scaled).mean(),
                    side,
                    area < 0.25,
                )
            )
    values = np.asarray(rows, dtype=float)
    return {
        "trials": len(rows),
        "side": float(np.median(values[:, 5])),
        "box share": float(values[:, 0].mean()),
        "centre, 15 px": float(values[:, 1].mean()),
        "random, 15 px": float(values[:, 2].mean()),
        "centre, scaled": float(values[:, 3].mean()),
        "random, scaled": float(values[:, 4].mean()),
        "small trials": int(values[:, 6].sum()),
        "centre, small": float(values[values[:, 6] == 1, 1].mean()),
        "random, small": float(values[values[:, 6] == 1, 2].mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev")
    args = parser.parse_args()
    results = {name: baselines(name, args.split) for name in ("tiny-imagenet", "imagenet-val-1000")}
    keys = list(next(iter(results.values())))
    print(f"split {args.split}; scaled tolerance = 15 px x (photo side / {VOC_SIDE})\n")
    print("| dataset | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for name, row in results.items():
        cells = [
            f"{row[k]:.0f}" if k in ("trials", "side", "small trials") else f"{100 * row[k]:.1f}%"
            for k in keys
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
