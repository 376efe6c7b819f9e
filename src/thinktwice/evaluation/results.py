"""The results file of an evaluation run: one JSON line per (image, method), never lost.

Each line is written with a single ``os.write`` on a file opened with
``O_APPEND`` and then fsync'ed, so a process killed at any moment (even by
SIGKILL) leaves every finished line intact and at most one torn last line,
which reading skips. Several processes (torchrun ranks) append to the same
file safely for the same reason: an appended write lands whole at the end.

``run.json`` beside it records what produced the results (dataset, model,
options); resuming with different settings is refused instead of silently
mixing two experiments in one summary.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from thinktwice.errors import ThinkTwiceError

RESULTS_NAME = "results.jsonl"
RUN_NAME = "run.json"


class ResultsFile:
    """Append-only JSON-lines file of per-(image, method) records."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one record as one line, durably, in one system call."""
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, line)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every complete record; a torn line (a killed writer's last) is skipped with a warning."""
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                record = _parse_line(raw)
                if record is None:
                    warnings.warn(
                        f"{self.path}:{number}: skipping an incomplete line (a run was killed "
                        "while writing it; that result will be computed again)",
                        stacklevel=2,
                    )
                    continue
                yield record

    def done(self) -> set[tuple[str, str]]:
        """The (image_id, method) pairs with a finished result."""
        return {(r["image_id"], r["method"]) for r in self.records() if "error" not in r}


def _parse_line(raw: bytes) -> dict[str, Any] | None:
    if not raw.endswith(b"\n"):
        return None
    try:
        record = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or "image_id" not in record or "method" not in record:
        return None
    return record


def check_run_settings(out_dir: Path, settings: Mapping[str, Any]) -> None:
    """Record ``settings`` in ``run.json``, or refuse when the folder holds another run's."""
    path = out_dir / RUN_NAME
    wanted = json.loads(json.dumps(settings))
    if path.exists():
        try:
            recorded = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ThinkTwiceError(f"{path}: unreadable run settings ({error})") from error
        if recorded != wanted:
            changed = sorted(
                k for k in set(recorded) | set(wanted) if recorded.get(k) != wanted.get(k)
            )
            raise ThinkTwiceError(
                f"{out_dir} holds results of a run with different settings ({', '.join(changed)}); "
                "resume with the same settings or choose another --out folder"
            )
        return
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(wanted, indent=2) + "\n")
    os.replace(temporary, path)
