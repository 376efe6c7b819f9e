"""The model zoo and the wrapper that makes any classifier explainable."""

from thinktwice.models.classes import ClassNames, imagenet_classes
from thinktwice.models.classifier import Classifier, wrap
from thinktwice.models.zoo import DEFAULT_MODEL, MODELS, list_models, load_model

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
