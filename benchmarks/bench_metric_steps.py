"""How many deletion/insertion steps are enough: AUC with few steps vs RISE's 224, and cost.

On imagenet-val-1000 dev photos, for each method's map of the ground-truth class,
the deletion and insertion AUCs (thinktwice.evaluation.metrics.faithfulness) are computed
with several step counts; the table gives the mean and largest absolute
difference from the 224-step AUC (RISE's setting on 224x224 inputs) and the
seconds per map, all steps of all maps batched as ``eval`` does.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_metric_steps.py [--images 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import thinktwice
from thinktwice.attribution import METHODS
from thinktwice.evaluation.datasets import open_dataset
from thinktwice.evaluation.metrics.faithfulness import METRICS, faithfulness
from thinktwice.io import load_image

STEPS = (8, 16, 32, 64, 224)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--methods", default="gradient,gradcam")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = thinktwice.load_model()
    model.eval()
    dataset = open_dataset("imagenet-val-1000", split="dev")
    samples = [dataset[i] for i in range(args.images)]
    inputs = torch.stack([model.preprocess(load_image(s.path)) for s in samples])
    targets = [min(next(iter(s.objects)).classes) for s in samples]
    print(f"{args.images} imagenet-val-1000 dev photos, ground-truth class, 1 thread\n")
    print("| method | metric | steps | mean AUC | mean abs. diff. from 224 | largest | s / map |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in args.methods.split(","):
        maps = METHODS[name](model).attribute(inputs, torch.tensor(targets)).saliency
        aucs, seconds = {}, {}
        for steps in STEPS:
            started = time.perf_counter()
            aucs[steps] = faithfulness(model, inputs, maps, targets, METRICS, steps)
            seconds[steps] = (time.perf_counter() - started) / len(samples) / len(METRICS)
        for metric in METRICS:
            reference = aucs[224][metric]
            for steps in STEPS:
                gap = np.abs(aucs[steps][metric] - reference)
                print(
                    f"| {name} | {metric} | {steps} | {aucs[steps][metric].mean():.3f} "
                    f"| {gap.mean():.4f} | {gap.max():.4f} | {seconds[steps]:.2f} |"
                )


if __name__ == "__main__":
    main()
