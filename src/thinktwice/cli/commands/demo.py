"""``thinktwice demo``: the main job on the photos that ship with scikit-image.

Explains ``chelsea`` (a cat) and ``coffee`` (an espresso) for their top class
with every method, boxes them from the feedback map, and traces the feedback
loop on chelsea; with the paper's two-object photo at hand (``--two-objects``, by default
``../shared/images/cat_dog_1.jpg`` when that exists) it also maps each of its two classes
with gradient and feedback. Everything lands in ``--out``. ``--docs-img`` also copies the
README's figures there.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from thinktwice.cli.common import add_device_argument, add_quiet_argument, output_folder, say
from thinktwice.errors import ThinkTwiceError

NAME = "demo"
HELP = "explain, localize and trace scikit-image's chelsea and coffee photos into --out"
PHOTOS = ("chelsea", "coffee")
TWO_OBJECTS = Path("../shared/images/cat_dog_1.jpg")
TWO_OBJECT_CLASSES = ("tiger cat", "golden retriever")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out", help="output folder")
    parser.add_argument("--docs-img", help="also copy the README figures into this folder")
    parser.add_argument(
        "--two-objects",
        default=str(TWO_OBJECTS),
        help=f"a photo of a tiger cat and a golden retriever, mapped for each class (default: "
        f"{TWO_OBJECTS}, skipped when absent)",
    )
    add_device_argument(parser)
    add_quiet_argument(parser)


def demo_photos(folder: Path) -> list[Path]:
    """scikit-image's sample photos written as PNG files (the optional ``demo`` extra)."""
    import numpy as np
    from PIL import Image

    try:
        import skimage.data
    except ImportError as error:
        raise ThinkTwiceError(
            "the demo photos come from scikit-image: pip install 'thinktwice[demo]'"
        ) from error
    paths = []
    for name in PHOTOS:
        path = folder / f"{name}.png"
        Image.fromarray(np.asarray(getattr(skimage.data, name)())).save(path)
        paths.append(path)
    return paths


def run(args: argparse.Namespace) -> int:
    from thinktwice.cli.main import main

    out = output_folder(args.out)
    photos = demo_photos(output_folder(out / "photos"))
    names = [str(p) for p in photos]
    steps = [
        ["explain", *names, "--out", str(out)],
        ["localize", *names, "--json", "--out", str(out)],
        ["feedback-trace", names[0], "--out", str(out)],
    ]
    if Path(args.two_objects).is_file():
        targets = [arg for name in TWO_OBJECT_CLASSES for arg in ("--target", name)]
        methods = ["--methods", "gradient,feedback"]
        steps.append(["explain", args.two_objects, *targets, *methods, "--out", str(out)])
    else:
        say(args, f"no two-object photo at {args.two_objects}: that step is skipped")
    shared = (["--device", args.device] if args.device else []) + (
        ["--quiet"] if args.quiet else []
    )
    for step in steps:
        say(args, f"$ thinktwice {' '.join(step + shared)}")
        status = main(step + shared)
        if status:
            return status
    if args.docs_img:
        for path in copy_docs_figures(out, output_folder(args.docs_img)):
            say(args, path)
    return 0


def copy_docs_figures(out: Path, docs: Path) -> list[Path]:
    """The figures the README shows: both grids, chelsea's box and its trace."""
    wanted = ["*__grid.png", "chelsea__*__feedback__box.png", "chelsea__*__trace.png"]
    # the two-object photo's grid is among the grids
    copied = []
    for pattern in wanted:
        for figure in sorted(out.glob(pattern)):
            copied.append(Path(shutil.copyfile(figure, docs / f"demo-{figure.name}")))
    return copied
