"""What a run folder holds, read for its reports: its settings (``run.json``), what its last
evaluation covered (``scope.json``) and its records (``results.jsonl``), each read once.

``results.jsonl`` is reduced the one way the summary files and the HTML report share
(:class:`~thinktwice.evaluation.metrics.summary.LatestRecords`: the last scored line of
each (method, image)); every line that counts is checked
(:func:`~thinktwice.evaluation.run.record_check.record_problem`) and a broken one named in
one error line, before any report is written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thinktwice.errors import ThinkTwiceError
from thinktwice.evaluation.metrics.summary import LatestRecords
from thinktwice.evaluation.run.record_check import record_problem
from thinktwice.evaluation.run.results import RESULTS_NAME, RUN_NAME, ResultsFile, read_run_settings
from thinktwice.io.checked_json import read_json
from thinktwice.io.files import atomic_write

__all__ = ["SCOPE_NAME", "RunScope", "read_run_records", "run_settings"]

SCOPE_NAME = "scope.json"
#: scope.json lists image ids: a few megabytes for ImageNet's 50,000.
SCOPE_LIMIT = 64 * 2**20


@dataclass(frozen=True)
class RunScope:
    """What the last evaluation (or rescore) of a folder covered, so that its reports can be
    written again from the folder alone: its images in dataset order (a resume with a smaller
    ``--limit`` summarises fewer), its methods, and the held-out MaxBoxAcc taus it scored at
    (``--tau-from``). None: everything the results hold, no held-out taus."""

    image_ids: tuple[str, ...] | None = None
    methods: tuple[str, ...] | None = None
    heldout: Mapping[str, Mapping[str, float]] | None = None

    def write(self, run_dir: Path) -> Path:
        """``RUN_DIR/scope.json``, written atomically."""
        document = {
            "image_ids": None if self.image_ids is None else list(self.image_ids),
            "methods": None if self.methods is None else list(self.methods),
            "heldout": None
            if self.heldout is None
            else {method: dict(taus) for method, taus in self.heldout.items()},
        }
        text = json.dumps(document) + "\n"
        return atomic_write(Path(run_dir) / SCOPE_NAME, lambda handle: handle.write(text.encode()))

    @classmethod
    def read(cls, run_dir: Path) -> RunScope:
        """The scope a run recorded; everything when it recorded none (an older run)."""
        path = Path(run_dir) / SCOPE_NAME
        if not os.path.lexists(path):
            return cls()
        document = read_json(path, what="run scope", limit=SCOPE_LIMIT)
        if not _is_scope(document):
            raise ThinkTwiceError(
                f"{path}: not a thinktwice run scope (expected image_ids, methods and heldout); "
                "remove it to report everything the results hold"
            )
        images, methods = document.get("image_ids"), document.get("methods")
        return cls(
            image_ids=None if images is None else tuple(images),
            methods=None if methods is None else tuple(methods),
            heldout=document.get("heldout"),
        )


def _is_scope(document: Any) -> bool:
    def texts(value: Any) -> bool:
        return value is None or (isinstance(value, list) and all(isinstance(v, str) for v in value))

    return (
        isinstance(document, dict)
        and texts(document.get("image_ids"))
        and texts(document.get("methods"))
        and (document.get("heldout") is None or isinstance(document["heldout"], dict))
    )


def run_settings(run_dir: Path) -> dict[str, Any]:
    """run.json, or a one-line error saying why the folder is not a run."""
    if not run_dir.exists():
        raise ThinkTwiceError(f"{run_dir}: no such folder")
    if not run_dir.is_dir():
        raise ThinkTwiceError(f"{run_dir}: not a folder (give the --out folder of an eval run)")
    path = run_dir / RUN_NAME
    if not os.path.lexists(path):  # a FIFO or a device there is refused by the reader
        raise ThinkTwiceError(
            f"{run_dir} is not an evaluation run (no {RUN_NAME}); make one with "
            f"`thinktwice eval DATASET --out {run_dir}`"
        )
    return read_run_settings(path)


def read_run_records(run_dir: Path, scope: RunScope | None = None) -> LatestRecords:
    """The records of ``RUN_DIR/results.jsonl`` within ``scope``, reduced and checked; a
    one-line ThinkTwiceError when the file is missing, unreadable, holds no record, or a line
    that counts has broken fields."""
    path = run_dir / RESULTS_NAME
    if not os.path.lexists(path):
        raise ThinkTwiceError(
            f"{path} is missing: the run has no finished image yet (run `thinktwice eval` first)"
        )
    scope = scope or RunScope()
    try:
        latest = LatestRecords.of(ResultsFile(path).records(), scope.image_ids, scope.methods)
    except OSError as error:
        raise ThinkTwiceError(f"{path}: unreadable results ({error.strerror or error})") from error
    for (method, image_id), record in latest.scored.items():
        problem = record_problem(record)
        if problem is not None:
            raise ThinkTwiceError(
                f"{path}: the line for {image_id!r} / {method!r} {problem} (not a results line "
                "of thinktwice eval, or edited)"
            )
    if not latest.scored and not latest.errors:
        raise ThinkTwiceError(f"{path}: no readable result line (is it a results.jsonl file?)")
    return latest
