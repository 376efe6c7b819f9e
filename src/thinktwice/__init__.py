"""thinktwice: Feedback CNNs that look and think twice.

A top-down feedback pass (Cao et al., ICCV 2015) that shows where a
convolutional classifier sees a given class, and turns that into object boxes
without box supervision.
"""

from thinktwice.errors import ThinkTwiceError
from thinktwice.explain import Explanation, explain
from thinktwice.localization import Box, Localization, localize
from thinktwice.models import Classifier, list_models, load_model, wrap

__version__ = "0.1.0"

__all__ = [
    "Box",
    "Classifier",
    "Explanation",
    "ThinkTwiceError",
    "explain",
    "list_models",
    "load_model",
    "localize",
    "Localization",
    "wrap",
]
