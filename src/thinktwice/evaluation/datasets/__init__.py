"""Dataset readers for the localization benchmarks.

Every reader yields :class:`Sample` records (image path, size and
:class:`GroundTruth` objects with ImageNet-1k class sets and inclusive 0-based
boxes), so the evaluation runner and the metrics never see a file format.
:func:`open_dataset` picks the reader from a name or a folder layout.
"""

from __future__ import annotations

from thinktwice.errors import DatasetError
from thinktwice.evaluation.datasets.base import Dataset, GroundTruth, Sample
from thinktwice.evaluation.datasets.factory import default_datasets_dir, open_dataset
from thinktwice.evaluation.datasets.ilsvrc import IlsvrcDataset
from thinktwice.evaluation.datasets.manifest import ManifestDataset
from thinktwice.evaluation.datasets.tiny_imagenet import TinyImageNetVal
from thinktwice.evaluation.datasets.voc import VocDataset

__all__ = [
    "Dataset",
    "DatasetError",
    "GroundTruth",
    "IlsvrcDataset",
    "ManifestDataset",
    "Sample",
    "TinyImageNetVal",
    "VocDataset",
    "default_datasets_dir",
    "open_dataset",
]
