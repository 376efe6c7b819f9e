"""Saliency methods behind one interface: ``Method(model).attribute(images, target)``.

Adding a method is one new module with an :class:`AttributionMethod` subclass,
registered in :data:`METHODS`.
"""

from thinktwice.attribution.base import Attribution, AttributionMethod
from thinktwice.attribution.deconvnet import Deconvnet
from thinktwice.attribution.excitation_backprop import (
    ContrastiveExcitationBackprop,
    ExcitationBackprop,
)
from thinktwice.attribution.feedback import Feedback
from thinktwice.attribution.gradcam import GradCAM
from thinktwice.attribution.gradient import Gradient
from thinktwice.attribution.guided_backprop import GuidedBackprop

METHODS: dict[str, type[AttributionMethod]] = {
    cls.name: cls
    for cls in (
        Gradient,
        Deconvnet,
        GuidedBackprop,
        GradCAM,
        ExcitationBackprop,
        ContrastiveExcitationBackprop,
        Feedback,
    )
}

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
