"""``thinktwice eval``: localization, classification, pointing game and faithfulness on a dataset.

Runs under plain ``thinktwice eval ...`` or ``torchrun --nproc_per_node=N
-m thinktwice.cli.main eval ...`` (images sharded across the ranks).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import TYPE_CHECKING, Any

from thinktwice.cli.common import (
    PROGRAM,
    add_box_argument,
    add_device_argument,
    add_feedback_arguments,
    add_methods_argument,
    add_model_arguments,
    add_out_argument,
    add_quiet_argument,
    add_threads_argument,
    feedback_options,
    positive_int,
    selected_methods,
)
from thinktwice.cli.scoring import add_scoring_arguments, heldout_from
from thinktwice.errors import OptionError
from thinktwice.options import (
    DEFAULT_BOX_SMOOTH,
    DEFAULT_EVAL_METRICS,
    DEFAULT_MAX_SIDE,
    DEFAULT_METRIC_STEPS,
    EVAL_METRICS,
    METHOD_NAMES,
    NAMED_DATASETS,
)

if TYPE_CHECKING:
    from thinktwice.evaluation.reporting import WrittenReports

NAME = "eval"
CLASS_MAP_LIMIT = 16 * 2**20
HELP = "localization / classification error, pointing game and faithfulness of methods on a dataset"

EPILOG = """\
datasets and formats (README, "Datasets and formats", has the details)

  imagenet-val-1000   1,000 ILSVRC-2012 val photos (227x227) with their boxes; splits dev, test
  voc2007             1,015 PASCAL VOC 2007 photos with several objects each; splits dev
                      (765 trainval photos), test (250); scored through its own
                      imagenet_class_map.json unless --class-map is given. Unmapped classes
                      (person) are never targets but stay as distractors; photos with no
                      mapped object are left out. Headline: pointing class mean, all and
                      EBP-difficult, and GrabCut's loc. error per (photo, class)
  tiny-imagenet       the Tiny ImageNet validation set (64x64 photos); splits dev, test
                      (named sets are read from $THINKTWICE_DATASETS, default ../shared/datasets)

  FILE.json           box manifest. Boxes [x0, y0, x1, y1] in pixels of the photo, far edges
                      EXCLUSIVE (x1 = x0 + width). Classes: ImageNet-1k indices or synset ids.
      {"images": [{"file": "cat_dog.jpg", "width": 500, "height": 313,
                   "objects": [{"name": "kitten", "classes": [281, "n02123159"],
                                "box": [80, 70, 245, 305], "difficult": false}]}]}

  DIR with Annotations/*.xml and images/*.JPEG (or Annotations/CLS-LOC/val + Data/CLS-LOC/val)
                      ILSVRC validation XML. Corners 0-based INCLUSIVE (a far edge equal to
                      the size is clipped). Classes: synset ids. Optional DIR/<split>.txt files
                      (one image id per line, e.g. dev.txt, test.txt) define the splits.
      <annotation><filename>ILSVRC2012_val_00000001</filename>
        <size><width>500</width><height>375</height></size>
        <object><name>n01751748</name><difficult>0</difficult><bndbox><xmin>111</xmin>
          <ymin>108</ymin><xmax>310</xmax><ymax>238</ymax></bndbox></object></annotation>

  DIR with Annotations/*.xml and JPEGImages/*.jpg [+ ImageSets/Main/<split>.txt]
                      PASCAL VOC. Corners 1-based INCLUSIVE (as the VOC devkit). Classes: VOC
                      names, which count only through --class-map.
      <annotation><size><width>353</width><height>500</height></size>
        <object><name>dog</name><difficult>0</difficult><bndbox><xmin>48</xmin>
          <ymin>240</ymin><xmax>195</xmax><ymax>371</ymax></bndbox></object></annotation>
      --class-map map.json:  {"dog": [151, 152, 153], "cat": [281, 282, 283, 284, 285]}

  DIR with val_annotations.txt and images/val_N.JPEG
                      Tiny ImageNet val. One line per photo, tab-separated: file, synset id,
                      x0, y0, x1, y1 -- 0-based INCLUSIVE corners of the 64x64 photo.
                      Splits: dev (N < 5000), test (N >= 5000).
      val_0.JPEG  n03444034  0  32  44  62

Every sample's recorded size (XML <size>, manifest width/height, 64x64 for Tiny ImageNet)
is checked against the decoded photo: a photo of another size is reported as one error
line and not scored, unless --rescale-boxes scales its boxes to the photo. An unknown
synset or a box outside the photo is one error line naming the file and the box.

metrics: loc (GrabCut or threshold boxes: localization errors), pointing (TorchRay's pointing
game, all / EBP-difficult / small-object trials), maxboxacc (wsolevaluation's MaxBoxAccV2,
with --tau-from DEV_RUN also at the taus a dev run chose), deletion and insertion (RISE's AUC
of the class's softmax probability; docs/metrics.md). Classification errors are always
measured. Every map is kept in OUT/saliency/; `thinktwice rescore OUT --out NEW ...` scores
them again under another box rule or metric without the network."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument(
        "dataset",
        help="imagenet-val-1000, voc2007, tiny-imagenet, a box manifest (.json), a VOC or "
        "ILSVRC folder",
    )
    add_methods_argument(parser, default=METHOD_NAMES)
    add_out_argument(parser, "folder for results.jsonl and the summary", required=True)
    parser.add_argument("--split", help="a split the data defines (dev, test, ...)")
    parser.add_argument("--limit", type=positive_int, help="only the first N images")
    add_model_arguments(parser)
    parser.add_argument(
        "--batch-size", type=positive_int, default=16, help="images per batch (default: 16)"
    )
    add_box_argument(parser)
    parser.add_argument(
        "--max-side",
        type=_max_side,
        default=DEFAULT_MAX_SIDE,
        metavar="N|none",
        help="run GrabCut on a copy of the photo at most N px on its long side and scale the "
        f"box back; 'none': the full photo (default: {DEFAULT_MAX_SIDE})",
    )
    parser.add_argument(
        "--box-smooth",
        type=float,
        default=DEFAULT_BOX_SMOOTH,
        metavar="S",
        help="blur each map by a Gaussian of sigma S x its longer side before its box; 0 is "
        f"the paper's recipe (default: {DEFAULT_BOX_SMOOTH})",
    )
    metrics = ",".join(DEFAULT_EVAL_METRICS)
    parser.add_argument(
        "--metrics",
        default=metrics,
        help=f"comma-separated, from {','.join(EVAL_METRICS)} (default: {metrics})",
    )
    parser.add_argument(
        "--metric-steps",
        type=positive_int,
        default=DEFAULT_METRIC_STEPS,
        help=f"steps of the deletion/insertion curves (default: {DEFAULT_METRIC_STEPS}; RISE: 224)",
    )
    parser.add_argument(
        "--rescale-boxes",
        action="store_true",
        help="scale the boxes of an annotation made for another photo size to the photo "
        "(default: report such samples as errors)",
    )
    parser.add_argument(
        "--class-map",
        help="JSON file mapping dataset class names (VOC) to lists of ImageNet indices "
        "(default: the VOC folder's imagenet_class_map.json, when it has one)",
    )
    add_scoring_arguments(parser)
    add_threads_argument(parser, "torch threads per process (default: the cores / ranks)")
    add_quiet_argument(parser, "no progress bar")
    add_device_argument(parser, threads=False)
    add_feedback_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from thinktwice.evaluation.datasets import open_dataset
    from thinktwice.evaluation.reporting import write_reports
    from thinktwice.evaluation.run.distributed import torchrun_shard
    from thinktwice.evaluation.run.run_folder import check_dataset, check_run_folder
    from thinktwice.evaluation.run.runner import EvalSettings, run_evaluation
    from thinktwice.models.zoo import load_model

    class_map = _read_class_map(args.class_map)
    settings = EvalSettings(
        methods=tuple(selected_methods(args)),
        model=args.model,
        dataset=dataset_label(args.dataset),
        split=args.split,
        weights=args.weights,
        box=args.box,
        method_options={"feedback": feedback_options(args)},
        batch_size=args.batch_size,
        limit=args.limit,
        max_side=args.max_side,
        box_smooth=args.box_smooth,
        metrics=tuple(dict.fromkeys(_split_list(args.metrics))),
        metric_steps=args.metric_steps,
        rescale_boxes=args.rescale_boxes,
        class_map=class_map,
        tau_step=args.tau_step,
        box_workers=args.box_workers,
        heldout=heldout_from(args.tau_from),
    )  # checked as it is made: refusals come before the model is loaded
    check_run_folder(args.out)
    dataset = open_dataset(
        args.dataset, split=args.split, class_map=class_map, rescale_boxes=args.rescale_boxes
    )
    # a VOC folder's own ImageNet class map applies unless --class-map gave one: record it
    settings = dataclasses.replace(settings, class_map=getattr(dataset, "class_map", class_map))
    _note_untargeted(dataset)
    check_dataset(dataset)
    model = load_model(args.model, weights=args.weights, device=args.device)
    with torchrun_shard(args.threads) as shard:
        scope = run_evaluation(
            model, dataset, args.out, settings, shard=shard, progress=not args.quiet,
            report=_warn,
        )  # fmt: skip
    if scope is not None:  # the main rank
        print_reports(write_reports(args.out), results=True)
    return 0


def print_reports(reports: WrittenReports, results: bool = False) -> None:
    """The summary table on stdout; where the results (``results``) and reports are, on
    stderr."""
    from thinktwice.evaluation.run.results import RESULTS_NAME

    paths = reports.paths
    print(reports.table())
    where = f"results: {paths['summary'].parent / RESULTS_NAME}, " if results else ""
    print(f"{where}summary: {paths['summary']}, {paths['table']}", file=sys.stderr)
    print(f"report: {paths['report']}", file=sys.stderr)


def _note_untargeted(dataset: Any) -> None:
    """One line on the photos a class map leaves without a target (VOC photos of persons
    only): they are not scored, and not errors either."""
    left_out = getattr(dataset, "untargeted", ())
    if left_out and os.environ.get("RANK", "0") == "0":
        total = len(dataset) + len(left_out)
        print(
            f"{PROGRAM}: note: {len(left_out)} of {total} photos have no object of a class the "
            f"class map names (only persons, say): they are not scored (first: {left_out[0]})",
            file=sys.stderr,
        )


def dataset_label(spec: str) -> str:
    """How run.json and the summary name the dataset: a name as it is, a path relative to the
    working directory (so a run folder says the same on every machine)."""
    text = str(spec).strip()
    if text.lower() in NAMED_DATASETS:
        return text.lower()
    return os.path.relpath(os.path.abspath(os.path.expanduser(text)))


def _max_side(text: str) -> int | None:
    if text.strip().lower() in ("none", "0", "full"):
        return None
    try:
        return int(text)
    except ValueError:
        message = f"expected a number of pixels or 'none', got {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _read_class_map(path: str | None) -> dict[str, list[int]] | None:
    from thinktwice.io.checked_json import read_json

    if path is None:
        return None
    try:
        data: Any = read_json(path, what="class map", limit=CLASS_MAP_LIMIT, error=OptionError)
    except OptionError as error:
        raise OptionError(f"--class-map {error}") from None
    if not isinstance(data, dict) or not all(
        isinstance(v, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in v)
        for v in data.values()
    ):
        raise OptionError(
            f"--class-map {path}: expected an object of class name -> list of ImageNet indices"
        )
    return data


def _warn(line: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(f"{PROGRAM}: warning: {line}", file=sys.stderr)
