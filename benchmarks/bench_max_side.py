"""Which GrabCut ``max_side`` keeps every box's IoU >= 0.5 verdict on full-size photos.

GrabCut on a full-size photo costs seconds per map; ``max_side`` runs it on a
copy shrunk to that long side and scales the box back. This script measures,
for several ``max_side`` values, on how many (photo, class, method) maps the box
keeps the verdict it gets at full size (right: IoU >= 0.5 with a ground-truth
box of the class; wrong otherwise), and what a map costs:

* ``../shared/images``: the four two-object photos (259..640 px), hand boxes;
* scikit-image's photos with an ImageNet object (boxes drawn by hand below);
* imagenet-val-1000 **dev** photos (227 px) upscaled to 500x500 (bicubic), their
  boxes scaled with them (dev only: the default is a design choice).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_max_side.py [--images 100]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import thinktwice
from thinktwice.attribution import METHODS
from thinktwice.evaluation.datasets import ManifestDataset, open_dataset
from thinktwice.io import image_to_array, load_image
from thinktwice.localization import Box, iou, localize

SHARED = Path(__file__).resolve().parents[2] / "shared"
CANDIDATES = (512, 384, 320, 256, 224, 192, 160, 128)
UPSCALED = 500

# scikit-image photos with an ImageNet object: (loader name, accepted classes, box with
# exclusive far edges in the photo's pixels), drawn by hand on a 50-px grid, loose to ~10 px.
SKIMAGE_OBJECTS = {
    "chelsea": ((281, 282, 285), (15, 0, 400, 300)),  # tabby / tiger cat / Egyptian cat
    "coffee": ((967, 968, 504), (170, 20, 425, 310)),  # espresso / cup / coffee mug
    "rocket": ((657, 744, 812), (300, 125, 340, 410)),  # missile / projectile / space shuttle
    "stereo_motorcycle": ((665, 670), (90, 70, 685, 450)),  # moped / motor scooter
    "camera": ((872,), (230, 300, 410, 512)),  # tripod
}


@dataclass
class Case:
    """One photo with its labelled objects: (accepted classes, boxes) per label."""

    group: str
    name: str
    pixels: np.ndarray
    labels: list[tuple[frozenset[int], list[Box]]]


def shared_photos() -> Iterator[Case]:
    dataset = ManifestDataset(SHARED / "images" / "boxes.json")
    for sample in dataset:
        labels: dict[frozenset[int], list[Box]] = {}
        for obj in sample.objects:
            labels.setdefault(obj.classes, []).append(obj.box)
        pixels = image_to_array(load_image(sample.path))
        yield Case("shared images", sample.image_id, pixels, list(labels.items()))


def skimage_photos() -> Iterator[Case]:
    import skimage.data

    for name, (classes, (x0, y0, x1, y1)) in SKIMAGE_OBJECTS.items():
        raw = getattr(skimage.data, name)()
        raw = raw[0] if isinstance(raw, tuple) else raw
        pixels = np.asarray(Image.fromarray(raw).convert("RGB"))
        box = Box.from_exclusive(x0, y0, x1, y1).clip(pixels.shape[1], pixels.shape[0])
        yield Case("scikit-image", name, pixels, [(frozenset(classes), [box])])


def upscaled_imagenet(limit: int) -> Iterator[Case]:
    dataset = open_dataset("imagenet-val-1000", split="dev")
    for index in range(min(limit, len(dataset))):
        sample = dataset[index]
        image = load_image(sample.path).resize((UPSCALED, UPSCALED), Image.Resampling.BICUBIC)
        sx, sy = UPSCALED / sample.width, UPSCALED / sample.height
        labels: dict[frozenset[int], list[Box]] = {}
        for obj in sample.objects:
            labels.setdefault(obj.classes, []).append(
                obj.box.scale(sx, sy).clip(UPSCALED, UPSCALED)
            )
        yield Case(f"imagenet-val-1000 dev at {UPSCALED} px", sample.image_id,
                   image_to_array(image), list(labels.items()))  # fmt: skip


def verdict(box: Box | None, truths: list[Box]) -> bool:
    return box is not None and any(iou(box, t) >= 0.5 for t in truths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100, help="imagenet-val-1000 dev photos")
    parser.add_argument("--methods", default="gradient,gradcam,feedback")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = thinktwice.load_model()
    methods = {m: METHODS[m](model) for m in args.methods.split(",")}
    settings: list[int | None] = [None, *CANDIDATES]
    rows = []  # (group, verdicts per setting, seconds per setting)
    cases = [*shared_photos(), *skimage_photos(), *upscaled_imagenet(args.images)]
    for number, case in enumerate(cases, start=1):
        inputs = model.preprocess(Image.fromarray(case.pixels))[None]
        with torch.no_grad():
            ranked = model(inputs)[0].argsort(descending=True).tolist()
        position = {c: r for r, c in enumerate(ranked)}
        targets = [min(classes, key=lambda c: position[c]) for classes, _ in case.labels]
        for name, method in methods.items():
            maps = method.attribute(inputs.expand(len(targets), -1, -1, -1).contiguous(),
                                    torch.tensor(targets)).saliency.numpy()  # fmt: skip
            for smap, (_, truths) in zip(maps, case.labels, strict=True):
                verdicts, seconds = [], []
                for max_side in settings:
                    started = time.perf_counter()
                    found = localize(case.pixels, smap, max_side=max_side)
                    seconds.append(time.perf_counter() - started)
                    verdicts.append(verdict(found.box, truths))
                rows.append((case.group, name, verdicts, seconds))
        print(f"[{number}/{len(cases)}] {case.name}", flush=True)
    report(rows, settings)


def report(rows: list, settings: list[int | None]) -> None:
    groups = list(dict.fromkeys(r[0] for r in rows))
    header = ["max_side", *(f"{g} ({sum(r[0] == g for r in rows)} maps)" for g in groups)]
    header += ["all maps", "flips", "right", "s/map"]
    print("\n| " + " | ".join(header) + " |")
    print("|" + "---|" + "---:|" * (len(header) - 1))
    for k, max_side in enumerate(settings):
        cells = []
        for group in groups:
            mine = [r for r in rows if r[0] == group]
            same = sum(r[2][k] == r[2][0] for r in mine)
            cells.append(f"{same / len(mine):.1%}")
        same_all = sum(r[2][k] == r[2][0] for r in rows)
        flips = len(rows) - same_all
        right = sum(r[2][k] for r in rows) / len(rows)
        seconds = float(np.mean([r[3][k] for r in rows]))
        label = "full size" if max_side is None else str(max_side)
        cells += [f"{same_all / len(rows):.1%}", str(flips), f"{right:.1%}", f"{seconds:.3f}"]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\nper method, agreement with full size:")
    for method in dict.fromkeys(r[1] for r in rows):
        mine = [r for r in rows if r[1] == method]
        agreement = [
            f"{s if s else 'full'}: {sum(r[2][k] == r[2][0] for r in mine) / len(mine):.1%}"
            for k, s in enumerate(settings)
        ]
        print(f"  {method} ({len(mine)} maps): " + ", ".join(agreement[1:]))


if __name__ == "__main__":
    main()
