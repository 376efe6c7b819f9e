"""Saliency methods behind one interface: ``Method(model).attribute(images, target)``.

Adding a method is one new module here with an :class:`AttributionMethod` subclass
that sets ``name``, ``label`` and ``order``: importing this package imports every
module in it, and each such class registers itself in :data:`METHODS` (and the
command line lists it, :data:`thinktwice.options.METHOD_NAMES`).
"""

import importlib
import pkgutil

from thinktwice.attribution.base import Attribution, AttributionMethod, registered_methods
from thinktwice.attribution.deconvnet import Deconvnet
from thinktwice.attribution.excitation_backprop import (
    ContrastiveExcitationBackprop,
    ExcitationBackprop,
)
from thinktwice.attribution.feedback import Feedback
from thinktwice.attribution.gradcam import GradCAM
from thinktwice.attribution.gradient import Gradient
from thinktwice.attribution.guided_backprop import GuidedBackprop

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

#: Method name -> class, in display order: every method module of this package.
METHODS: dict[str, type[AttributionMethod]] = registered_methods()

__all__ = [
    "METHODS",
    "Attribution",
    "AttributionMethod",
    "ContrastiveExcitationBackprop",
    "Deconvnet",
    "ExcitationBackprop",
    "Feedback",
    "GradCAM",
    "Gradient",
    "GuidedBackprop",
]
