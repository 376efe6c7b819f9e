"""Is a results line one that ``thinktwice eval`` wrote? Every field the summary, the report and a
resume read, checked before any of them uses it.

A results file is plain text: it can be edited by hand, cut by a full disk or
written by another tool. A line whose fields have the wrong types or values
(``top5: ["a"]``, a box of two numbers, ``seconds: "x"``) would otherwise end a
summary or a report in a traceback, far from the line at fault.
:func:`record_problem` says what is wrong with a line in a few words, so the
reader can skip it (a resume computes it again) or name it in one error line.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

from thinktwice.errors import ThinkTwiceError
from thinktwice.evaluation.metrics.localization import ImageOutcome
from thinktwice.evaluation.run.results import ResultsFile

__all__ = ["finished_pairs", "record_problem"]


def record_problem(record: Mapping[str, Any]) -> str | None:
    """Why ``record`` (a parsed results line) is not a usable result, or None when it is."""
    if not isinstance(record.get("image_id"), str) or not isinstance(record.get("method"), str):
        return "lacks a text 'image_id' or 'method'"
    if "error" in record:
        return None if isinstance(record["error"], str) else "has an 'error' that is not text"
    for check in (_ranked_problem, _boxes_problem, _seconds_problem, _outcome_problem):
        problem = check(record)
        if problem is not None:
            return problem
    return None


def finished_pairs(results: ResultsFile) -> set[tuple[str, str]]:
    """The (image_id, method) pairs a resumed run need not compute again: those whose last
    result line (error lines aside) is usable. A line with broken fields (edited by hand?)
    is named in a warning and its pair computed again; the new line then supersedes it."""
    latest = {
        (str(r["image_id"]), str(r["method"])): r for r in results.records() if "error" not in r
    }
    finished = set()
    for (image_id, method), record in latest.items():
        problem = record_problem(record)
        if problem is None:
            finished.add((image_id, method))
        else:
            warnings.warn(
                f"{results.path}: the line for {image_id!r} / {method!r} {problem}; that "
                "result will be computed again",
                stacklevel=2,
            )
    return finished


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _ranked_problem(record: Mapping[str, Any]) -> str | None:
    ranked = record.get("top5")
    if ranked is None:
        return "lacks 'top5'"
    if not isinstance(ranked, list) or not ranked or not all(_is_index(c) for c in ranked):
        return f"has 'top5' {_short(ranked)}, not a list of class indices"
    return None


def _boxes_problem(record: Mapping[str, Any]) -> str | None:
    boxes = record.get("boxes", {})
    if not isinstance(boxes, dict):
        return f"has 'boxes' {_short(boxes)}, not an object"
    for key, box in boxes.items():
        if not key.isdigit():
            return f"has a box for {key!r}, not a class index"
        if isinstance(box, str):
            continue
        if not (isinstance(box, list) and len(box) == 4 and all(_is_index(v) for v in box)):
            return f"has box {_short(box)} for class {key}, not [x0, y0, x1, y1] pixels"
        if box[0] > box[2] or box[1] > box[3]:
            return f"has box {box} for class {key}, whose far corner precedes its near one"
    return None


def _seconds_problem(record: Mapping[str, Any]) -> str | None:
    seconds = record.get("seconds", {})
    if not isinstance(seconds, dict) or not all(_is_number(v) and v >= 0 for v in seconds.values()):
        return f"has 'seconds' {_short(seconds)}, not an object of durations"
    if "finished_at" in record and not _is_number(record["finished_at"]):
        return f"has 'finished_at' {_short(record['finished_at'])}, not a time"
    return None


def _outcome_problem(record: Mapping[str, Any]) -> str | None:
    try:
        ImageOutcome.from_json(record)
    except ThinkTwiceError as error:
        return str(error)
    for trial in record.get("pointing", []):
        if not _is_index(trial.get("class_index")):
            return f"has a pointing trial {_short(trial)} without a class index"
    return None


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
