"""Hostile data in the dataset adapters: each case is one line naming the file (or a documented behaviour).

Images, masks, CSV and COCO files are written by the tests (real Pillow); the train runs are tiny and
check that a run stopped by bad data leaves the earlier run's ``model/`` loadable.
"""

from __future__ import annotations

import io
import json
import os
import signal
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from bag_of_bricks.datasets import (
    build_transforms,
    coco,
    image_folder,
    multilabel_csv,
    read_image,
    segmentation_folder,
    shapes,
)
from torchbricks import load_model
from torchbricks.errors import ConfigError, DatasetConfigError, DatasetError
from torchbricks.training import train
from torchbricks.training._data import check_num_classes, combine, merged_class_names
from torchbricks.training._pictures import pick_visualization_samples, task_sheets, visualized_task_targets

# --- writing data -------------------------------------------------------------------------------------------


def write_rgb(path: Path, colour: tuple[int, int, int] = (200, 10, 10), size: tuple[int, int] = (16, 16)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def jpeg_bytes(size: int = 32) -> bytes:
    noise = np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "JPEG")
    return buffer.getvalue()


def write_png16(path: Path, array: np.ndarray) -> Path:
    """A 16-bit PNG (gray ``[H, W]`` or RGB ``[H, W, 3]``), written by hand: Pillow cannot write 48-bit RGB."""
    height, width = array.shape[:2]
    colour_type = 0 if array.ndim == 2 else 2
    raw = b"".join(b"\x00" + array[row].astype(">u2").tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )
    return path


def write_animals(root: Path, per_class: int = 2) -> Path:
    for index in range(per_class):
        write_rgb(root / "cat" / f"{index}.png", (200, 10, 10))
        write_rgb(root / "dog" / f"{index}.png", (10, 10, 200))
    return root


def write_scenes(root: Path, count: int = 2, mask_value: int = 1, size: int = 16) -> Path:
    for index in range(count):
        write_rgb(root / "images" / f"{index}.png", (90, 90, 90), (size, size))
        mask = np.zeros((size, size), dtype=np.uint8)
        mask[: size // 2] = mask_value
        mask[0, 0] = 255
        (root / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask).save(root / "masks" / f"{index}.png")
    return root


def write_csv(root: Path, text: str, encoding: str = "utf-8") -> Path:
    write_rgb(root / "a.png")
    write_rgb(root / "b.png")
    path = root / "labels.csv"
    path.write_text(text, encoding=encoding)
    return path


def write_coco(root: Path, **changes: Any) -> Path:
    write_rgb(root / "one.png", size=(40, 20))
    write_rgb(root / "two.png", size=(40, 20))
    document: dict[str, Any] = {
        "images": [
            {"id": 1, "file_name": "one.png", "width": 40, "height": 20},
            {"id": 2, "file_name": "two.png", "width": 40, "height": 20},
        ],
        "categories": [{"id": 7, "name": "person"}, {"id": 3, "name": "car"}],
        "annotations": [{"id": 10, "image_id": 1, "category_id": 7, "bbox": [4, 2, 10, 8], "iscrowd": 0}],
    }
    document.update(changes)
    path = root / "annotations.json"
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def no_hang() -> Iterator[None]:
    """Fail instead of hanging (opening a FIFO waits for a writer forever)."""

    def stop(*_: Any) -> None:
        raise TimeoutError("hung reading the data")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(30)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- images -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("text.jpg", b"just some text", "its content is no image format Pillow knows"),
        ("empty.png", b"", "it is empty (0 bytes)"),
        ("garbage.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2, "its content is no image format Pillow knows"),
    ],
)
def test_an_unreadable_image_is_refused_when_loaded_naming_it(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    root = write_animals(tmp_path / "animals")
    bad = root / "dog" / name
    bad.write_bytes(content)
    data = image_folder(str(root), image_size=8)
    index = [path for path, _ in data.files].index(bad)
    with pytest.raises(DatasetError) as raised:
        data[index]
    assert str(raised.value) == f"image_folder: image '{bad}' cannot be read: {reason}"


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_truncated_image_is_refused_naming_it(tmp_path: Path, suffix: str) -> None:
    whole = jpeg_bytes() if suffix == ".jpg" else _png_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DatasetError) as raised:
        read_image(path, "image_folder")
    assert str(raised.value).startswith(f"image_folder: image '{path}' cannot be read (OSError: ")
    assert "\n" not in str(raised.value)


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_jpeg_named_png_is_read(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(jpeg_bytes())
    image = read_image(path)
    assert image.shape == (3, 32, 32)
    assert image.dtype == torch.uint8


@pytest.mark.parametrize("side", [12, 20])  # 144 pixels: Pillow's warning; 400 (over twice the limit): its error
def test_a_decompression_bomb_is_refused_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, side: int) -> None:
    path = write_rgb(tmp_path / "bomb.png", size=(side, side))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(DatasetError) as raised:
        read_image(path, "image_folder")
    assert str(raised.value).startswith(f"image_folder: image '{path}' is refused as a decompression bomb (")
    assert "\n" not in str(raised.value)


def test_grayscale_palette_and_rgba_images_become_rgb(tmp_path: Path) -> None:
    Image.new("L", (4, 4), 77).save(tmp_path / "gray.png")
    Image.new("LA", (4, 4), (66, 0)).save(tmp_path / "gray_alpha.png")
    Image.new("RGBA", (4, 4), (10, 20, 30, 0)).save(tmp_path / "rgba.png")
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 9, 8, 7] * 128)
    palette.save(tmp_path / "palette.png", transparency=0)
    Image.new("1", (4, 4), 1).save(tmp_path / "bilevel.png")
    Image.new("CMYK", (4, 4), (0, 0, 0, 0)).save(tmp_path / "cmyk.jpg")
    expected = {
        "gray.png": [77, 77, 77],
        "gray_alpha.png": [66, 66, 66],
        "rgba.png": [10, 20, 30],
        "palette.png": [9, 8, 7],
        "bilevel.png": [255, 255, 255],
        "cmyk.jpg": [255, 255, 255],
    }
    for name, colour in expected.items():
        image = read_image(tmp_path / name)
        assert (image.shape, image.dtype) == ((3, 4, 4), torch.uint8), name
        assert image[:, 2, 2].tolist() == pytest.approx(colour, abs=1), name


def test_16_bit_images_are_scaled_to_8_bits(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)  # not 99.6% clipped to 255 any more
    gray = read_image(write_png16(tmp_path / "gray16.png", ramp))
    assert gray[0].tolist() == np.round(ramp / 257).astype(int).tolist()
    assert torch.equal(gray[0], gray[1])
    assert torch.equal(gray[1], gray[2])
    colour = np.stack([ramp, 65535 - ramp, np.full_like(ramp, 32896)], axis=2)
    rgb = read_image(write_png16(tmp_path / "rgb16.png", colour))
    assert rgb[:, 0, 0].tolist() == [0, 255, 128]
    assert rgb[:, 7, 7].tolist() == [255, 0, 128]
    assert float((gray == 255).float().mean()) < 0.05


def test_an_empty_class_folder_is_refused_naming_it(tmp_path: Path) -> None:
    root = write_animals(tmp_path / "animals")
    (root / "fish").mkdir()
    (root / "fish" / "notes.txt").write_text("no pictures yet")
    with pytest.raises(DatasetError) as raised:
        image_folder(str(root))
    assert str(raised.value) == (
        f"image_folder: class folder '{root / 'fish'}' has no images (.png, .jpg, .jpeg, .bmp, .webp)"
    )


def test_a_root_without_class_folders_or_missing_is_refused_naming_it(tmp_path: Path) -> None:
    write_rgb(tmp_path / "flat" / "a.png")
    with pytest.raises(DatasetError, match=r"^image_folder: root '.*flat' has no class folders"):
        image_folder(str(tmp_path / "flat"))
    with pytest.raises(DatasetError) as raised:
        image_folder(str(tmp_path / "nowhere"))
    assert str(raised.value) == f"image_folder: root '{tmp_path / 'nowhere'}' is not a folder (missing)"


def test_classes_fix_the_order_and_a_missing_or_unlisted_class_folder_is_refused(tmp_path: Path) -> None:
    root = write_animals(tmp_path / "animals")
    data = image_folder(str(root), classes=["dog", "cat"])
    assert data.class_names == {"targets": ["dog", "cat"]}
    assert int(data[0]["targets"]) == 0
    assert data.files[0][0].parent.name == "dog"
    with pytest.raises(DatasetConfigError) as raised:
        image_folder(str(root), classes=["cat", "dog", "fish"])
    assert str(raised.value) == f"image_folder: class 'fish' (from classes) has no folder '{root / 'fish'}'"
    with pytest.raises(DatasetConfigError, match=r"class folder '.*dog' is not among classes \['cat'\]"):
        image_folder(str(root), classes=["cat"])


def test_a_fifo_among_the_images_is_refused_when_the_folder_is_read(tmp_path: Path, no_hang: None) -> None:
    root = write_animals(tmp_path / "animals")
    os.mkfifo(root / "cat" / "pipe")  # no image suffix: never opened, ignored
    assert len(image_folder(str(root))) == 4
    fifo = root / "cat" / "stream.png"
    os.mkfifo(fifo)
    with pytest.raises(DatasetError) as raised:
        image_folder(str(root))
    assert str(raised.value) == f"image_folder: '{fifo}' is a FIFO, not an image file"
    with pytest.raises(DatasetError, match="is a FIFO, not an image file"):
        read_image(fifo)  # refused before it is opened, also when it appears after the folder was read


def test_symlink_loops_are_refused_naming_them(tmp_path: Path, no_hang: None) -> None:
    root = write_animals(tmp_path / "animals")
    loop = root / "cat" / "loop.png"
    loop.symlink_to(loop)
    with pytest.raises(DatasetError) as raised:
        image_folder(str(root))
    assert str(raised.value) == f"image_folder: '{loop}' is a symlink loop, not an image file"
    loop.unlink()
    (root / "cat" / "up").symlink_to(root / "cat")  # a folder loop inside a class folder: not read
    (root / "circle").symlink_to(root / "circle")
    with pytest.raises(DatasetError, match=r"'.*circle' is a symlink loop, not a class folder"):
        image_folder(str(root))
    (root / "circle").unlink()
    (root / "again").symlink_to(root)  # the root again, as a class folder: it has no images
    with pytest.raises(DatasetError, match=r"class folder '.*again' has no images"):
        image_folder(str(root))


def test_hidden_files_and_folders_are_skipped(tmp_path: Path) -> None:
    root = write_animals(tmp_path / "animals")
    (root / "cat" / "._0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # a macOS resource fork
    (root / ".cache").mkdir()
    data = image_folder(str(root), image_size=8)
    assert data.classes == ["cat", "dog"]
    assert len(data) == 4
    assert all(data[index]["images"].shape == (3, 8, 8) for index in range(4))


# --- masks --------------------------------------------------------------------------------------------------


def test_a_missing_mask_is_refused_naming_it(tmp_path: Path) -> None:
    root = write_scenes(tmp_path / "scenes")
    image = write_rgb(root / "images" / "extra.png")
    with pytest.raises(DatasetError) as raised:
        segmentation_folder(str(root))
    assert str(raised.value) == f"segmentation_folder: no mask '{root / 'masks' / 'extra.png'}' for image '{image}'"


def test_a_missing_images_or_masks_folder_is_refused_naming_it(tmp_path: Path) -> None:
    root = write_scenes(tmp_path / "scenes")
    with pytest.raises(DatasetError) as raised:
        segmentation_folder(str(root), masks="labels")
    assert str(raised.value) == f"segmentation_folder: masks folder '{root / 'labels'}' is not a folder (missing)"
    with pytest.raises(DatasetError, match=r"^segmentation_folder: images folder '.*pictures' is not a folder"):
        segmentation_folder(str(root), images="pictures")


def test_a_mask_of_another_size_is_refused_naming_it_and_its_image(tmp_path: Path) -> None:
    root = write_scenes(tmp_path / "scenes")
    Image.fromarray(np.zeros((10, 12), dtype=np.uint8)).save(root / "masks" / "1.png")
    data = segmentation_folder(str(root), image_size=8)
    assert data[0]["segmentation"].shape == (8, 8)
    with pytest.raises(DatasetError) as raised:
        data[1]
    mask, image = root / "masks" / "1.png", root / "images" / "1.png"
    assert str(raised.value) == f"segmentation_folder: mask '{mask}' is 12×10 but its image '{image}' is 16×16"


def test_an_rgb_mask_is_refused_naming_it(tmp_path: Path) -> None:
    root = write_scenes(tmp_path / "scenes")
    write_rgb(root / "masks" / "0.png", (1, 1, 1))
    with pytest.raises(DatasetError) as raised:
        segmentation_folder(str(root))[0]
    assert str(raised.value) == (
        f"segmentation_folder: mask '{root / 'masks' / '0.png'}' is a mode RGB image; "
        "a mask holds one class index per pixel (a mode L or P PNG)"
    )


def test_mask_values_of_num_classes_or_more_are_refused_naming_the_mask(tmp_path: Path) -> None:
    root = write_scenes(tmp_path / "scenes", mask_value=7)
    mask = root / "masks" / "0.png"
    expected = f"segmentation_folder: mask '{mask}' has class 7 in 'segmentation', but num_classes is 3 "
    for data in (
        segmentation_folder(str(root), labels=["sky", "road", "car"]),
        segmentation_folder(str(root), num_classes=3),
    ):
        with pytest.raises(DatasetConfigError) as raised:
            data[0]
        assert str(raised.value) == expected + "(classes 0..2; 255 is ignored)"
    unchecked = segmentation_folder(str(root))  # no labels: the train run gives it the task's num_classes
    assert unchecked.class_names == {}
    assert int(unchecked[0]["segmentation"].max()) == 255
    check_num_classes([unchecked], {"segmentation": 3})
    with pytest.raises(DatasetConfigError, match="has class 7 in 'segmentation', but num_classes is 3"):
        unchecked[0]
    fine = segmentation_folder(str(write_scenes(tmp_path / "fine", mask_value=2)), labels=["sky", "road", "car"])
    assert set(fine[0]["segmentation"].unique().tolist()) == {0, 2, 255}  # 255: ignored, accepted


def test_labels_and_num_classes_must_agree(tmp_path: Path) -> None:
    root = write_scenes(tmp_path / "scenes")
    with pytest.raises(DatasetConfigError, match=r"^segmentation_folder: 2 labels \['sky', 'road'\] but num_classes 3"):
        segmentation_folder(str(root), labels=["sky", "road"], num_classes=3)


# --- CSV ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ("a.png,1\n", "line 3 has 2 columns, the header 3"),
        ("a.png,1,0,1\n", "line 3 has 4 columns, the header 3"),
    ],
)
def test_csv_rows_with_missing_or_extra_columns_are_refused_with_their_line(
    tmp_path: Path, rows: str, problem: str
) -> None:
    path = write_csv(tmp_path, "image,cat,dog\nb.png,0,1\n" + rows)
    with pytest.raises(DatasetError) as raised:
        multilabel_csv(str(path))
    assert str(raised.value) == f"multilabel_csv: '{path}' {problem}"


@pytest.mark.parametrize("label", ["2", "yes", "", "nan", "NaN", "inf", "0.5"])
def test_csv_labels_other_than_0_or_1_are_refused(tmp_path: Path, label: str) -> None:
    path = write_csv(tmp_path, f"image,cat,dog\na.png,1,{label}\n")
    with pytest.raises(DatasetError) as raised:
        multilabel_csv(str(path))
    assert str(raised.value) == (
        f"multilabel_csv: '{path}' line 2, column 'dog': a label must be 0 or 1 (-1: unknown), got {label!r}"
    )


def test_csv_minus_one_is_an_unknown_label(tmp_path: Path) -> None:
    data = multilabel_csv(str(write_csv(tmp_path, "image,cat,dog\na.png,1,-1\nb.png,0.0,1.0\n")), image_size=8)
    assert data[0]["targets"].tolist() == [1.0, -1.0]
    assert data[1]["targets"].tolist() == [0.0, 1.0]


def test_csv_paths_outside_the_root_are_refused_unless_allowed(tmp_path: Path) -> None:
    outside = write_rgb(tmp_path / "elsewhere.png")
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    for name in ("../elsewhere.png", str(outside), "sub/../../elsewhere.png"):
        path = write_csv(root, f"image,cat\n{name},1\n")
        with pytest.raises(DatasetConfigError) as raised:
            multilabel_csv(str(path))
        assert str(raised.value) == (
            f"multilabel_csv: '{path}' line 2: image {name!r} is outside the dataset's root '{root}' "
            "(allow_outside_root: true allows it)"
        )
        allowed = multilabel_csv(str(path), allow_outside_root=True, image_size=8)
        assert allowed[0]["images"].shape == (3, 8, 8)
    inside = write_csv(root, f"image,cat\n{root / 'a.png'},1\nsub/../b.png,0\n")  # absolute, but inside: fine
    assert len(multilabel_csv(str(inside))) == 2


def test_csv_image_that_is_missing_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "image,cat\na.png,1\nc.png,0\n")
    with pytest.raises(DatasetError) as raised:
        multilabel_csv(str(path))
    assert str(raised.value) == f"multilabel_csv: '{path}' line 3: image '{tmp_path / 'c.png'}' is missing"


def test_a_byte_order_mark_before_the_csv_header_is_accepted(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "image,cat,dog\na.png,1,0\n", encoding="utf-8-sig")  # Excel's "CSV UTF-8"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    data = multilabel_csv(str(path), image_size=8)
    assert data.labels == ["cat", "dog"]
    assert data.class_names == {"targets": ["cat", "dog"]}
    assert data[0]["targets"].tolist() == [1.0, 0.0]


# --- COCO ---------------------------------------------------------------------------------------------------


def annotation(**changes: Any) -> dict[str, Any]:
    return {"id": 11, "image_id": 2, "category_id": 3, "bbox": [20, 10, 10, 6], "iscrowd": 0, **changes}


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (
            annotation(bbox=[20, 10, -4, 6]),
            "annotation 11 (image 2): box [20, 10, -4, 6] has a negative width or height",
        ),
        (annotation(bbox=[30, 10, 20, 6]), "annotation 11 (image 2): box [30, 10, 20, 6] lies outside the 40×20 image"),
        (annotation(bbox=[-5, 0, 4, 4]), "annotation 11 (image 2): box [-5, 0, 4, 4] lies outside the 40×20 image"),
        (annotation(category_id=9), "annotation 11 (image 2) has category_id 9, not among the categories [3, 7]"),
        (annotation(image_id=5), "annotation 11 is for image id 5, which is not among the images"),
        (annotation(bbox=[1, 2]), "annotation 11 (image 2) needs 'bbox': [x, y, width, height], got [1, 2]"),
    ],
)
def test_coco_bad_annotations_are_refused_with_their_id(tmp_path: Path, extra: dict[str, Any], problem: str) -> None:
    path = write_coco(tmp_path)
    document = json.loads(path.read_text())
    document["annotations"].append(extra)
    path.write_text(json.dumps(document))
    with pytest.raises(DatasetError) as raised:
        coco(str(path))
    assert str(raised.value) == f"coco: '{path}' {problem}"


def test_coco_boxes_a_pixel_over_the_edge_are_accepted(tmp_path: Path) -> None:
    path = write_coco(tmp_path, annotations=[annotation(bbox=[30.5, 10, 10.4, 10.6])])
    assert coco(str(path), image_size=None)[1]["boxes"].shape == (1, 5)


def test_coco_boxes_are_checked_against_the_image_when_the_file_gives_no_size(tmp_path: Path) -> None:
    images = [{"id": 1, "file_name": "one.png"}, {"id": 2, "file_name": "two.png"}]
    path = write_coco(tmp_path, images=images, annotations=[annotation(bbox=[30, 10, 20, 6])])
    data = coco(str(path), image_size=None)
    with pytest.raises(DatasetError) as raised:
        data[1]
    assert str(raised.value) == f"coco: '{path}' image 2: box [30, 10, 20, 6] lies outside the 40×20 image"


def test_coco_duplicate_image_ids_are_refused_with_the_id(tmp_path: Path) -> None:
    images = [{"id": 1, "file_name": "one.png"}, {"id": 1, "file_name": "two.png"}]
    path = write_coco(tmp_path, images=images)
    with pytest.raises(DatasetError) as raised:
        coco(str(path))
    assert str(raised.value) == f"coco: '{path}' has image id 1 twice ('one.png' and 'two.png')"


def test_coco_file_names_outside_the_root_are_refused_unless_allowed(tmp_path: Path) -> None:
    write_rgb(tmp_path / "outside.png", size=(40, 20))
    root = tmp_path / "coco"
    images = [{"id": 1, "file_name": "../outside.png", "width": 40, "height": 20}]
    path = write_coco(root, images=images, annotations=[])
    with pytest.raises(DatasetConfigError) as raised:
        coco(str(path))
    assert str(raised.value) == (
        f"coco: '{path}' image 1: image '../outside.png' is outside the dataset's root '{root}' "
        "(allow_outside_root: true allows it)"
    )
    assert coco(str(path), allow_outside_root=True, image_size=8)[0]["images"].shape == (3, 8, 8)


def test_coco_image_of_another_size_than_the_file_says_is_refused(tmp_path: Path) -> None:
    images = [{"id": 1, "file_name": "one.png", "width": 50, "height": 20}]
    path = write_coco(tmp_path, images=images, annotations=[])
    with pytest.raises(DatasetError) as raised:
        coco(str(path))[0]
    assert str(raised.value) == f"coco: image '{tmp_path / 'one.png'}' is 40×20, but '{path}' says 50×20 (image 1)"


def test_coco_file_that_is_not_json_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "annotations.json"
    path.write_text('{"images": [')
    with pytest.raises(DatasetError, match=r"^coco: '.*annotations\.json' is not JSON \(Expecting value: line 1"):
        coco(str(path))


# --- augment ------------------------------------------------------------------------------------------------


def test_a_callable_given_as_text_is_refused_with_its_key(tmp_path: Path) -> None:
    root = write_animals(tmp_path / "animals")
    with pytest.raises(ConfigError) as raised:
        image_folder(str(root), augment=[{"name": "Lambda", "lambd": "lambda image: image"}])
    assert str(raised.value) == (
        "image_folder: augment[0].lambd: Lambda takes a callable, which a config cannot give as text "
        "(got 'lambda image: image')"
    )
    nested = [{"name": "RandomApply", "transforms": ["ColorJitter", {"name": "Lambda", "lambd": "abs"}]}]
    with pytest.raises(ConfigError, match=r"^image_folder: augment\[0\]\.transforms\[1\]\.lambd: Lambda takes"):
        image_folder(str(root), augment=nested)
    jitter = [{"name": "RandomApply", "transforms": [{"name": "ColorJitter", "brightness": 0.5}], "p": 1.0}]
    assert image_folder(str(root), augment=jitter, image_size=8)[0]["images"].shape == (3, 8, 8)


def test_bad_augment_entries_are_refused_with_their_key() -> None:
    with pytest.raises(ConfigError) as raised:
        build_transforms(["RandomHorizontalFlip", {"name": "RandomRotation", "degree": 10}], 8, "coco")
    assert str(raised.value).startswith(
        "coco: augment[1].degree: RandomRotation has no argument 'degree'. Did you mean 'degrees'? Accepted: degrees,"
    )
    with pytest.raises(ConfigError, match=r"^coco: augment\[0\]: unknown torchvision.transforms.v2 transform 'Flip'"):
        build_transforms(["Flip"], 8, "coco")
    with pytest.raises(ConfigError, match=r"^coco: augment: must be a list of torchvision.transforms.v2 transforms"):
        build_transforms(True, 8, "coco")  # type: ignore[arg-type]
    assert len(build_transforms("RandomHorizontalFlip", None).transforms) == 1  # one alone: a list of one


# --- class names (item 12) ----------------------------------------------------------------------------------


def test_every_adapter_exposes_its_class_names(tmp_path: Path) -> None:
    assert image_folder(str(write_animals(tmp_path / "animals"))).class_names == {"targets": ["cat", "dog"]}
    csv_file = write_csv(tmp_path / "csv", "image,cat,dog,bird\na.png,1,0,0\n")
    assert multilabel_csv(str(csv_file), targets="animals").class_names == {"animals": ["cat", "dog", "bird"]}
    scenes = str(write_scenes(tmp_path / "scenes"))
    assert segmentation_folder(scenes, labels=["sky", "road"]).class_names == {"segmentation": ["sky", "road"]}
    assert segmentation_folder(scenes).class_names == {}
    assert coco(str(write_coco(tmp_path / "coco")), kind="points").class_names == {"points": ["car", "person"]}
    assert shapes(count=1).class_names == {
        "shape_present": ["circle", "square", "triangle"],
        "segmentation": ["background", "circle", "square", "triangle"],
        "points": ["circle", "square", "triangle"],
    }


def test_datasets_that_name_a_targets_classes_differently_are_refused(tmp_path: Path) -> None:
    two = image_folder(str(write_animals(tmp_path / "two")))
    write_animals(tmp_path / "three")
    write_rgb(tmp_path / "three" / "bird" / "0.png")
    three = image_folder(str(tmp_path / "three"))
    with pytest.raises(DatasetConfigError) as raised:
        combine([two, three])
    assert str(raised.value) == (
        f"targets: image_folder '{tmp_path / 'two'}' names class 0 'cat', "
        f"but image_folder '{tmp_path / 'three'}' names it 'bird'"
    )
    ordered = image_folder(str(tmp_path / "three"), classes=["cat", "dog", "bird"])
    assert merged_class_names([two, ordered]) == {"targets": ["cat", "dog", "bird"]}


# --- visualizations (item 10) -------------------------------------------------------------------------------


def visualized_model() -> torch.nn.Module:
    from torchbricks.assembly import build_model

    return build_model(
        {
            "backbone": {"name": "resnet18", "levels": [2, 3, 4]},
            "neck": {"name": "upsampling", "out_channels": 8},
            "tasks": {
                "animal": {"task": "image_classification", "num_classes": 2, "class_names": ["cat", "dog"]},
                "scene": {"task": "semantic_segmentation", "num_classes": 3, "hidden": 8},
            },
            "input_shape": [3, 16, 16],
        }
    )


def test_visualization_samples_are_labelled_for_the_task_and_spread_over_its_classes(tmp_path: Path) -> None:
    animals = image_folder(
        str(write_animals(tmp_path / "animals", per_class=6)), image_size=16
    )  # sorted: 6 cats, 6 dogs
    scenes = segmentation_folder(str(write_scenes(tmp_path / "scenes", count=3)), image_size=16)
    datasets = [scenes, animals]  # the first 8 images of the two together: 3 scenes and 5 cats
    targets = visualized_task_targets(visualized_model(), datasets)
    assert targets == {"animal": "targets", "scene": "segmentation"}
    picks = pick_visualization_samples(datasets, 4, targets)
    assert picks["animal"] == [(1, 0), (1, 6), (1, 1), (1, 7)]  # cat, dog, cat, dog: only the labelled dataset
    assert picks["scene"] == [(0, 0), (0, 1), (0, 2)]


def test_task_sheets_show_image_ground_truth_and_prediction(tmp_path: Path) -> None:
    animals = image_folder(str(write_animals(tmp_path / "animals")), image_size=16)
    scenes = segmentation_folder(str(write_scenes(tmp_path / "scenes")), image_size=16)
    model = visualized_model()
    sheets = task_sheets(model, [animals, scenes], 3, None)
    assert model.training  # restored
    assert set(sheets) == {"animal", "scene"}
    tile, gap, header = 192, 2, 24  # 16-pixel images enlarged 12 times
    assert sheets["animal"].size == (3 * tile + 2 * gap, header + 3 * tile + 2 * gap)
    assert sheets["scene"].size == (3 * tile + 2 * gap, header + 2 * tile + gap)
    scene = np.asarray(sheets["scene"])
    truth = tile + gap  # the ground truth column
    assert scene[header + 100, 100].tolist() == [90, 90, 90]  # the image
    assert scene[header + 150, truth + 100].tolist() == [90, 90, 90]  # class 0 (background): the image shows
    assert scene[header + 60, truth + 100].tolist() != [90, 90, 90]  # class 1 blended over the top half


# --- train runs: bad data stops the run, the earlier model stays ------------------------------------------------

ANIMAL_MODEL: dict[str, Any] = {
    "backbone": {"name": "resnet18", "levels": [4]},
    "tasks": {"animal": {"task": "image_classification", "num_classes": 2}},
    "input_shape": [3, 16, 16],
}
SCENE_MODEL: dict[str, Any] = {
    "backbone": {"name": "resnet18", "levels": [2, 3, 4]},
    "neck": {"name": "upsampling", "out_channels": 8},
    "tasks": {"scene": {"task": "semantic_segmentation", "num_classes": 3, "hidden": 8}},
    "input_shape": [3, 16, 16],
}


def run_config(model: dict[str, Any], dataset: dict[str, Any], workers: int = 0) -> dict[str, Any]:
    return {
        "model": model,
        "data": {"train": [dataset], "validation": [dataset], "batch_size": 4, "num_workers": workers},
        "trainer": {"max_steps": 1, "accelerator": "cpu", "num_sanity_val_steps": 0, "enable_progress_bar": False},
        "visualizations": 2,
    }


def model_files(output: Path) -> dict[str, bytes]:
    return {str(path.relative_to(output)): path.read_bytes() for path in sorted((output / "model").rglob("*.*"))}


@pytest.fixture(scope="module")
def good_animal_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    root = write_animals(tmp_path_factory.mktemp("animals") / "animals")
    output = root.parent / "run"
    train(run_config(ANIMAL_MODEL, {"name": "image_folder", "root": str(root), "image_size": 16}), output)
    return root, model_files(output)


@pytest.mark.parametrize("workers", [0, 1])
def test_a_corrupt_image_stops_the_run_naming_it_and_keeps_the_earlier_model(
    good_animal_run: tuple[Path, dict[str, bytes]], tmp_path: Path, workers: int
) -> None:
    good_root, before = good_animal_run
    output = good_root.parent / "run"
    root = write_animals(tmp_path / "animals")
    bad = root / "dog" / "1.png"
    bad.write_text("a text file named like an image")
    config = run_config(ANIMAL_MODEL, {"name": "image_folder", "root": str(root), "image_size": 16}, workers)
    with pytest.raises(DatasetError) as raised:
        train(config, output)
    assert (
        str(raised.value) == f"image_folder: image '{bad}' cannot be read: its content is no image format Pillow knows"
    )
    assert model_files(output) == before  # the earlier run's model, untouched
    assert not (output / "running").exists()
    load_model(output / "model")


def test_a_mask_class_out_of_range_stops_the_run_naming_the_mask_and_keeps_the_earlier_model(tmp_path: Path) -> None:
    good = write_scenes(tmp_path / "good", count=4, mask_value=2)
    labels = ["sky", "road", "car"]
    output = tmp_path / "run"
    train(run_config(SCENE_MODEL, {"name": "segmentation_folder", "root": str(good), "labels": labels}), output)
    before = model_files(output)
    bad = write_scenes(tmp_path / "bad", count=4, mask_value=3)
    config = run_config(SCENE_MODEL, {"name": "segmentation_folder", "root": str(bad), "labels": labels}, workers=1)
    with pytest.raises(DatasetConfigError, match=r"^segmentation_folder: mask '.*bad/masks/\d\.png' has class 3 in"):
        train(config, output)
    assert model_files(output) == before
    load_model(output / "model")


def test_a_csv_path_outside_the_root_stops_the_run_before_it_starts(
    good_animal_run: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    good_root, before = good_animal_run
    output = good_root.parent / "run"
    path = write_csv(tmp_path / "data", "image,cat,dog\n../../secret.png,1,0\n")
    model = {**ANIMAL_MODEL, "tasks": {"animal": {"task": "multilabel_classification", "num_classes": 2}}}
    with pytest.raises(ConfigError, match=r"data\.train\[0\]: multilabel_csv: .*labels\.csv. line 2: image .\.\./"):
        train(run_config(model, {"name": "multilabel_csv", "csv_file": str(path)}), output)
    assert model_files(output) == before
