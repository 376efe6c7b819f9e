"""thinktwice: Feedback CNNs that look and think twice.

A top-down feedback pass (Cao et al., ICCV 2015) that shows where a
convolutional classifier sees a given class, and turns that into object boxes
without box supervision.

The public names are imported on first use, so ``import thinktwice`` (and the
``thinktwice`` program's ``--help``) does not load torch until it is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from thinktwice.errors import ThinkTwiceError

#: The package version: the one place it is written (pyproject.toml reads it from here).
__version__ = "0.1.0"

# public name -> the module that defines it
_LAZY = {
    "Box": "thinktwice.localization",
    "Classifier": "thinktwice.models",
    "Explanation": "thinktwice.explanation",
    "explain": "thinktwice.explanation",
    "list_models": "thinktwice.models",
    "load_model": "thinktwice.models",
    "localize": "thinktwice.localization",
    "Localization": "thinktwice.localization",
    "wrap": "thinktwice.models",
}

__all__ = [
    "Box",
    "Classifier",
    "Explanation",
    "Localization",
    "ThinkTwiceError",
    "__version__",
    "explain",
    "list_models",
    "load_model",
    "localize",
    "wrap",
]

if TYPE_CHECKING:
    from thinktwice.explanation import Explanation, explain
    from thinktwice.localization import Box, Localization, localize
    from thinktwice.models import Classifier, list_models, load_model, wrap


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'thinktwice' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
