"""Exceptions thinktwice raises on bad input.

Every error a user can cause (a missing weights file, an unknown class name, an
unreadable image, an option out of range) is a subclass of
:class:`ThinkTwiceError`, so the CLI can turn it into one clear line and exit
code 2 instead of a traceback.
"""

from __future__ import annotations


class ThinkTwiceError(Exception):
    """Base class of all errors caused by the caller's input."""


class WeightsError(ThinkTwiceError):
    """A weights file is missing, unreadable or of the wrong architecture."""


class UnknownClassError(ThinkTwiceError, KeyError):
    """A class index out of range or a class name no model class matches."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ImageError(ThinkTwiceError):
    """An image file that cannot be read or decoded."""


class TargetError(ThinkTwiceError):
    """Targets that do not fit the images they are given for."""


class DatasetError(ThinkTwiceError):
    """A dataset folder or annotation file that cannot be read."""


class OptionError(ThinkTwiceError, ValueError):
    """An option outside its valid range or choices (the message lists the valid ones)."""


class UnknownModelError(OptionError):
    """A model name that is not in the zoo."""


class InputError(ThinkTwiceError, ValueError):
    """An input tensor of the wrong shape or value range (images must be in [0, 1])."""


class ModelError(ThinkTwiceError, TypeError):
    """A model thinktwice cannot explain as given: not wrapped, or nothing a method can act on."""
