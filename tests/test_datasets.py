"""Dataset readers: real shared data (Tiny ImageNet val, the box manifest) and
ILSVRC / VOC annotation files written by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from thinktwice.errors import DatasetError
from thinktwice.evaluation.datasets import (
    Dataset,
    IlsvrcDataset,
    ManifestDataset,
    TinyImageNetVal,
    VocDataset,
    open_dataset,
)
from thinktwice.localization.boxes import Box
from thinktwice.models.classes import imagenet_classes

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TINY = SHARED / "datasets" / "tiny-imagenet-val"
MANIFEST = SHARED / "images" / "boxes.json"
SYNSET_MAPPING = SHARED / "datasets" / "imagenet" / "LOC_synset_mapping.txt"

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data folder {SHARED} absent")


def class_of(wnid: str) -> int:
    return imagenet_classes().ids.index(wnid)


# --- Tiny ImageNet (real files) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny() -> TinyImageNetVal:
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder {SHARED} absent")
    return TinyImageNetVal(TINY)


@needs_shared
def test_tiny_counts_and_splits(tiny: TinyImageNetVal) -> None:
    dev, test = TinyImageNetVal(TINY, split="dev"), TinyImageNetVal(TINY, split="test")
    assert (len(tiny), len(dev), len(test)) == (10_000, 5_000, 5_000)
    assert tiny.splits == ("dev", "test")
    assert all(int(i.split("_")[1]) < 5000 for i in dev.image_ids)
    assert all(int(i.split("_")[1]) >= 5000 for i in test.image_ids)
    assert set(dev.image_ids) | set(test.image_ids) == set(tiny.image_ids)


@needs_shared
def test_tiny_known_annotation(tiny: TinyImageNetVal) -> None:
    sample = tiny[0]
    assert sample.image_id == "val_0"
    assert sample.path == TINY / "images" / "val_0.JPEG"
    assert sample.path.is_file()
    assert (sample.width, sample.height) == (64, 64)
    (obj,) = sample.objects
    assert obj.names == ("n03444034",)
    assert obj.box == Box(0, 32, 44, 62)  # inclusive, exactly as in the file
    assert obj.classes == frozenset({class_of("n03444034")})


@needs_shared
def test_tiny_classes_match_loc_synset_mapping(tiny: TinyImageNetVal) -> None:
    lines = SYNSET_MAPPING.read_text(encoding="utf-8").splitlines()
    index = {line.split()[0]: i for i, line in enumerate(lines)}
    assert len(index) == 1000
    seen = set()
    for sample in tiny:
        (obj,) = sample.objects
        assert obj.classes == frozenset({index[obj.names[0]]})
        seen.add(obj.names[0])
    assert len(seen) == 200


@needs_shared
def test_tiny_boxes_inclusive_inside_image(tiny: TinyImageNetVal) -> None:
    boxes = [s.objects[0].box for s in tiny]
    assert all(0 <= b.x0 <= b.x1 <= 63 and 0 <= b.y0 <= b.y1 <= 63 for b in boxes)
    assert max(max(b.x1, b.y1) for b in boxes) == 63
    assert any(b.x0 == b.x1 for b in boxes)  # one-pixel-wide boxes are kept, not dropped


@needs_shared
def test_open_dataset_tiny_by_name_and_path() -> None:
    by_name = open_dataset("tiny-imagenet", split="dev")
    by_path = open_dataset(str(TINY), split="test")
    assert isinstance(by_name, TinyImageNetVal) and isinstance(by_path, TinyImageNetVal)
    assert (len(by_name), len(by_path)) == (5000, 5000)
    with pytest.raises(DatasetError, match="dev, test"):
        open_dataset("tiny-imagenet", split="val")


def write_tiny(root: Path, lines: list[str]) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "val_annotations.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("val_1.JPEG\tn03444034\t0\t32\t44", "6 tab-separated columns"),
        ("val_1.JPEG\tn03444034\t0\tabc\t44\t62", "'abc' is not a number"),
        ("val_1.JPEG\tn03444034\t0\t32\t64\t62", "outside the 64x64 image"),
        ("val_1.JPEG\tn03444034\t9\t32\t4\t62", "empty or outside"),
        ("val_1.JPEG\tn99999999\t0\t32\t44\t62", "'n99999999'"),
        ("picture.jpg\tn03444034\t0\t32\t44\t62", "val_N.JPEG"),
    ],
)
def test_tiny_malformed_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    root = write_tiny(tmp_path / "tiny", ["val_0.JPEG\tn03444034\t0\t32\t44\t62", line])
    with pytest.raises(DatasetError, match=message) as error:
        TinyImageNetVal(root)
    assert f"{root / 'val_annotations.txt'}:2:" in str(error.value)


# --- box manifest (real file) ------------------------------------------------------------------


@needs_shared
def test_manifest_images_objects_and_boxes() -> None:
    data = ManifestDataset(MANIFEST)
    assert len(data) == 4
    assert data.splits == ()
    objects = [obj for sample in data for obj in sample.objects]
    assert len(objects) == 8
    for sample in data:
        assert sample.path.is_file()
        for obj in sample.objects:
            b = obj.box
            assert 0 <= b.x0 <= b.x1 < sample.width and 0 <= b.y0 <= b.y1 < sample.height
            assert obj.classes and all(0 <= c < 1000 for c in obj.classes)
    zebra_elephant = {s.image_id: s for s in data}["elephant_zebra_2"]
    elephant = zebra_elephant.objects[1]
    # [295, 40, 640, 460] with exclusive far edges on a 640-wide image
    assert elephant.box == Box(295, 40, 639, 459)
    assert elephant.classes == frozenset({101, 385, 386})
    assert zebra_elephant.boxes_of(340) == (Box(0, 200, 214, 399),)


@needs_shared
def test_manifest_has_no_splits() -> None:
    assert isinstance(open_dataset(str(MANIFEST)), ManifestDataset)
    with pytest.raises(DatasetError, match="no splits"):
        open_dataset(str(MANIFEST), split="test")


def test_manifest_box_outside_image(tmp_path: Path) -> None:
    path = tmp_path / "boxes.json"
    entry = {
        "file": "a.jpg",
        "width": 100,
        "height": 50,
        "objects": [{"classes": [1], "box": [10, 10, 101, 40]}],
    }
    path.write_text(json.dumps({"images": [entry]}), encoding="utf-8")
    with pytest.raises(DatasetError, match="outside the 100x50 image") as error:
        ManifestDataset(path)
    assert str(path) in str(error.value)


def test_manifest_bad_json_names_line(tmp_path: Path) -> None:
    path = tmp_path / "boxes.json"
    path.write_text('{"images": [\n  {"file": }\n]}', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"boxes\.json:2"):
        ManifestDataset(path)


# --- ILSVRC XML (written by the tests) -----------------------------------------------------------


def voc_xml(filename: str, size: tuple[int, int], objects: list[tuple]) -> str:
    parts = [
        f"<object><name>{name}</name><difficult>{int(difficult)}</difficult><bndbox>"
        f"<xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax>"
        "</bndbox></object>"
        for name, (x0, y0, x1, y1), difficult in objects
    ]
    return (
        f"<annotation><folder>val</folder><filename>{filename}</filename>"
        f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>"
        + "".join(parts)
        + "</annotation>"
    )


def write_ilsvrc(root: Path, files: dict[str, str], images: bool = True) -> Path:
    (root / "Annotations").mkdir(parents=True)
    (root / "images").mkdir()
    for stem, text in files.items():
        (root / "Annotations" / f"{stem}.xml").write_text(text, encoding="utf-8")
        if images:
            (root / "images" / f"{stem}.JPEG").write_bytes(b"")
    return root


def test_ilsvrc_reads_boxes_classes_and_difficult(tmp_path: Path) -> None:
    stem = "ILSVRC2012_val_00000001"
    text = voc_xml(
        stem,
        (500, 375),
        [
            ("n01751748", (0, 10, 499, 374), False),
            ("n01440764", (20, 30, 40, 50), True),
        ],
    )
    root = write_ilsvrc(tmp_path / "ilsvrc", {stem: text})
    data = IlsvrcDataset(root / "Annotations", root / "images")
    assert len(data) == 1 and data.image_ids == (stem,)
    sample = data[0]
    assert sample.path == root / "images" / f"{stem}.JPEG"
    assert (sample.width, sample.height) == (500, 375)
    snake, tench = sample.objects
    assert snake.box == Box(0, 10, 499, 374)  # 0-based inclusive, used as written
    assert snake.classes == frozenset({class_of("n01751748")}) and not snake.difficult
    assert tench.classes == frozenset({0}) and tench.difficult
    assert tench.names == ("n01440764",)


def test_ilsvrc_far_edge_at_image_size_is_clipped(tmp_path: Path) -> None:
    text = voc_xml("img", (100, 80), [("n01440764", (5, 6, 100, 80), False)])
    root = write_ilsvrc(tmp_path / "ilsvrc", {"img": text})
    assert IlsvrcDataset(root / "Annotations", root / "images")[0].objects[0].box == Box(
        5, 6, 99, 79
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<annotation><size><width>10</width>", "not valid XML"),
        (voc_xml("img", (100, 80), [("n01440764", (5, 6, 101, 70), False)]), "outside"),
        (voc_xml("img", (100, 80), [("n00000000", (5, 6, 50, 70), False)]), "n00000000"),
        (voc_xml("img", (100, 80), [("n01440764", (5, "six", 50, 70), False)]), "'six'"),
    ],
)
def test_ilsvrc_malformed_annotation(tmp_path: Path, text: str, message: str) -> None:
    root = write_ilsvrc(tmp_path / "ilsvrc", {"img": text})
    data = IlsvrcDataset(root / "Annotations", root / "images")
    with pytest.raises(DatasetError, match=message) as error:
        data[0]
    assert str(root / "Annotations" / "img.xml") in str(error.value)


def test_ilsvrc_missing_image(tmp_path: Path) -> None:
    text = voc_xml("img", (100, 80), [("n01440764", (5, 6, 50, 70), False)])
    root = write_ilsvrc(tmp_path / "ilsvrc", {"img": text}, images=False)
    with pytest.raises(DatasetError, match="img.JPEG not found"):
        IlsvrcDataset(root / "Annotations", root / "images")[0]


def test_open_dataset_ilsvrc_layouts(tmp_path: Path) -> None:
    text = voc_xml("img", (100, 80), [("n01440764", (5, 6, 50, 70), False)])
    plain = write_ilsvrc(tmp_path / "plain", {"img": text})
    assert isinstance(open_dataset(plain), IlsvrcDataset)
    kaggle = tmp_path / "kaggle"
    (kaggle / "Annotations" / "CLS-LOC" / "val").mkdir(parents=True)
    (kaggle / "Data" / "CLS-LOC" / "val").mkdir(parents=True)
    (kaggle / "Annotations" / "CLS-LOC" / "val" / "img.xml").write_text(text, encoding="utf-8")
    (kaggle / "Data" / "CLS-LOC" / "val" / "img.JPEG").write_bytes(b"")
    data = open_dataset(kaggle)
    assert isinstance(data, IlsvrcDataset) and data[0].objects[0].box == Box(5, 6, 50, 70)
    with pytest.raises(DatasetError, match="no splits"):
        open_dataset(plain, split="val")


# --- PASCAL VOC (written by the tests) -----------------------------------------------------------


def write_voc(root: Path) -> Path:
    for folder in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / folder).mkdir(parents=True)
    files = {
        "000001": voc_xml(
            "000001.jpg",
            (353, 500),
            [
                ("dog", (48, 240, 195, 371), False),
                ("person", (8, 12, 352, 498), True),
            ],
        ),
        "000002": voc_xml("000002.jpg", (335, 500), [("train", (1, 1, 335, 500), False)]),
    }
    for stem, text in files.items():
        (root / "Annotations" / f"{stem}.xml").write_text(text, encoding="utf-8")
        (root / "JPEGImages" / f"{stem}.jpg").write_bytes(b"")
    (root / "ImageSets/Main/test.txt").write_text("000001\n", encoding="utf-8")
    (root / "ImageSets/Main/train.txt").write_text("000002\n", encoding="utf-8")
    (root / "ImageSets/Main/dog_test.txt").write_text("000001  1\n", encoding="utf-8")
    return root


def test_voc_one_based_boxes_difficult_and_names(tmp_path: Path) -> None:
    data = VocDataset(write_voc(tmp_path / "VOC2007"))
    assert data.splits == ("test", "train")  # per-class lists are not splits
    assert data.image_ids == ("000001", "000002")
    dog, person = data[0].objects
    assert dog.box == Box(47, 239, 194, 370)  # 1-based inclusive -> 0-based inclusive
    assert person.difficult and not dog.difficult
    assert (dog.names, dog.classes) == (("dog",), frozenset())
    assert data[1].objects[0].box == Box(0, 0, 334, 499)  # full-image box fits exactly
    assert data[0].path == tmp_path / "VOC2007" / "JPEGImages" / "000001.jpg"


def test_voc_class_map_and_splits(tmp_path: Path) -> None:
    root = write_voc(tmp_path / "VOC2007")
    data = VocDataset(root, split="test", class_map={"dog": [207, 208]})
    assert len(data) == 1
    dog, person = data[0].objects
    assert dog.classes == frozenset({207, 208}) and person.classes == frozenset()
    with pytest.raises(DatasetError, match="it has: test, train"):
        VocDataset(root, split="val")
    with pytest.raises(DatasetError, match="1000"):
        VocDataset(root, class_map={"dog": [1000]})


def test_voc_malformed_xml_and_bad_split_file(tmp_path: Path) -> None:
    root = write_voc(tmp_path / "VOC2007")
    bad = root / "Annotations" / "000002.xml"
    bad.write_text("<annotation><object></annotation>", encoding="utf-8")
    with pytest.raises(DatasetError, match="not valid XML") as error:
        VocDataset(root)[1]
    assert str(bad) in str(error.value)
    (root / "ImageSets/Main/val.txt").write_text("000001\n000009\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"val\.txt:2: no annotation"):
        VocDataset(root, split="val")


def test_voc_box_outside_image(tmp_path: Path) -> None:
    root = write_voc(tmp_path / "VOC2007")
    text = voc_xml("000002.jpg", (335, 500), [("train", (0, 1, 335, 500), False)])
    (root / "Annotations" / "000002.xml").write_text(text, encoding="utf-8")
    with pytest.raises(DatasetError, match="outside the 335x500 image"):
        VocDataset(root)[1]


def test_open_dataset_voc_root_and_devkit_parent(tmp_path: Path) -> None:
    root = write_voc(tmp_path / "VOCdevkit" / "VOC2007")
    assert isinstance(open_dataset(root, split="train"), VocDataset)
    data = open_dataset(tmp_path / "VOCdevkit", class_map={"dog": [207]})
    assert isinstance(data, VocDataset) and data[0].objects[0].classes == frozenset({207})


def test_voc_folder_class_map_applies_by_default_and_a_given_map_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """voc2007 by name ($THINKTWICE_DATASETS) or by path: the folder's imagenet_class_map.json
    gives the classes; a person (unmapped) stays in the photo with no class; a photo of only
    unmapped objects is left out (listed in ``untargeted``); class_map={} reads no map."""
    root = write_voc(tmp_path / "voc2007")
    (root / "imagenet_class_map.json").write_text('{"dog": [151, 152]}', encoding="utf-8")
    monkeypatch.setenv("THINKTWICE_DATASETS", str(tmp_path))
    for spec in ("voc2007", "VOC2007 ", root):
        data = open_dataset(spec)
        assert data.image_ids == ("000001",) and data.untargeted == ("000002",)
        dog, person = data[0].objects
        assert dog.classes == frozenset({151, 152}) and person.classes == frozenset()
        assert data.class_map == {"dog": [151, 152]}
    given = open_dataset("voc2007", class_map={"train": [466]})
    assert given.class_map == {"train": [466]} and given.image_ids == ("000002",)
    unmapped = open_dataset("voc2007", class_map={})
    assert unmapped.class_map is None and unmapped.image_ids == ("000001", "000002")
    (root / "imagenet_class_map.json").write_text('{"dog": [1000]}', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"imagenet_class_map\.json.*0\.\.999"):
        open_dataset("voc2007")
    (root / "imagenet_class_map.json").write_text('["dog"]', encoding="utf-8")
    with pytest.raises(DatasetError, match="expected an object"):
        open_dataset(root)


def test_voc2007_missing_says_where_it_looked(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("THINKTWICE_DATASETS", str(tmp_path))
    with pytest.raises(DatasetError, match=r"'voc2007' not found.*THINKTWICE_DATASETS"):
        open_dataset("voc2007", split="test")


@pytest.mark.skipif(
    not (SHARED / "datasets" / "voc2007").is_dir(),
    reason="../shared/datasets/voc2007 is absent (a user's clone)",
)
def test_shared_voc2007_by_name() -> None:
    """The shared set: dev 765 and test 250 photos, disjoint; photos of persons only are left
    out; every photo left has a target, and persons stay as class-less objects."""
    dev, test = open_dataset("voc2007", split="dev"), open_dataset("voc2007", split="test")
    assert len(dev) + len(dev.untargeted) == 765 and len(test) + len(test.untargeted) == 250
    assert not set(dev.image_ids) & set(test.image_ids)
    assert "person" not in test.class_map and test.class_map["cat"] == [281, 282, 283, 284, 285]
    samples = [test[i] for i in range(len(test))]
    assert all(sample.classes for sample in samples)
    persons = [o for s in samples for o in s.objects if o.names == ("person",)]
    assert persons and all(not o.classes for o in persons)


# --- open_dataset errors and the Dataset protocol ----------------------------------------------


def test_open_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        open_dataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="unrecognised dataset layout"):
        open_dataset(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("hi", encoding="utf-8")
    with pytest.raises(DatasetError, match="not a .json box manifest"):
        open_dataset(tmp_path / "notes.txt")


def test_dataset_indexing_protocol(tmp_path: Path) -> None:
    data: Dataset = VocDataset(write_voc(tmp_path / "VOC2007"))
    assert [s.image_id for s in data] == list(data.image_ids)
    assert data[-1] == data[1]
    with pytest.raises(IndexError):
        data[2]
    with pytest.raises(TypeError):
        data["000001"]  # type: ignore[index]
    assert "VOC2007" in repr(data)


def test_ilsvrc_split_lists_select_and_order_images(tmp_path: Path) -> None:
    text = (
        "<annotation><size><width>100</width><height>80</height></size><object>"
        "<name>n01440764</name><bndbox><xmin>5</xmin><ymin>6</ymin><xmax>50</xmax>"
        "<ymax>70</ymax></bndbox></object></annotation>"
    )
    root = write_ilsvrc(tmp_path / "lists", {"a": text, "b": text, "c": text})
    (root / "dev.txt").write_text("c\na\n\n")
    (root / "test.txt").write_text("b\n")
    dev = open_dataset(root, split="dev")
    assert dev.splits == ("dev", "test") and dev.image_ids == ("c", "a")
    assert open_dataset(root, split="test").image_ids == ("b",)
    assert len(open_dataset(root)) == 3
    with pytest.raises(DatasetError, match="no split 'val'"):
        open_dataset(root, split="val")
    (root / "test.txt").write_text("b\nzzz\n")
    with pytest.raises(DatasetError, match="zzz"):
        open_dataset(root, split="test")


@pytest.mark.skipif(
    not (SHARED / "datasets" / "imagenet-val-1000").is_dir(),
    reason="../shared/datasets/imagenet-val-1000 is absent (a user's clone)",
)
def test_imagenet_val_1000_by_name_has_disjoint_dev_and_test() -> None:
    dev = open_dataset("imagenet-val-1000", split="dev")
    test = open_dataset("imagenet-val-1000", split="test")
    assert len(dev) == 500 and len(test) == 500
    assert not set(dev.image_ids) & set(test.image_ids)
    sample = dev[0]
    assert (sample.width, sample.height) == (227, 227) and sample.objects


# --- recorded size vs the decoded photo, unknown classes, documented formats --------------------


def test_xml_size_is_checked_against_the_photo(tmp_path: Path) -> None:
    """An annotation made for a 500x349 photo given with a 227x227 file: one error line, or,
    with rescale_boxes, the boxes in the photo's pixels (the issue's case)."""
    from PIL import Image

    text = voc_xml("img", (500, 349), [("n01440764", (100, 50, 399, 298), False)])
    root = write_ilsvrc(tmp_path / "ilsvrc", {"img": text})
    Image.new("RGB", (227, 227), (90, 90, 90)).save(root / "images" / "img.JPEG", "JPEG")
    with pytest.raises(DatasetError) as error:
        open_dataset(root).with_photo(0)
    message = str(error.value)
    assert "\n" not in message and "img.xml" in message
    assert "500x349" in message and "227x227" in message and "--rescale-boxes" in message
    sample, image = open_dataset(root, rescale_boxes=True).with_photo(0)
    assert image.size == (227, 227) and (sample.width, sample.height) == (227, 227)
    # pixel x covers [x, x + 1): x [100, 400) * 227/500 = [45.4, 181.6) -> 45..181 inclusive,
    # y [50, 299) * 227/349 = [32.5, 194.5) -> 33..193 (edges rounded)
    assert sample.objects[0].box == Box(45, 33, 181, 193)


def test_matching_size_passes_unchanged(tmp_path: Path) -> None:
    from PIL import Image

    text = voc_xml("img", (120, 90), [("n01440764", (10, 10, 50, 50), False)])
    root = write_ilsvrc(tmp_path / "ilsvrc", {"img": text})
    Image.new("RGB", (120, 90)).save(root / "images" / "img.JPEG", "JPEG")
    data = open_dataset(root)
    assert data.with_photo(0)[0] == data[0]


def test_unknown_synset_names_file_and_box(tmp_path: Path) -> None:
    text = voc_xml("img", (100, 80), [("n00000000", (5, 6, 50, 70), False)])
    root = write_ilsvrc(tmp_path / "ilsvrc", {"img": text})
    with pytest.raises(DatasetError, match=r"img\.xml: object 1 .*box \[5, 6, 50, 70\]"):
        open_dataset(root)[0]
    manifest = tmp_path / "boxes.json"
    entry = {"file": "x.jpg", "width": 100, "height": 80,
             "objects": [{"classes": ["n00000000"], "box": [5, 6, 50, 70]}]}  # fmt: skip
    manifest.write_text(json.dumps({"images": [entry]}))
    with pytest.raises(DatasetError, match=r"boxes\.json.*'x\.jpg'.*box \[5, 6, 50, 70\]"):
        ManifestDataset(manifest)


def test_manifest_classes_by_index_or_synset_id(tmp_path: Path) -> None:
    manifest = tmp_path / "boxes.json"
    entry = {"file": "x.jpg", "width": 100, "height": 80,
             "objects": [{"classes": [281, "n02124075"], "box": [5, 6, 50, 70]}]}  # fmt: skip
    manifest.write_text(json.dumps({"images": [entry]}))
    assert ManifestDataset(manifest)[0].objects[0].classes == frozenset({281, 285})


def test_the_formats_documented_in_eval_help_are_read_as_documented(tmp_path: Path) -> None:
    """The manifest and XML examples of `thinktwice eval --help` parse, with the box
    conventions it states (manifest far edges exclusive, ILSVRC 0-based and VOC 1-based
    inclusive corners)."""
    import re

    from thinktwice.cli.commands.eval import EPILOG

    manifest_text = re.search(r'\{"images".*?\]\}\]\}', EPILOG, re.S).group(0)
    (tmp_path / "boxes.json").write_text(manifest_text)
    kitten = ManifestDataset(tmp_path / "boxes.json")[0].objects[0]
    assert kitten.box == Box(80, 70, 244, 304) and kitten.classes == frozenset({281, 282})

    ilsvrc_xml, voc_xml_text = re.findall(r"<annotation>.*?</annotation>", EPILOG, re.S)
    root = write_ilsvrc(tmp_path / "ilsvrc", {"ILSVRC2012_val_00000001": ilsvrc_xml})
    obj = open_dataset(root)[0].objects[0]
    assert obj.box == Box(111, 108, 310, 238) and obj.classes == frozenset({65})

    voc = tmp_path / "voc"
    (voc / "Annotations").mkdir(parents=True)
    (voc / "JPEGImages").mkdir()
    (voc / "Annotations" / "000001.xml").write_text(voc_xml_text)
    (voc / "JPEGImages" / "000001.jpg").write_bytes(b"")
    class_map = json.loads(re.search(r'\{"dog".*?\]\}', EPILOG).group(0))
    dog = open_dataset(voc, class_map=class_map)[0].objects[0]
    assert dog.box == Box(47, 239, 194, 370) and dog.classes == frozenset({151, 152, 153})

    line = re.search(r"val_0\.JPEG.*", EPILOG).group(0).split()
    tiny = tmp_path / "tiny"
    (tiny / "images").mkdir(parents=True)
    (tiny / "val_annotations.txt").write_text("\t".join(line) + "\n")
    sample = open_dataset(tiny)[0]
    assert sample.objects[0].box == Box(0, 32, 44, 62) and (sample.width, sample.height) == (64, 64)
