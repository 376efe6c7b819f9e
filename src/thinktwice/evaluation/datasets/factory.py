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
from thinktwice.evaluation.datasets.voc import VocDataset, folder_class_map, is_voc_root
from thinktwice.options import IMAGENET_VAL_1000, TINY_IMAGENET_NAMES, VOC2007

DATASETS_ENV = "THINKTWICE_DATASETS"
LAYOUTS = (
    "accepted: a name (imagenet-val-1000, voc2007, tiny-imagenet), a .json box manifest, or a "
    "folder "
    "in Tiny ImageNet, PASCAL VOC or ILSVRC layout (`thinktwice eval --help` shows each)"
)


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
    rescale_boxes: bool = False,
) -> Dataset:
    """The dataset ``spec`` names or points to, restricted to ``split`` (None: all).

    ``class_map`` (VOC name -> ImageNet indices) is used by VOC data only; None
    takes the folder's own ``imagenet_class_map.json`` when it has one (``voc2007``
    does; for ImageNet-1k classifiers), ``{}`` reads the VOC names without a map.
    ``rescale_boxes``: scale a sample's boxes to its photo when the annotation
    records another size (otherwise that sample is an error; see
    :meth:`Dataset.with_photo`).
    """
    text = str(spec).strip()
    if text.lower() in TINY_IMAGENET_NAMES:
        return TinyImageNetVal(
            default_datasets_dir() / "tiny-imagenet-val", split=split, rescale_boxes=rescale_boxes
        )
    if text.lower() in (IMAGENET_VAL_1000, VOC2007):
        return _open_folder(_named_folder(text.lower()), split, class_map, rescale_boxes)
    path = Path(text).expanduser()
    if not path.exists():
        raise DatasetError(f"dataset not found: {path} is neither a name nor a path; {LAYOUTS}")
    if path.is_file():
        if is_manifest(path):
            return ManifestDataset(path, split=split, rescale_boxes=rescale_boxes)
        raise DatasetError(f"{path} is a file but not a .json box manifest; {LAYOUTS}")
    return _open_folder(path, split, class_map, rescale_boxes)


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
    path: Path,
    split: str | None,
    class_map: Mapping[str, Iterable[int]] | None,
    rescale_boxes: bool = False,
) -> Dataset:
    if is_tiny_imagenet(path):
        return TinyImageNetVal(path, split=split, rescale_boxes=rescale_boxes)
    voc_root = _voc_root(path)
    if voc_root is not None:
        if class_map is None:
            class_map = folder_class_map(voc_root)
        return VocDataset(voc_root, split=split, class_map=class_map, rescale_boxes=rescale_boxes)
    ilsvrc = find_ilsvrc_dirs(path)
    if ilsvrc is not None:
        return IlsvrcDataset(
            *ilsvrc,
            split=split,
            name=path.name or "ilsvrc-val",
            split_lists=find_split_lists(path),
            rescale_boxes=rescale_boxes,
        )
    raise DatasetError(f"unrecognised dataset layout in {path}; {LAYOUTS}")


def _voc_root(path: Path) -> Path | None:
    """``path`` itself, or its only VOC-style child (a VOCdevkit folder), if any."""
    if is_voc_root(path):
        return path
    children = [child for child in sorted(path.iterdir()) if child.is_dir() and is_voc_root(child)]
    return children[0] if len(children) == 1 else None
