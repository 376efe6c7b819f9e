"""Class specificity on multi-object photos: does a class's map sit on its own object?

For every object of every image, explain the image for that object's class and
measure the share of the saliency mass inside the object's own box and inside
each other object's box (boxes may overlap, so the shares need not sum to 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from thinktwice.evaluation.datasets.base import Dataset, Sample
from thinktwice.explanation import explain
from thinktwice.io.images import load_image
from thinktwice.localization.boxes import Box
from thinktwice.models.classifier import Classifier


@dataclass(frozen=True)
class SpecificityRow:
    """One (image, object, method): mass shares in its own box and in the other boxes."""

    image_id: str
    object_index: int
    class_index: int
    class_name: str
    method: str
    own: float
    other: float  # the largest share inside another object's box
    rival: float  # the largest share another object's class map puts inside this box


def box_mass(saliency: torch.Tensor, box: Box, width: int, height: int) -> float:
    """Share of a map's mass inside ``box`` once the map is stretched onto the image."""
    stretched = F.interpolate(
        saliency[None, None].float(), size=(height, width), mode="bilinear", align_corners=False
    )[0, 0].clamp_min(0)
    total = float(stretched.sum())
    if total <= 0:
        return 0.0
    return float(stretched[box.y0 : box.y1 + 1, box.x0 : box.x1 + 1].sum()) / total


def object_targets(model: Classifier, sample: Sample, image: torch.Tensor) -> list[int]:
    """For each object, the accepted class the model scores highest on this image."""
    with torch.no_grad():
        logits = model(image[None])[0]
    return [max(obj.classes, key=lambda c: float(logits[c])) for obj in sample.objects]


def class_specificity(
    model: Classifier,
    dataset: Dataset,
    methods: Mapping[str, Mapping[str, Any]],
) -> list[SpecificityRow]:
    """Rows for every object of every image and every ``methods`` entry (name -> options)."""
    rows: list[SpecificityRow] = []
    for sample in dataset:
        image = explain_input(model, sample)
        targets = object_targets(model, sample, image)
        for label, options in methods.items():
            options = dict(options)
            method = options.pop("method", label)
            result = explain(model, image, targets, method=method, **options)
            rows.extend(_rows(sample, targets, result.saliency, label, model))
    return rows


def explain_input(model: Classifier, sample: Sample) -> torch.Tensor:
    """The sample's photo as the model's input."""
    return model.preprocess(load_image(sample.path))


def _rows(
    sample: Sample,
    targets: Sequence[int],
    saliency: torch.Tensor,
    label: str,
    model: Classifier,
) -> list[SpecificityRow]:
    rows = []
    boxes = [obj.box for obj in sample.objects]
    shares = [
        [box_mass(smap, box, sample.width, sample.height) for box in boxes] for smap in saliency
    ]
    for index, target in enumerate(targets):
        others = [s for j, s in enumerate(shares[index]) if j != index]
        rivals = [row[index] for j, row in enumerate(shares) if j != index]
        rows.append(
            SpecificityRow(
                image_id=sample.image_id,
                object_index=index,
                class_index=target,
                class_name=model.classes.name(target),
                method=label,
                own=shares[index][index],
                other=max(others) if others else 0.0,
                rival=max(rivals) if rivals else 0.0,
            )
        )
    return rows


def markdown_table(rows: Sequence[SpecificityRow]) -> str:
    """Per-object rows and a per-method summary (mean shares, objects won)."""
    lines = [
        "| image | object class | method | mass in own box | mass in other box "
        "| other class's mass in this box |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.image_id} | {row.class_name} ({row.class_index}) | {row.method} "
            f"| {row.own:.2f} | {row.other:.2f} | {row.rival:.2f} |"
        )
    lines += [
        "",
        "| method | mean own | mean other | own > other | own > other class's |",
        "|---|---|---|---|---|",
    ]
    for method in dict.fromkeys(row.method for row in rows):
        mine = [r for r in rows if r.method == method]
        own = np.mean([r.own for r in mine])
        other = np.mean([r.other for r in mine])
        wins = sum(r.own > r.other for r in mine)
        beats = sum(r.own > r.rival for r in mine)
        lines.append(
            f"| {method} | {own:.2f} | {other:.2f} | {wins}/{len(mine)} | {beats}/{len(mine)} |"
        )
    return "\n".join(lines)
