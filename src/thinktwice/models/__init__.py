"""The model zoo and the wrapper that makes any classifier explainable.

Names are imported on first use: ``thinktwice.models.classes`` (class names,
no torch) can be read without loading the networks.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "ClassNames": "thinktwice.models.classes",
    "imagenet_classes": "thinktwice.models.classes",
    "Classifier": "thinktwice.models.classifier",
    "wrap": "thinktwice.models.classifier",
    "DEFAULT_MODEL": "thinktwice.models.zoo",
    "MODELS": "thinktwice.models.zoo",
    "list_models": "thinktwice.models.zoo",
    "load_model": "thinktwice.models.zoo",
}

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "ClassNames",
    "Classifier",
    "imagenet_classes",
    "list_models",
    "load_model",
    "wrap",
]

if TYPE_CHECKING:
    from thinktwice.models.classes import ClassNames, imagenet_classes
    from thinktwice.models.classifier import Classifier, wrap
    from thinktwice.models.zoo import DEFAULT_MODEL, MODELS, list_models, load_model


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'thinktwice.models' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
