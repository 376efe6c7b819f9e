"""The default feedback against Grad-CAM and gradient per (image, class) pair: only those three.

bench_explain's batch (16 pairs, Lite0) and jobs (a new method per call, as ``explain()``
builds one), timed in interleaved rounds whose order alternates; prints each job's median
seconds per batch, the two ratios and the per-round feedback / Grad-CAM ratios. Quick enough
to run on a loaded machine, where only the ratios mean anything.

    .venv/bin/python benchmarks/bench_feedback_vs_gradcam.py [--rounds 7]

Target: feedback (default) <= 1.5x Grad-CAM per pair at batch 16.
"""

from __future__ import annotations

import argparse
import statistics
import warnings

import thinktwice
from bench_explain import photo_batch, runners, seconds_of

JOBS = ("gradient", "gradcam", "feedback")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    model = thinktwice.load_model("efficientnet_lite0")
    images, targets = photo_batch(model, args.batch)
    jobs = runners(model, images, targets)
    for name in JOBS:
        jobs[name]()  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in JOBS}
    for round_ in range(args.rounds):
        for name in JOBS if round_ % 2 == 0 else JOBS[::-1]:
            samples[name].append(seconds_of(jobs[name]))
    median = {name: statistics.median(values) for name, values in samples.items()}
    for name in JOBS:
        print(f"{name:10s} {median[name]:.3f} s / batch")
    rounds = [f / g for f, g in zip(samples["feedback"], samples["gradcam"], strict=True)]
    print(f"feedback / gradcam {median['feedback'] / median['gradcam']:.2f} (target <= 1.5)")
    print(f"feedback / gradient {median['feedback'] / median['gradient']:.2f}")
    print("per round, feedback / gradcam:", " ".join(f"{r:.2f}" for r in rounds))


if __name__ == "__main__":
    main()
