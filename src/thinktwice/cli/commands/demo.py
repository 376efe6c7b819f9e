"""``thinktwice demo``: the main job on the photos that ship with scikit-image.

Explains ``chelsea`` (a cat) and ``coffee`` (an espresso) for their top class
with every method, boxes them from the feedback map, and traces the feedback
loop on chelsea; with the paper's two-object photo at hand (``--two-objects``, by default
``../shared/images/cat_dog_1.jpg`` when that exists) it also maps each of its two classes
with gradient, Grad-CAM and feedback; with the shared voc2007 set at hand it maps each of the three
classes of one of its test photos (``--scene``) with Grad-CAM and feedback (whatever
``Feedback()``'s defaults are) and boxes them. Everything lands in ``--out``.
``--docs-img`` also copies the README's figures there.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from thinktwice.cli import common
from thinktwice.errors import ThinkTwiceError

NAME = "demo"
HELP = "explain, localize and trace scikit-image's chelsea and coffee photos into --out"
PHOTOS = ("chelsea", "coffee")
TWO_OBJECTS = Path("../shared/images/cat_dog_1.jpg")
TWO_OBJECT_CLASSES = ("tiger cat", "golden retriever")
#: A voc2007 test photo with three classes a target can take: a cat, a chair, a dining table.
SCENE = "002167"
SCENE_METHODS = ("gradcam", "feedback")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_out_argument(parser)
    parser.add_argument("--docs-img", help="also copy the README figures into this folder")
    parser.add_argument(
        "--two-objects",
        default=str(TWO_OBJECTS),
        help=f"a photo of a tiger cat and a golden retriever, mapped for each class (default: "
        f"{TWO_OBJECTS}, skipped when absent)",
    )
    parser.add_argument(
        "--scene",
        default=SCENE,
        help="a voc2007 test photo id whose classes are each mapped and boxed by Grad-CAM and "
        f"feedback (default: {SCENE}, a cat, a chair and a dining table; skipped when the "
        "voc2007 set is absent)",
    )
    common.add_device_argument(parser)
    common.add_quiet_argument(parser)


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

    out = common.output_folder(args.out)
    photos = demo_photos(common.output_folder(out / "photos"))
    names = [str(p) for p in photos]
    steps = [
        ["explain", *names, "--out", str(out)],
        ["localize", *names, "--json", "--out", str(out)],
        ["feedback-trace", names[0], "--out", str(out)],
    ]
    if Path(args.two_objects).is_file():
        targets = [arg for name in TWO_OBJECT_CLASSES for arg in ("--target", name)]
        methods = ["--methods", "gradient,gradcam,feedback"]
        steps.append(["explain", args.two_objects, *targets, *methods, "--out", str(out)])
    else:
        common.say(args, f"no two-object photo at {args.two_objects}: that step is skipped")
    shared = (["--device", args.device] if args.device else []) + (
        ["--quiet"] if args.quiet else []
    )
    for step in steps:
        common.say(args, f"$ thinktwice {' '.join(step + shared)}")
        status = main(step + shared)
        if status:
            return status
    common.say(args, scene_step(out, args.scene, args.device))
    if args.docs_img:
        for path in copy_docs_figures(out, common.output_folder(args.docs_img)):
            common.say(args, path)
    return 0


def scene_step(out: Path, image_id: str, device: str | None) -> str:
    """Map and box each class of one voc2007 test photo by Grad-CAM and feedback; the
    figure's path, or why the step is skipped."""
    from thinktwice.evaluation.datasets import open_dataset

    try:
        dataset = open_dataset("voc2007", split="test")
    except ThinkTwiceError as error:
        return f"no voc2007 data ({error}): the scene step is skipped"
    if image_id not in dataset.image_ids:
        raise ThinkTwiceError(f"--scene {image_id}: not a voc2007 test photo with a mapped class")
    return str(scene_figure_file(dataset, image_id, out, device))


def scene_figure_file(dataset, image_id: str, out: Path, device: str | None) -> Path:
    """The scene figure of ``image_id``: per ground-truth class (the best-ranked ImageNet
    class of its VOC label), each of :data:`SCENE_METHODS`'s maps and GrabCut boxes."""
    import torch

    from thinktwice.attribution import METHODS
    from thinktwice.evaluation.metrics.localization import gt_labels
    from thinktwice.explanation import explain
    from thinktwice.io.images import image_to_array
    from thinktwice.localization import localize
    from thinktwice.models.zoo import load_model
    from thinktwice.visualization import model_label, save_figure
    from thinktwice.visualization.scene import SceneCell, SceneRow, scene_figure

    model = load_model(device=device)
    sample, photo = dataset.with_photo(dataset.image_ids.index(image_id))
    pixels = image_to_array(photo)
    with torch.no_grad():
        ranking = model(model.preprocess(photo)[None])[0].argsort(descending=True).tolist()
    rank = {c: r for r, c in enumerate(ranking)}
    labels = gt_labels(sample.objects)
    classes = [min(label, key=rank.__getitem__) for label in labels]
    maps = {m: explain(model, photo, classes, method=m).saliency.numpy() for m in SCENE_METHODS}
    rows = []
    for k, (label, c) in enumerate(zip(labels, classes, strict=True)):
        voc = next(o.names[0] for o in sample.objects if o.classes == label)
        cells = [
            SceneCell(METHODS[m].display_name(), maps[m][k], localize(pixels, maps[m][k]).box)
            for m in SCENE_METHODS
        ]
        truth = [o.box for o in sample.objects if o.classes == label]
        title = f"{voc}: {model.classes.name(c)} ({c})"
        rows.append(SceneRow(title, truth, cells))
    title = f"{model_label(model.name)} on voc2007 test photo {image_id}: one map per class"
    figure = scene_figure(pixels, rows, title=title)
    return save_figure(figure, out / f"voc2007-{image_id}__scene.png")


def copy_docs_figures(out: Path, docs: Path) -> list[Path]:
    """The figures the README shows: the grids, chelsea's box and trace, the VOC scene."""
    wanted = [
        "*__grid.png",
        "chelsea__*__feedback__box.png",
        "chelsea__*__trace.png",
        "*__scene.png",
    ]
    # the two-object photo's grid is among the grids
    copied = []
    for pattern in wanted:
        for figure in sorted(out.glob(pattern)):
            copied.append(Path(shutil.copyfile(figure, docs / f"demo-{figure.name}")))
    return copied
