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
* :func:`read_regular_file` reads a file only when it is a regular file of at
  most ``limit`` bytes: a named pipe (FIFO), a device (``/dev/zero``), a socket
  or a folder is refused before anything is read, so nothing hangs on a FIFO or
  fills memory from a device. :func:`open_for_append` opens a regular file for
  appending without following a symbolic link, and :func:`own_folder` refuses a
  symbolic link planted where an output sub-folder goes: nothing is written
  outside the folder a job was given.

Problems with a destination raise :class:`OSError` with a one-line message
naming the path, which a command-line tool can print as is.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from thinktwice.errors import ThinkTwiceError

#: The exception class a helper raises (the caller's own: DatasetError, OptionError, ...).
ErrorType = type[Exception]

__all__ = [
    "LOCK_NAME",
    "PathLike",
    "atomic_write",
    "folder_lock",
    "open_for_append",
    "open_regular",
    "own_folder",
    "read_regular_file",
    "remove_stale_temporaries",
    "write_all",
]

PathLike = str | os.PathLike[str]

LOCK_NAME = ".thinktwice.lock"
_TEMPORARY_SUFFIX = ".tmp"
_TEMPORARY_NAME = re.compile(r"\..+\.[0-9a-f]{12}\.tmp")


def atomic_write(path: PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write`` on a fresh temporary file next to ``path``, then rename it to ``path``."""
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise OSError(f"cannot write {target}: the folder {folder} does not exist")
    if target.is_dir():
        raise OSError(f"cannot write {target}: it is a directory")
    temporary = folder / f".{target.name}.{secrets.token_hex(6)}{_TEMPORARY_SUFFIX}"
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


def open_regular(path: PathLike, error: ErrorType = ThinkTwiceError) -> BinaryIO:
    """``path`` opened for binary reading when it is a regular file (``error`` otherwise).

    A FIFO, a device, a socket or a folder (also behind a symbolic link) is refused
    before it is opened for reading, so a planted FIFO never blocks the reader and
    ``/dev/zero`` never fills its memory; a file name the system cannot hold (a lone
    surrogate) is refused too.
    """
    file = Path(path)
    _require_regular(file, _reading(file, error, lambda: os.stat(file)), error)  # before open
    descriptor = _reading(
        file, error, lambda: os.open(file, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    )
    try:
        _require_regular(file, os.fstat(descriptor), error)  # what was opened, if it changed
    except BaseException:
        os.close(descriptor)
        raise
    return os.fdopen(descriptor, "rb")


def read_regular_file(
    path: PathLike, *, limit: int, what: str = "file", error: ErrorType = ThinkTwiceError
) -> bytes:
    """The bytes of ``path`` when it is a regular file (see :func:`open_regular`) of at most
    ``limit`` bytes (a ``what`` is never larger); ``error``, one line naming it, otherwise."""
    file = Path(path)
    with open_regular(file, error) as handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise error(f"{file}: {size:,} bytes, more than a {what} may have ({limit:,})")
            data = handle.read(limit + 1)
        except OSError as exc:
            raise error(f"{file}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise error(f"{file}: grew past the {limit:,} bytes a {what} may have while read")
    return data


def open_for_append(
    path: PathLike, error: ErrorType = ThinkTwiceError, *, readable: bool = False
) -> int:
    """A descriptor appending to the regular file ``path`` (created if absent; ``readable``:
    open for reading too).

    A symbolic link there is refused, not followed (the data would land outside the
    folder), and so is anything but a regular file (a FIFO would block the writer).
    """
    file = Path(path)
    flags = os.O_RDWR if readable else os.O_WRONLY
    flags |= os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        descriptor = os.open(file, flags, 0o644)
    except OSError as exc:
        raise error(_write_refusal(file, exc)) from None
    try:
        _require_regular(file, os.fstat(descriptor), error)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def own_folder(folder: PathLike, error: ErrorType = ThinkTwiceError) -> Path:
    """``folder`` created if needed, refused when it is a symbolic link or not a folder:
    the place a job writes into must be the folder it was given, not a link elsewhere."""
    path = Path(folder)
    if path.is_symlink():
        raise error(
            f"{path} is a symbolic link; refusing to write through it (remove it, or choose "
            "another output folder)"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise error(f"{path} exists and is not a folder") from None
    except OSError as exc:
        raise error(f"{path}: cannot create the folder ({exc.strerror or exc})") from None
    if path.is_symlink() or not path.is_dir():
        raise error(f"{path} exists and is not a folder")
    return path


def remove_stale_temporaries(folder: PathLike) -> list[Path]:
    """Remove the temporary files :func:`atomic_write` left in ``folder`` when its process
    was killed (SIGKILL gives no chance to clean up); returns what was removed.

    Only for a folder no other writer uses at the moment (hold its :func:`folder_lock`).
    """
    path = Path(folder)
    if not path.is_dir() or path.is_symlink():
        return []
    removed = []
    for entry in os.scandir(path):
        if _TEMPORARY_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _reading(file: Path, error: ErrorType, call: Callable[[], Any]) -> Any:
    """``call()``, a system call on ``file``, with its failure as one line of ``error``."""
    try:
        return call()
    except FileNotFoundError:
        raise error(f"{file}: no such file") from None
    except (UnicodeEncodeError, ValueError):  # a lone surrogate ("\ud800"), a NUL byte
        raise error(f"{_shown(file)}: not a file name this system can hold") from None
    except OSError as exc:
        raise error(f"{file}: cannot read it ({exc.strerror or exc})") from None


def _require_regular(file: Path, status: os.stat_result, error: ErrorType) -> None:
    if stat.S_ISREG(status.st_mode):
        return
    kind = next((name for test, name in _KINDS if test(status.st_mode)), "not a regular file")
    raise error(f"{file} is {kind}, not a regular file; refusing to use it")


def _write_refusal(file: Path, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return f"{file} is a symbolic link; refusing to write through it (remove it)"
    if exc.errno == errno.ENXIO:  # O_NONBLOCK on a FIFO without a reader
        return f"{file} is a named pipe (FIFO), not a regular file; refusing to use it"
    return f"cannot write {file}: {_reason(exc, file.parent)}"


def _shown(file: Path) -> str:
    """A path as text that can be printed, whatever bytes or surrogates its name holds."""
    return str(file).encode("utf-8", "backslashreplace").decode("utf-8")


def _reason(exc: OSError, folder: Path) -> str:
    if isinstance(exc, PermissionError):
        return f"permission denied (the folder {folder} is not writable)"
    return exc.strerror or str(exc) or type(exc).__name__
