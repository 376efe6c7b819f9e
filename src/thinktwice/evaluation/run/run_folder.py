"""What an evaluation checks in its output folder before it writes there.

``thinktwice eval ... --out RUN_DIR`` appends to ``RUN_DIR/results.jsonl`` and
writes ``run.json``, ``maps/``, the summaries and the report. Before any of that
(and before the model is loaded, so a refusal is immediate) the folder is
checked: it must be a folder; the files a run reads and appends to must be
regular files, not symbolic links (an append would follow one out of the
folder), FIFOs (a read would hang) or devices; and results without the
``run.json`` that says what produced them cannot be resumed (a run with another
model would silently mix two experiments in one summary).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from thinktwice.errors import DatasetError, ThinkTwiceError
from thinktwice.evaluation.datasets.base import Dataset
from thinktwice.evaluation.run.maps_store import MAPS_DIR
from thinktwice.evaluation.run.results import RESULTS_NAME, RUN_NAME, read_run_settings
from thinktwice.io.files import PathLike, remove_stale_temporaries

__all__ = ["check_dataset", "check_run_folder", "tidy_run_folder"]


def check_run_folder(out_dir: PathLike) -> Path:
    """``out_dir`` as a Path, or a one-line ThinkTwiceError saying why no run may write there."""
    out = Path(out_dir)
    if os.path.lexists(out) and not out.is_dir():
        raise ThinkTwiceError(f"{out} exists and is not a folder; --out takes a folder")
    if not out.is_dir():
        return out  # a new folder: nothing planted yet
    for name in (RESULTS_NAME, RUN_NAME, MAPS_DIR):
        path = out / name
        if path.is_symlink():
            raise ThinkTwiceError(
                f"{path} is a symbolic link; a run never writes through one (it would write "
                "outside the folder): remove it or choose another --out folder"
            )
    for name in (RESULTS_NAME, RUN_NAME):
        path = out / name
        if os.path.lexists(path) and not stat.S_ISREG(os.lstat(path).st_mode):
            raise ThinkTwiceError(
                f"{path} is not a regular file (a FIFO or a device?); remove it or choose "
                "another --out folder"
            )
    results, run = out / RESULTS_NAME, out / RUN_NAME
    if run.exists():
        read_run_settings(run)  # a garbage run.json is refused now, not after the model loads
    if results.exists() and results.stat().st_size and not run.exists():
        raise ThinkTwiceError(
            f"{out} holds results but no {RUN_NAME} saying which model and settings made them; "
            f"resuming could mix two experiments: restore {RUN_NAME} or choose another --out "
            "folder"
        )
    return out


def tidy_run_folder(out_dir: PathLike) -> None:
    """Remove the temporary files of writers killed in ``out_dir`` and its maps (call it
    holding the folder's lock, before this run writes)."""
    out = Path(out_dir)
    remove_stale_temporaries(out)
    remove_stale_temporaries(out / MAPS_DIR)


def check_dataset(dataset: Dataset) -> None:
    """A DatasetError when ``dataset`` holds no image, before a run writes anything for it."""
    if len(dataset) == 0:
        split = f" (split {dataset.split!r})" if dataset.split else ""
        raise DatasetError(f"{dataset.name}{split} holds no image: nothing to evaluate")
