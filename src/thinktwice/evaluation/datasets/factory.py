"""``open_dataset``: one entry point that recognises a dataset by name or by its layout."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from thinktwice.errors import DatasetError
from thinktwice.evaluation.datasets.base import Dataset
from thinktwice.evaluation.datasets.ilsvrc import (
    IlsvrcDataset,
    find_ilsvrc_dirs,
    find_split_lists,
)
from thinktwice.evaluation.datasets.manifest import ManifestDataset, is_manifest
from thinktwice.evaluation.datasets.tiny_imagenet import TinyImageNetVal, is_tiny_imagenet
from thinktwice.evaluation.datasets.voc import VocDataset, is_voc_root

DATASETS_ENV = "THINKTWICE_DATASETS"
TINY_IMAGENET_NAMES = ("tiny-imagenet", "tiny-imagenet-val")
IMAGENET_VAL_1000 = "imagenet-val-1000"
LAYOUTS = """accepted datasets:
  imagenet-val-1000             the shared 1,000 ILSVRC-2012 val photos (splits dev, test)
  tiny-imagenet                 the shared Tiny ImageNet validation set
  DIR with val_annotations.txt + images/            Tiny ImageNet val
  FILE.json with an "images" list                   box manifest (boxes.json)
  DIR with Annotations/ + JPEGImages/ [+ ImageSets/Main/]   PASCAL VOC
  DIR with Annotations/*.xml + images/*.JPEG        ILSVRC validation
      (or Annotations/CLS-LOC/val + Data/CLS-LOC/val); ROOT/<split>.txt id lists
      define splits"""


def default_datasets_dir() -> Path:
    """Where named datasets live: $THINKTWICE_DATASETS, else ../shared/datasets."""
    override = os.environ.get(DATASETS_ENV)
    if override:
        return Path(override)
    project_root = Path(__file__).resolve().parents[4]
    return project_root.parent / "shared" / "datasets"


def open_dataset(
    spec: str | Path,
    split: str | None = None,
    class_map: Mapping[str, Iterable[int]] | None = None,
) -> Dataset:
    """The dataset ``spec`` names or points to, restricted to ``split`` (None: all).

    ``class_map`` (VOC name -> ImageNet indices) is used by VOC data only.
    """
    text = str(spec).strip()
    if text.lower() in TINY_IMAGENET_NAMES:
        return TinyImageNetVal(default_datasets_dir() / "tiny-imagenet-val", split=split)
    if text.lower() == IMAGENET_VAL_1000:
        return _open_folder(_named_folder(IMAGENET_VAL_1000), split, class_map)
    path = Path(text).expanduser()
    if not path.exists():
        raise DatasetError(f"dataset not found: {path} is neither a name nor a path\n{LAYOUTS}")
    if path.is_file():
        if is_manifest(path):
            return ManifestDataset(path, split=split)
        raise DatasetError(f"{path} is a file but not a .json box manifest\n{LAYOUTS}")
    return _open_folder(path, split, class_map)


def _named_folder(name: str) -> Path:
    """Where a named dataset lives; a clear error when it is not there."""
    folder = default_datasets_dir() / name
    if not folder.is_dir():
        raise DatasetError(
            f"dataset {name!r} not found at {folder}; set ${DATASETS_ENV} to the folder "
            f"that holds {name}/"
        )
    return folder


def _open_folder(
    path: Path, split: str | None, class_map: Mapping[str, Iterable[int]] | None
) -> Dataset:
    if is_tiny_imagenet(path):
        return TinyImageNetVal(path, split=split)
    voc_root = _voc_root(path)
    if voc_root is not None:
        return VocDataset(voc_root, split=split, class_map=class_map)
    ilsvrc = find_ilsvrc_dirs(path)
    if ilsvrc is not None:
        return IlsvrcDataset(
            *ilsvrc,
            split=split,
            name=path.name or "ilsvrc-val",
            split_lists=find_split_lists(path),
        )
    raise DatasetError(f"unrecognised dataset layout in {path}\n{LAYOUTS}")


def _voc_root(path: Path) -> Path | None:
    """``path`` itself, or its only VOC-style child (a VOCdevkit folder), if any."""
    if is_voc_root(path):
        return path
    children = [child for child in sorted(path.iterdir()) if child.is_dir() and is_voc_root(child)]
    return children[0] if len(children) == 1 else None
