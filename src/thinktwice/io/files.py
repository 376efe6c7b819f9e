"""Writing files safely: atomic replacement, whole appends, and a lock on an output folder.

* :func:`atomic_write` writes to a temporary file created with ``O_EXCL`` under
  a random name in the destination folder (so a planted file or symlink is never
  opened, let alone followed), then renames it over the destination with
  :func:`os.replace`, which is atomic on one file system. A failure leaves any
  previous file untouched and removes the temporary file.
* :func:`write_all` writes every byte or raises: ``os.write`` may write only a
  part (a full disk, a file-size limit) and say so only in its return value.
* :func:`folder_lock` holds an exclusive ``flock`` on a lock file in a folder for
  as long as a job writes there; a second job on the same folder is refused at
  once instead of interleaving its output with the first one's.

Problems with a destination raise :class:`OSError` with a one-line message
naming the path, which a command-line tool can print as is.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from thinktwice.errors import ThinkTwiceError

__all__ = ["LOCK_NAME", "PathLike", "atomic_write", "folder_lock", "write_all"]

PathLike = str | os.PathLike[str]

LOCK_NAME = ".thinktwice.lock"


def atomic_write(path: PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write`` on a fresh temporary file next to ``path``, then rename it to ``path``."""
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise OSError(f"cannot write {target}: the folder {folder} does not exist")
    if target.is_dir():
        raise OSError(f"cannot write {target}: it is a directory")
    temporary = folder / f".{target.name}.{secrets.token_hex(6)}.tmp"
    try:
        # O_EXCL: fail rather than open anything already there (a symlink is never followed);
        # mode 0o666 lets the umask decide the final permissions, as open() would.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        descriptor = os.open(temporary, flags, 0o666)
    except OSError as exc:
        raise OSError(f"cannot write {target}: {_reason(exc, folder)}") from exc
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException as exc:
        temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OSError(f"cannot write {target}: {_reason(exc, folder)}") from exc
        raise
    return target


def write_all(descriptor: int, data: bytes) -> None:
    """Write all of ``data`` to ``descriptor``, looping over short writes; OSError otherwise."""
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        if written <= 0:
            raise OSError(errno.EIO, "the write made no progress")
        view = view[written:]


@contextmanager
def folder_lock(folder: PathLike, purpose: str = "another thinktwice job") -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (a ``flock`` on its lock file) while inside.

    Fails at once, with one line naming the folder and the holder's process id,
    when another process holds it. The lock dies with its process (even on
    SIGKILL), so a killed job never leaves the folder locked.
    """
    path = Path(folder) / LOCK_NAME
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        descriptor = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            message = f"{path} is a symbolic link; refusing to use it as a lock"
            raise ThinkTwiceError(message) from exc
        raise OSError(f"cannot lock {folder}: {_reason(exc, Path(folder))}") from exc
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            raise ThinkTwiceError(
                f"{folder} is in use by {purpose} (process {holder}); wait for it to finish "
                "or choose another output folder"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(descriptor)  # releases the lock


def _reason(exc: OSError, folder: Path) -> str:
    if isinstance(exc, PermissionError):
        return f"permission denied (the folder {folder} is not writable)"
    return exc.strerror or str(exc) or type(exc).__name__
