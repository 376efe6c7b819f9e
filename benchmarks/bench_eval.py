"""Where evaluation time goes, and what a second torchrun worker buys, in one run.

Runs ``thinktwice eval`` on the same Tiny ImageNet dev images three ways, one
after the other on this machine:

* 1 worker with all cores as torch threads (the default single-process run),
* 1 worker with 1 thread (the per-worker share under 2 workers),
* 2 torchrun workers with 1 thread each,

then prints seconds per image split into saliency and GrabCut (from the
per-record timings the runner writes), GrabCut's share, and the speed-ups of 2
workers over each 1-worker run, twice: on wall time (process start and model
loading included) and on steady-state throughput (images finished per second
after the first image is done, from the records' finish times).

    .venv/bin/python benchmarks/bench_eval.py [--images 48] [--methods ...]

With ``--photo-size 512`` the photos are full-size instead: imagenet-val-1000
dev photos upscaled (bicubic) to 512x512, their boxes scaled with them, written
as a box manifest in a temporary folder, GrabCut at ``eval``'s default
``--max-side`` (or ``--max-side N|none``). It prints three ratios:

* ``eval`` images/s on both cores (the default: torch threads on all cores, boxes
  in a pool of worker processes while the next batch's maps are computed) over
  one core (``taskset -c 0``, one thread, boxes in the process), same photos,
  one run after the other (the load average is printed: on a busy machine this
  ratio says little);
* the warm GrabCut engine (the default box's) and the coarse-to-fine GrabCut box
  (``--box grabcut_coarse``) against cv2.grabCut, side by side on the same maps
  (``bench_grabcut.py``: speed per map and the share of IoU >= 0.5 verdicts kept,
  ``--grabcut-imagenet`` / ``--grabcut-voc`` photos).

    .venv/bin/python benchmarks/bench_eval.py --photo-size 512 --images 16

Targets: 2 cores >= 1.8x one core; a GrabCut box >= 4x faster than cv2.grabCut with >= 99%
of its verdicts kept (>= 300 maps); 2 torchrun workers >= 1.7x one worker (Tiny ImageNet mode).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

METHODS = "gradient,deconvnet,guided_backprop,gradcam,feedback"


def run_eval(
    out: Path,
    images: int,
    methods: str,
    workers: int,
    threads: int,
    dataset: tuple[str, ...] = ("tiny-imagenet", "--split", "dev"),
    extra: tuple[str, ...] = (),
    pin: tuple[str, ...] = (),
) -> float:
    """Wall seconds of one evaluation run (``pin``: a command prefix such as taskset)."""
    launcher = [*pin, sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command = launcher + [f"--nproc_per_node={workers}", "-m", "thinktwice.cli.main", "eval"]
    command += [*dataset, "--limit", str(images), "--methods", methods, *extra]
    command += ["--threads", str(threads), "--quiet", "--out", str(out)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"eval failed ({' '.join(command)}):\n{done.stderr[-3000:]}")
    return elapsed


def steady_throughput(out: Path) -> float:
    """Images per second between the first and the last finished image (all ranks)."""
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    finished: dict[str, float] = {}
    for record in records:
        image = record["image_id"]
        finished[image] = max(finished.get(image, 0.0), record["finished_at"])
    times = sorted(finished.values())
    return (len(times) - 1) / (times[-1] - times[0])


def time_split(out: Path) -> dict[str, dict[str, float]]:
    """Per method: mean saliency and localization seconds per image."""
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    split: dict[str, dict[str, list[float]]] = {}
    for record in records:
        entry = split.setdefault(record["method"], {"saliency": [], "localize": []})
        for part in entry:
            entry[part].append(record["seconds"][part])
    return {m: {p: float(np.mean(v)) for p, v in parts.items()} for m, parts in split.items()}


def upscaled_manifest(folder: Path, size: int, count: int) -> Path:
    """imagenet-val-1000 dev photos resized to ``size`` x ``size`` with their boxes, as a
    box manifest (far edges exclusive) in ``folder``."""
    from PIL import Image

    from thinktwice.evaluation.datasets import open_dataset
    from thinktwice.io import load_image

    dataset = open_dataset("imagenet-val-1000", split="dev")
    entries = []
    for index in range(min(count, len(dataset))):
        sample = dataset[index]
        name = f"{sample.image_id}.png"
        photo = load_image(sample.path).resize((size, size), Image.Resampling.BICUBIC)
        photo.save(folder / name)
        sx, sy = size / sample.width, size / sample.height
        objects = []
        for obj in sample.objects:
            box = obj.box.scale(sx, sy).clip(size, size)
            objects.append({"classes": sorted(obj.classes),
                            "box": [box.x0, box.y0, box.x1 + 1, box.y1 + 1]})  # fmt: skip
        entries.append({"file": name, "width": size, "height": size, "objects": objects})
    path = folder / "boxes.json"
    path.write_text(json.dumps({"images": entries}))
    return path


def print_time_split(split: dict[str, dict[str, float]]) -> None:
    print(f"{'method':<16} {'saliency s/img':>15} {'grabcut s/img':>14} {'grabcut share':>14}")
    for method, parts in split.items():
        share = parts["localize"] / (parts["saliency"] + parts["localize"])
        print(f"{method:<16} {parts['saliency']:>15.3f} {parts['localize']:>14.3f} {share:>14.1%}")
    saliency = sum(p["saliency"] for p in split.values())
    grabcut = sum(p["localize"] for p in split.values())
    share = grabcut / (saliency + grabcut)
    print(f"{'all methods':<16} {saliency:>15.3f} {grabcut:>14.3f} {share:>14.1%}")


def full_size(args: argparse.Namespace) -> None:
    """Where the time goes on ``args.photo_size``-px photos; both cores against one; the
    warm and coarse GrabCut against cv2.grabCut."""
    import os

    import bench_grabcut

    extra = ("--max-side", args.max_side) if args.max_side else ()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        manifest = upscaled_manifest(root, args.photo_size, args.images)
        load_before = os.getloadavg()[0]
        two = run_eval(root / "two", args.images, args.methods, 1, 2, (str(manifest),), extra)
        one = run_eval(root / "one", args.images, args.methods, 1, 1, (str(manifest),),
                       (*extra, "--box-workers", "0"), pin=("taskset", "-c", "0"))  # fmt: skip
        load_after = os.getloadavg()[0]
        split = time_split(root / "two")
        run = json.loads((root / "two" / "run.json").read_text())
    print(f"{args.images} imagenet-val-1000 dev photos upscaled to {args.photo_size} px, "
          f"methods {args.methods}, GrabCut max_side {run['max_side']}\n")  # fmt: skip
    print_time_split(split)
    print(f"\nboth cores (2 threads, box pool): wall {two:.1f} s ({args.images / two:.2f} "
          f"images/s); one core: wall {one:.1f} s ({args.images / one:.2f} images/s)")  # fmt: skip
    print(f"2 cores = {one / two:.2f}x one core (target >= 1.8x); load average "
          f"{load_before:.1f} before, {load_after:.1f} after\n")  # fmt: skip
    if args.grabcut_imagenet or args.grabcut_voc:  # 0 and 0: the GrabCut comparison is skipped
        bench_grabcut.run(args.grabcut_imagenet, args.grabcut_voc, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--methods", default=METHODS)
    parser.add_argument("--photo-size", type=int, help="full-size mode: photos of this size")
    parser.add_argument("--max-side", help="full-size mode: eval's --max-side (default: its own)")
    parser.add_argument("--grabcut-imagenet", type=int, default=40, help="full-size mode: "
                        "imagenet photos of the GrabCut comparison")  # fmt: skip
    parser.add_argument("--grabcut-voc", type=int, default=25, help="full-size mode: VOC "
                        "photos of the GrabCut comparison")  # fmt: skip
    args = parser.parse_args()
    if args.photo_size:
        full_size(args)
        return
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        walls = {
            "1 worker x 2 threads": run_eval(root / "w1t2", args.images, args.methods, 1, 2),
            "1 worker x 1 thread": run_eval(root / "w1t1", args.images, args.methods, 1, 1),
            "2 workers x 1 thread": run_eval(root / "w2t1", args.images, args.methods, 2, 1),
        }
        split = time_split(root / "w1t2")
        steady = {
            name: steady_throughput(root / key)
            for name, key in zip(walls, ("w1t2", "w1t1", "w2t1"), strict=True)
        }
    print(f"{args.images} Tiny ImageNet dev images, methods {args.methods}\n")
    print_time_split(split)
    print()
    for name, wall in walls.items():
        print(
            f"{name:<22} wall {wall:7.1f} s ({args.images / wall:.2f} images/s), "
            f"steady {steady[name]:.2f} images/s"
        )
    two = walls["2 workers x 1 thread"]
    print()
    for one in ("1 worker x 2 threads", "1 worker x 1 thread"):
        wall_ratio = walls[one] / two
        steady_ratio = steady["2 workers x 1 thread"] / steady[one]
        print(
            f"speed-up of 2 workers over {one}: wall {wall_ratio:.2f}x, steady {steady_ratio:.2f}x"
        )


if __name__ == "__main__":
    main()
