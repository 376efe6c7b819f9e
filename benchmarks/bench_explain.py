"""Speed of every saliency method, side by side in one run on the same batch.

Prints (image, class) pairs per second for each method, feedback's cost as a
multiple of ``gradient``, each baseline against captum's implementation, and the
iterations feedback solvers take. Methods are timed in interleaved rounds and
the median is kept, so a noisy machine slows all of them alike. Ours against
captum is timed head to head: each repetition runs the two back to back, in
alternating order, and the median of the per-repetition ratios is reported (a
job's speed depends on what ran just before it, e.g. on the allocator's state).

    .venv/bin/python benchmarks/bench_explain.py [--batch 16] [--rounds 5] [--repeats 8]

Targets: feedback (default) <= 2x gradient and <= 1.5x Grad-CAM per pair at batch 16 (later
passes run only the network above the lowest gate, ``hooks/split.py``; the job "feedback,
whole network" is the same feedback with ``split=False``, today's path before it); our
baselines no slower than captum's.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

import thinktwice
from thinktwice.attribution import METHODS
from thinktwice.attribution.feedback import DEFAULT_LAYERS, DEFAULT_OPTIONS, DEFAULT_SOLVER
from thinktwice.testing import captum_view

PHOTOS = (
    "chelsea",
    "coffee",
    "astronaut",
    "rocket",
    "camera",
    "hubble_deep_field",
    "retina",
    "cat",
)


def photo_batch(model: thinktwice.Classifier, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` (image, class) pairs: scikit-image's photos, each with its top-2 classes."""
    import skimage.data

    images = []
    for name in PHOTOS:
        array = getattr(skimage.data, name)()
        if array.ndim == 2:
            array = np.stack([array] * 3, axis=-1)
        images.append(model.preprocess(Image.fromarray(array[..., :3])))
    images_t = torch.stack(images)
    with torch.no_grad():
        top2 = model(images_t).topk(2, dim=1).indices
    pairs = [(i, int(c)) for i in range(len(images)) for c in top2[i]]
    pairs = (pairs * (size // len(pairs) + 1))[:size]
    return images_t[[i for i, _ in pairs]], torch.tensor([c for _, c in pairs])


def runners(model, images, targets) -> dict[str, Callable[[], object]]:
    """Every timed job: our methods, captum's baselines, feedback solvers."""
    from captum.attr import (
        Deconvolution,
        GuidedBackprop,
        LayerAttribution,
        LayerGradCam,
        Saliency,
    )

    view = captum_view(model)
    layer = dict(model.named_modules())[model.gradcam_layer]

    def captum_gradcam():
        cam = LayerGradCam(model, layer).attribute(images, target=targets, relu_attributions=True)
        return LayerAttribution.interpolate(cam, model.input_size, "bilinear")

    jobs: dict[str, Callable[[], object]] = {
        name: (lambda cls=cls: cls(model).attribute(images, targets))
        for name, cls in METHODS.items()
        if name != "feedback"
    }
    jobs["feedback"] = lambda: METHODS["feedback"](model).attribute(images, targets)
    jobs["feedback, whole network"] = lambda: METHODS["feedback"](model, split=False).attribute(
        images, targets
    )
    jobs["feedback, paper map"] = lambda: METHODS["feedback"](model, saliency="abs").attribute(
        images, targets
    )
    jobs["feedback fsp all x3"] = lambda: METHODS["feedback"](
        model, solver="fsp", layers="all", max_iter=3
    ).attribute(images, targets)
    jobs["captum Saliency"] = lambda: Saliency(model).attribute(images, target=targets, abs=False)
    jobs["captum Deconvolution"] = lambda: Deconvolution(view).attribute(images, target=targets)
    jobs["captum GuidedBackprop"] = lambda: GuidedBackprop(view).attribute(images, target=targets)
    jobs["captum LayerGradCam"] = captum_gradcam
    return jobs


def seconds_of(job: Callable[[], object]) -> float:
    start = time.perf_counter()
    job()
    return time.perf_counter() - start


def time_jobs(jobs: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds per job over interleaved rounds (one warm-up round first)."""
    samples: dict[str, list[float]] = {name: [] for name in jobs}
    for round_index in range(rounds + 1):
        for name, job in jobs.items():
            seconds = seconds_of(job)
            if round_index:
                samples[name].append(seconds)
    return {name: statistics.median(values) for name, values in samples.items()}


CAPTUM_COUNTERPARTS = (
    ("gradient", "captum Saliency"),
    ("deconvnet", "captum Deconvolution"),
    ("guided_backprop", "captum GuidedBackprop"),
    ("gradcam", "captum LayerGradCam"),
)


def head_to_head(
    ours: Callable[[], object], theirs: Callable[[], object], repeats: int
) -> list[float]:
    """Ratios ours / theirs, each from two runs back to back, the order alternating."""
    ratios = []
    for repeat in range(repeats + 1):
        if repeat % 2:
            mine, other = seconds_of(ours), seconds_of(theirs)
        else:
            other, mine = seconds_of(theirs), seconds_of(ours)
        if repeat:  # the first repetition warms up
            ratios.append(mine / other)
    return ratios


def convergence(model, images, targets) -> list[str]:
    """Iterations each solver takes on the batch (passes after the feedforward)."""
    lines = []
    for solver, options in [
        ("fsp", {"layers": "all", "max_iter": 20}),
        ("fsp", {"layers": "all", "max_iter": 20, "prune_only": True}),
        ("fr", {"layers": "all", "max_iter": 20}),
        (DEFAULT_SOLVER, {"layers": DEFAULT_LAYERS, **DEFAULT_OPTIONS}),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = METHODS["feedback"](model, solver=solver, **options).attribute(images, targets)
        converged = result.details["converged"]
        monotone = result.details["monotone"]
        lines.append(
            f"| {solver} {options} | {result.scores.shape[0] - 1} "
            f"| {int(converged.sum())}/{len(converged)} | {int(monotone.sum())}/{len(monotone)} "
            f"| {result.scores[0].mean():.1f} -> {result.scores[-1].mean():.1f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=8, help="head-to-head repetitions")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)

    model = thinktwice.load_model()
    images, targets = photo_batch(model, args.batch)
    jobs = runners(model, images, targets)
    # Head to head first: after the heavy feedback jobs the allocator's state slows some
    # jobs more than others (docs/benchmarks.md), so the pairs are timed in a fresh process.
    ratios = {
        ours: sorted(head_to_head(jobs[ours], jobs[theirs], args.repeats))
        for ours, theirs in CAPTUM_COUNTERPARTS
    }
    seconds = time_jobs(jobs, args.rounds)

    print(
        f"# bench_explain: {model.name}, batch {args.batch}, median of {args.rounds} rounds, "
        f"{args.threads} threads\n"
    )
    print("| job | s / batch | pairs / s | x gradient | x gradcam |")
    print("|---|---|---|---|---|")
    for name, value in seconds.items():
        print(
            f"| {name} | {value:.3f} | {args.batch / value:.1f} "
            f"| {value / seconds['gradient']:.2f} | {value / seconds['gradcam']:.2f} |"
        )
    print(
        f"\n| ours vs captum, head to head x{args.repeats} | ours s | captum s "
        "| median ratio | lowest .. highest |"
    )
    print("|---|---|---|---|---|")
    for ours, theirs in CAPTUM_COUNTERPARTS:
        pair = ratios[ours]
        print(
            f"| {ours} | {seconds[ours]:.3f} | {seconds[theirs]:.3f} "
            f"| {statistics.median(pair):.2f} | {pair[0]:.2f} .. {pair[-1]:.2f} |"
        )
    ratio = seconds["feedback"] / seconds["gradient"]
    cam_ratio = seconds["feedback"] / seconds["gradcam"]
    whole = seconds["feedback, whole network"] / seconds["feedback"]
    print(
        f"\nfeedback (default) per pair = {ratio:.2f}x gradient (target <= 2x): "
        f"{'OK' if ratio <= 2 else 'MISSED'}; = {cam_ratio:.2f}x gradcam (target <= 1.5x): "
        f"{'OK' if cam_ratio <= 1.5 else 'MISSED'}; the whole-network path takes {whole:.2f}x "
        "as long"
    )
    print("\n| solver | iterations | converged | monotone | mean score first -> last |")
    print("|---|---|---|---|---|")
    print("\n".join(convergence(model, images, targets)))


if __name__ == "__main__":
    main()
