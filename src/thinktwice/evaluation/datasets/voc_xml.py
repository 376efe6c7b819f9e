"""Parsing of PASCAL-VOC-style annotation XML, shared by the VOC and ILSVRC readers.

Both formats store one file per image::

    <annotation>
      <filename>...</filename>
      <size><width>500</width><height>375</height>...</size>
      <object><name>dog</name><difficult>0</difficult>
        <bndbox><xmin>48</xmin><ymin>240</ymin><xmax>195</xmax><ymax>371</ymax></bndbox>
      </object> ...
    </annotation>

This module returns the raw integers; each reader applies its own coordinate
convention (VOC is 1-based, ILSVRC 0-based; see their docstrings).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from thinktwice.errors import DatasetError
from thinktwice.evaluation.datasets.base import parse_int, read_annotation

_BOX_FIELDS = ("xmin", "ymin", "xmax", "ymax")


@dataclass(frozen=True)
class RawObject:
    """One <object> as written in the file."""

    name: str
    difficult: bool
    coords: tuple[int, int, int, int]  # xmin, ymin, xmax, ymax as in the file


@dataclass(frozen=True)
class RawAnnotation:
    """One annotation file as written."""

    filename: str | None
    width: int
    height: int
    objects: tuple[RawObject, ...]


def read_voc_xml(path: Path) -> RawAnnotation:
    """Parse one annotation file; DatasetError naming the file (and line) on any defect."""
    data = read_annotation(path)  # a FIFO or a device is refused before reading
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        line = error.position[0] if error.position else "?"
        raise DatasetError(f"{path}:{line}: not valid XML ({error})") from error
    if root.tag != "annotation":
        raise DatasetError(f"{path}: root element is <{root.tag}>, expected <annotation>")
    size = root.find("size")
    if size is None:
        raise DatasetError(f"{path}: missing <size>")
    width = parse_int(size.findtext("width"), str(path), "<size><width>")
    height = parse_int(size.findtext("height"), str(path), "<size><height>")
    if width <= 0 or height <= 0:
        raise DatasetError(f"{path}: image size {width}x{height} is not positive")
    objects = tuple(
        _read_object(element, f"{path}: object {i + 1}")
        for i, element in enumerate(root.findall("object"))
    )
    filename = root.findtext("filename")
    return RawAnnotation(filename.strip() if filename else None, width, height, objects)


def _read_object(element: ET.Element, where: str) -> RawObject:
    name = (element.findtext("name") or "").strip()
    if not name:
        raise DatasetError(f"{where}: missing <name>")
    where = f"{where} ({name})"
    difficult_text = element.findtext("difficult")
    difficult = False
    if difficult_text is not None and difficult_text.strip():
        flag = parse_int(difficult_text, where, "<difficult>")
        if flag not in (0, 1):
            raise DatasetError(f"{where}: <difficult> must be 0 or 1, got {flag}")
        difficult = flag == 1
    box = element.find("bndbox")
    if box is None:
        raise DatasetError(f"{where}: missing <bndbox>")
    xmin, ymin, xmax, ymax = (
        parse_int(box.findtext(tag), where, f"<{tag}>") for tag in _BOX_FIELDS
    )
    return RawObject(name=name, difficult=difficult, coords=(xmin, ymin, xmax, ymax))
