"""Reading JSON that someone may have edited, truncated or crafted: one clear error, never a crash.

``json.loads`` alone lets through what later code cannot handle, or fails in ways
a command-line tool should not show: a document nested 100,000 levels deep
raises ``RecursionError``; ``NaN``, ``Infinity`` and ``1e400`` become non-finite
floats that break every comparison further on; a UTF-8 byte-order mark is a
decode error. :func:`parse_json` refuses all of these with the caller's error
class and a message naming where the text came from; :func:`read_json` also
reads the file safely (a regular file of bounded size, see
:func:`~thinktwice.io.files.read_regular_file`).
"""

from __future__ import annotations

import json
import math
from typing import Any

from thinktwice.errors import ThinkTwiceError
from thinktwice.io.files import ErrorType, PathLike, read_regular_file

__all__ = ["DEFAULT_LIMIT", "parse_json", "read_json"]

#: The largest JSON file read by default (manifests of a few hundred thousand boxes fit).
DEFAULT_LIMIT = 256 * 2**20


class _NotFinite(ValueError):
    """A number JSON cannot hold as a finite float (NaN, Infinity, 1e400)."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


def _no_constant(text: str) -> float:
    raise _NotFinite(text)


def parse_json(data: bytes | str, where: str, error: ErrorType = ThinkTwiceError) -> Any:
    """The JSON value in ``data`` (bytes are UTF-8, a byte-order mark allowed); ``error``
    with ``where`` and the reason for invalid, non-finite or too deeply nested JSON."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise error(f"{where}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    elif data.startswith("\ufeff"):
        data = data[1:]
    try:
        return json.loads(data, parse_float=_finite_float, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise error(f"{where}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except _NotFinite as exc:
        message = f"{where}: the number {exc} is not finite (JSON here holds finite numbers)"
        raise error(message) from None
    except RecursionError:
        raise error(f"{where}: JSON nested too deeply to be a thinktwice file") from None


def read_json(
    path: PathLike,
    *,
    what: str = "JSON file",
    error: ErrorType = ThinkTwiceError,
    limit: int = DEFAULT_LIMIT,
) -> Any:
    """The JSON value of the regular file ``path`` (at most ``limit`` bytes), or ``error``."""
    data = read_regular_file(path, limit=limit, what=what, error=error)
    return parse_json(data, str(path), error)
