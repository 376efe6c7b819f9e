"""``thinktwice feedback-trace``: the score and the open gates, pass by pass."""

from __future__ import annotations

import argparse
import json

from thinktwice.cli.common import (
    add_device_argument,
    add_feedback_arguments,
    add_model_arguments,
    add_quiet_argument,
    add_target_argument,
    feedback_options,
    method_variant,
    model_from_args,
    output_folder,
    say,
    target_specs,
)

NAME = "feedback-trace"
HELP = "plot the target score and the fraction of open gates per layer at each feedback pass"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="an image file")
    add_target_argument(parser, repeat=False)
    parser.add_argument("--out", default="out", help="output folder")
    add_model_arguments(parser)
    add_device_argument(parser)
    add_quiet_argument(parser)
    add_feedback_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from thinktwice.cli.photos import pair_stem, read_photos
    from thinktwice.explanation import explain
    from thinktwice.visualization import feedback_trace_figure, model_label, save_figure
    from thinktwice.visualization.files import atomic_write

    model = model_from_args(args)
    specs = target_specs(model, args.target)
    out = output_folder(args.out)
    photos, _ = read_photos([args.image])
    if not photos:
        return 2
    photo = photos[0]
    result = explain(model, photo.image, specs[0], method="feedback", **feedback_options(args))
    target = int(result.targets[0])
    scores = result.scores[:, 0].tolist()
    fractions = result.details["open_fraction"][..., 0].T.numpy()  # [sites, passes]
    sites = list(result.details["sites"])
    name = model.classes.name(target)
    label, key, options = method_variant("feedback", args)
    title = f"{label} on {model_label(model.name)} for “{name}”"
    figure = feedback_trace_figure(scores, fractions, sites, title=title)
    changed = "" if key == "feedback" else f"__{key}"
    stem = out / f"{pair_stem(photo, target, model)}__trace{changed}"
    say(args, save_figure(figure, stem.with_suffix(".png")))
    trace = {
        "image": str(photo.path),
        "target": target,
        "class_name": name,
        "solver": result.details["solver"],
        "label": label,
        "options": options,
        "scores": scores,
        "open_fraction": {
            s: np.round(f, 6).tolist() for s, f in zip(sites, fractions, strict=True)
        },
    }
    text = json.dumps(trace, indent=1) + "\n"
    say(args, atomic_write(stem.with_suffix(".json"), lambda h: h.write(text.encode())))
    return 0
