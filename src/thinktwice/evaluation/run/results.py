"""The results file of an evaluation run: one JSON line per (image, method), never lost.

Each line is appended whole: the file is opened with ``O_APPEND``, an ``flock``
keeps the writers (torchrun ranks) one at a time, short writes are continued
until every byte is written, and the line is fsync'ed before the next result.
When a write fails (a full disk, a file-size limit) the file is cut back to
where it was and the error raised, so no partial line is left behind by a
writer that is still alive. A writer killed mid-line (SIGKILL, SIGXFSZ) may
still leave a torn last line: :meth:`ResultsFile.repair` cuts it before a run
appends anything, so a new record is never glued to it; reading skips
anything that is not a complete record.

``run.json`` beside it records what produced the results (dataset, model,
options); resuming with different settings is refused instead of silently
mixing two experiments in one summary.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from thinktwice.errors import ThinkTwiceError
from thinktwice.io.checked_json import parse_json, read_json
from thinktwice.io.files import atomic_write, open_for_append, open_regular, write_all

RESULTS_NAME = "results.jsonl"
RUN_NAME = "run.json"
# Version of the records' content; a folder written with another version cannot be resumed.
# 2: pointing maps resized as TorchRay does, "small" trial flags, faithfulness metrics.
# 3: every metric reads the map as stored in saliency/ (float16), MaxBoxAcc trials.
RESULTS_FORMAT = 3
_CHUNK = 1 << 16
#: run.json holds a few settings; a class map makes it a few kilobytes.
RUN_LIMIT = 16 * 2**20


class ResultsFile:
    """Append-only JSON-lines file of per-(image, method) records."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one record as one whole line, durably; ThinkTwiceError (file unchanged) if not."""
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        descriptor = open_for_append(self.path)  # a planted symlink or FIFO is refused
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            start = os.fstat(descriptor).st_size
            try:
                write_all(descriptor, line)
                os.fsync(descriptor)
            except OSError as error:
                _cut_back(descriptor, start)
                raise ThinkTwiceError(
                    f"{self.path}: cannot append a result ({error.strerror or error}); "
                    "the results written so far are intact, resume when there is room"
                ) from error
        finally:
            os.close(descriptor)

    def repair(self) -> int:
        """Cut a torn last line (a killed writer's), so appends start on a fresh line.

        Returns how many bytes were cut (0 when the file is whole or absent).
        """
        if not os.path.lexists(self.path):
            return 0
        descriptor = open_for_append(self.path, readable=True)  # no symlink, no FIFO
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            size = os.fstat(descriptor).st_size
            keep = _end_of_last_line(descriptor, size)
            if keep == size:
                return 0
            os.ftruncate(descriptor, keep)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        warnings.warn(
            f"{self.path}: cut {size - keep} bytes of an incomplete last line (a run was killed "
            "while writing it; that result will be computed again)",
            stacklevel=2,
        )
        return size - keep

    def records(self) -> Iterator[dict[str, Any]]:
        """Every complete record; a line that is not one is skipped with a warning."""
        if not os.path.lexists(self.path):
            return
        with open_regular(self.path) as handle:  # a FIFO or a device is refused, not read
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


def _end_of_last_line(descriptor: int, size: int) -> int:
    """The offset just after the file's last newline (0 when it has none)."""
    end = size
    while end > 0:
        start = max(0, end - _CHUNK)
        chunk = os.pread(descriptor, end - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


def _cut_back(descriptor: int, size: int) -> None:
    """Undo a partial append (best effort: the caller reports the original error)."""
    with contextlib.suppress(OSError):
        os.ftruncate(descriptor, size)


def _parse_line(raw: bytes) -> dict[str, Any] | None:
    if not raw.endswith(b"\n"):
        return None
    try:  # NaN, 1e400 and 100,000 nested brackets are no record either
        record = parse_json(raw, "a results line")
    except ThinkTwiceError:
        return None
    if not isinstance(record, dict) or "image_id" not in record or "method" not in record:
        return None
    return record


def check_run_settings(out_dir: Path, settings: Mapping[str, Any]) -> None:
    """Record ``settings`` in ``run.json``, or refuse when the folder holds another run's.

    Call it only with settings already validated: what it writes binds the folder.
    """
    path = Path(out_dir) / RUN_NAME
    wanted = json.loads(json.dumps(settings))
    if path.exists():
        recorded = read_run_settings(path)
        if recorded.get("format") != wanted.get("format"):
            raise ThinkTwiceError(
                f"{out_dir} holds results written by another version of thinktwice (results "
                f"format {recorded.get('format', 1)}, this one writes {wanted.get('format')}); "
                "choose another --out folder"
            )
        if recorded != wanted:
            changed = sorted(
                k for k in set(recorded) | set(wanted) if recorded.get(k) != wanted.get(k)
            )
            details = "; ".join(
                f"{k}: {json.dumps(recorded.get(k))} there, {json.dumps(wanted.get(k))} now"
                for k in changed
            )
            raise ThinkTwiceError(
                f"{out_dir} holds results of a run with different settings ({details}); "
                "resume with the same settings or choose another --out folder"
            )
        return
    text = json.dumps(wanted, indent=2) + "\n"
    atomic_write(path, lambda handle: handle.write(text.encode()))


def read_run_settings(path: Path) -> dict[str, Any]:
    """The settings a ``run.json`` records; ThinkTwiceError (one line) when it holds none."""
    try:
        recorded = read_json(path, what="run record", limit=RUN_LIMIT)
    except ThinkTwiceError as error:
        reason = str(error).removeprefix(str(path))  # ":3: not valid JSON (...)", ": is a FIFO"
        reason = f"line {reason[1:]}" if reason[1:2].isdigit() else reason.lstrip(": ")
        raise ThinkTwiceError(
            f"{path}: not a thinktwice run record ({reason}); remove it or choose another "
            "--out folder"
        ) from None
    if not isinstance(recorded, dict):
        raise ThinkTwiceError(
            f"{path}: not a thinktwice run record (a JSON {type(recorded).__name__}, expected "
            "an object); remove it or choose another --out folder"
        )
    return recorded
