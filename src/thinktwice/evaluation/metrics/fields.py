"""Reading typed fields of a results line, with a one-line error naming the bad field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from thinktwice.errors import ThinkTwiceError

_MISSING = object()


def checked_field(data: Mapping[str, Any], key: str, kind: type, default: Any = _MISSING) -> Any:
    """``data[key]`` checked to be of ``kind`` (ints accepted for floats, bools never for
    numbers); ``default`` when absent or null, if one is given."""
    value = data.get(key)
    if value is None:
        if default is _MISSING:
            raise ThinkTwiceError(f"outcome field {key!r} is missing")
        return default
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise ThinkTwiceError(f"outcome field {key!r} must be {kind.__name__}, got {value!r}")
    return value
