"""Dataset adapters on small real files written by the tests (PNG/JPEG images, PNG masks, CSV, COCO JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from bag_of_bricks._image_decoding import decode_rgb
from bag_of_bricks.datasets import (
    coco,
    image_folder,
    load_image,
    multilabel_csv,
    read_image,
    segmentation_folder,
    shapes,
    transform_sample,
)
from torchbricks.errors import ConfigError, DatasetError
from torchbricks.registry import get_entry


def write_rgb(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def write_image_folder(root: Path, per_class: int = 2) -> Path:
    for index in range(per_class):
        write_rgb(root / "cat" / f"{index}.jpg", (200, 10, 10))
        write_rgb(root / "dog" / f"{index}.png", (10, 10, 200))
    return root


def write_segmentation_folder(root: Path, count: int = 2) -> Path:
    for index in range(count):
        write_rgb(root / "images" / f"{index}.jpg", (100, 100, 100), (40, 40))
        mask = np.zeros((40, 40), dtype=np.uint8)
        mask[:20] = 1
        mask[30:, 30:] = 2
        mask[0, 0] = 255
        (root / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask).save(root / "masks" / f"{index}.png")
    return root


def test_every_adapter_is_registered() -> None:
    for name in ("shapes", "image_folder", "multilabel_csv", "segmentation_folder", "coco"):
        assert get_entry("datasets", name).qualified_name == f"torchbricks:{name}"


def test_shapes_gives_the_three_tasks_targets() -> None:
    sample = shapes(count=2, seed=0, image_size=32)[1]
    assert sample["images"].shape == (3, 32, 32)
    assert sample["segmentation"].shape == (32, 32)
    assert sample["points"].shape[1] == 3


def test_image_folder(tmp_path: Path) -> None:
    data = image_folder(str(write_image_folder(tmp_path)), image_size=16)
    assert len(data) == 4
    assert data.classes == ["cat", "dog"]
    assert data.class_names == {"targets": ["cat", "dog"]}
    labels = sorted(int(data[index]["targets"]) for index in range(4))
    assert labels == [0, 0, 1, 1]
    assert data[0]["images"].shape == (3, 16, 16)
    assert data[0]["images"].dtype == torch.uint8


def test_multilabel_csv(tmp_path: Path) -> None:
    write_rgb(tmp_path / "a.png", (0, 0, 0))
    write_rgb(tmp_path / "b.jpg", (255, 255, 255))
    (tmp_path / "labels.csv").write_text("image,cat,dog\na.png,1,0\nb.jpg,1,1\n")
    data = multilabel_csv(str(tmp_path / "labels.csv"), image_size=8)
    assert data.labels == ["cat", "dog"]
    assert data[1]["targets"].tolist() == [1.0, 1.0]
    assert data[0]["images"].shape == (3, 8, 8)


def test_segmentation_folder_keeps_class_indices_and_the_ignore_index(tmp_path: Path) -> None:
    data = segmentation_folder(str(write_segmentation_folder(tmp_path)), image_size=20)
    mask = data[0]["segmentation"]
    assert mask.shape == (20, 20)
    assert set(mask.unique().tolist()) <= {0, 1, 2, 255}
    assert {1, 2} <= set(mask.unique().tolist())


def test_segmentation_folder_reports_a_missing_mask(tmp_path: Path) -> None:
    write_segmentation_folder(tmp_path)
    extra = write_rgb(tmp_path / "images" / "extra.jpg", (0, 0, 0))
    with pytest.raises(DatasetError) as raised:
        segmentation_folder(str(tmp_path))
    assert str(raised.value) == f"segmentation_folder: no mask '{tmp_path / 'masks' / 'extra.png'}' for image '{extra}'"


def write_coco(root: Path) -> Path:
    write_rgb(root / "one.jpg", (50, 50, 50), (40, 20))
    document = {
        "images": [{"id": 1, "file_name": "one.jpg", "width": 40, "height": 20}],
        "categories": [{"id": 7, "name": "person"}, {"id": 3, "name": "car"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 7,
                "bbox": [4, 2, 10, 8],
                "iscrowd": 0,
                "keypoints": [6, 4, 2, 0, 0, 0, 10, 8, 1],
            },
            {"id": 2, "image_id": 1, "category_id": 3, "bbox": [20, 10, 10, 6], "iscrowd": 0},
        ],
    }
    path = root / "annotations.json"
    path.write_text(json.dumps(document))
    return path


def test_coco_boxes_for_object_detection(tmp_path: Path) -> None:
    data = coco(str(write_coco(tmp_path)), image_size=None)
    boxes = data[0]["boxes"]
    assert boxes.tolist() == [[4.0, 2.0, 14.0, 10.0, 1.0], [20.0, 10.0, 30.0, 16.0, 0.0]]  # ids 3 → 0, 7 → 1


def test_coco_points_from_keypoints_or_box_centres(tmp_path: Path) -> None:
    path = str(write_coco(tmp_path))
    points = coco(path, kind="points", image_size=None)[0]["points"]
    assert points.tolist() == [[6.0, 4.0, 1.0], [10.0, 8.0, 1.0], [25.0, 13.0, 0.0]]
    centres = coco(path, kind="points", keypoints=False, image_size=None)[0]["points"]
    assert centres.tolist() == [[9.0, 6.0, 1.0], [25.0, 13.0, 0.0]]


def test_resize_moves_boxes_and_points_with_the_image(tmp_path: Path) -> None:
    path = str(write_coco(tmp_path))
    boxes = coco(path, image_size=80)[0]["boxes"]  # 40×20 → 80×80: x × 2, y × 4
    assert boxes[0].tolist() == pytest.approx([8.0, 8.0, 28.0, 40.0, 1.0])
    points = coco(path, kind="points", keypoints=False, image_size=80)[0]["points"]
    assert points[0].tolist() == pytest.approx([18.0, 24.0, 1.0])


def test_augmentations_flip_masks_points_and_boxes_alike() -> None:
    from torchvision.transforms import v2

    mask = torch.zeros(8, 8, dtype=torch.int64)
    mask[:, :2] = 1
    sample = {
        "images": (mask * 100).to(torch.uint8).expand(3, -1, -1).clone(),
        "segmentation": mask,
        "points": torch.tensor([[1.0, 4.0, 2.0]]),
        "boxes": torch.tensor([[0.0, 0.0, 2.0, 8.0, 1.0]]),
    }
    flipped = transform_sample(sample, "images", v2.RandomHorizontalFlip(p=1.0))
    assert torch.equal(flipped["segmentation"], mask.flip(-1))
    assert torch.equal(flipped["images"][0], (flipped["segmentation"] * 100).to(torch.uint8))
    assert flipped["points"].tolist() == [[7.0, 4.0, 2.0]]
    assert flipped["boxes"].tolist() == [[6.0, 0.0, 8.0, 8.0, 1.0]]


def test_augment_names_build_torchvision_transforms(tmp_path: Path) -> None:
    data = image_folder(
        str(write_image_folder(tmp_path)),
        image_size=8,
        augment=["RandomHorizontalFlip", {"name": "RandomVerticalFlip", "p": 1.0}],
    )
    assert data[0]["images"].shape == (3, 8, 8)
    with pytest.raises(ConfigError) as raised:
        image_folder(str(tmp_path), augment=["RandomHorizontalFlop"])
    assert str(raised.value) == (
        "image_folder: augment[0]: unknown torchvision.transforms.v2 transform 'RandomHorizontalFlop'. "
        "Did you mean 'RandomHorizontalFlip'?"
    )


# --- decoding: torchvision for JPEG/PNG, Pillow for the rest, the same pixels -------------------------------


def _photo(height: int = 37, width: int = 53) -> np.ndarray:
    """A smooth colour picture with noise (what JPEG and PNG compress in practice)."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([np.sin(x / 5.0) * 90 + 128, x * 255 / width, y * 255 / height], axis=2)
    noise = np.random.default_rng(0).normal(0, 10, (height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _palette(bits: int) -> Image.Image:
    image = Image.fromarray((_photo()[..., 0] >> (8 - bits)).astype(np.uint8), "P")
    image.putpalette(np.random.default_rng(bits).integers(0, 256, 768).tolist())
    return image


FAST_FILES = {
    "rgb.jpg": (lambda: Image.fromarray(_photo()), {"quality": 90}),
    "gray.jpg": (lambda: Image.fromarray(_photo()[..., 0]), {}),
    "progressive.jpg": (lambda: Image.fromarray(_photo()), {"progressive": True}),
    "subsampling_444.jpg": (lambda: Image.fromarray(_photo()), {"subsampling": 0}),
    "rgb.png": (lambda: Image.fromarray(_photo()), {}),
    "gray.png": (lambda: Image.fromarray(_photo()[..., 1]), {}),
    "gray_alpha.png": (lambda: Image.fromarray(_photo()[..., 1]).convert("LA"), {}),
    "rgba.png": (lambda: Image.fromarray(np.dstack([_photo(), _photo()[..., :1]]), "RGBA"), {}),
    "rgb_transparent_colour.png": (lambda: Image.fromarray(_photo()), {"transparency": (1, 2, 3)}),
    "palette.png": (lambda: _palette(8), {}),
    "palette_transparency.png": (lambda: _palette(8), {"transparency": 0}),
    "palette_2_bits.png": (lambda: _palette(2), {"bits": 2}),
    "palette_4_bits.png": (lambda: _palette(4), {"bits": 4, "transparency": 3}),
    "bilevel.png": (lambda: Image.fromarray(_photo()[..., 0] > 128), {}),
}


def _write(path: Path, make: Any, options: dict[str, Any]) -> Path:
    make().save(path, **options)
    return path


def _pillow_rgb(path: Path) -> torch.Tensor:
    return load_image(path, pillow_only=True).contiguous()


@pytest.mark.parametrize("name", sorted(FAST_FILES))
def test_torchvision_decodes_jpeg_and_png_to_the_same_pixels_as_pillow(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path / name, *FAST_FILES[name])
    decoded = decode_rgb(path.read_bytes())
    assert decoded is not None, f"{name} was left to Pillow"
    assert decoded.shape == (3, 37, 53)
    assert torch.equal(decoded, _pillow_rgb(path))
    image = read_image(path)
    assert image.is_contiguous()
    assert torch.equal(image, decoded)


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("cmyk.jpg", lambda: Image.fromarray(_photo()).convert("CMYK")),
        ("rgb.bmp", lambda: Image.fromarray(_photo())),
        ("rgb.webp", lambda: Image.fromarray(_photo())),
        ("rgb.gif", lambda: Image.fromarray(_photo()).convert("P")),
        ("rgb.tiff", lambda: Image.fromarray(_photo())),
        ("gray16.png", lambda: Image.fromarray(_photo()[..., 0].astype(np.uint16) * 257)),
    ],
)
def test_other_formats_and_variants_are_read_by_pillow(tmp_path: Path, name: str, make: Any) -> None:
    path = tmp_path / name
    make().save(path)
    assert decode_rgb(path.read_bytes()) is None
    image = read_image(path)
    assert (image.shape, image.dtype) == ((3, 37, 53), torch.uint8)
    assert torch.equal(image, _pillow_rgb(path))


def test_a_file_torchvision_refuses_goes_to_pillow_which_honours_its_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import ImageFile

    whole = tmp_path / "whole.jpg"
    Image.fromarray(_photo()).save(whole)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[:-40])
    assert decode_rgb(cut.read_bytes()) is None  # torchvision refuses truncated data
    with pytest.raises(DatasetError, match="cannot be read"):
        read_image(cut)
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # Pillow's switch, honoured as before
    image = read_image(cut)
    assert image.shape == (3, 37, 53)
    assert torch.equal(image, _pillow_rgb(cut))


def test_exif_orientation_is_not_applied_as_before(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "rotated.jpg"
    Image.fromarray(_photo()).save(path, exif=exif)
    assert Image.open(path).getexif()[0x0112] == 6
    assert read_image(path).shape == (3, 37, 53)
    assert torch.equal(read_image(path), _pillow_rgb(path))


@pytest.mark.parametrize("name", ["big.jpg", "big.png"])
def test_an_image_over_pillows_pixel_limit_is_refused_by_pillow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    path = tmp_path / name
    Image.fromarray(_photo()).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 37 × 53 = 1961: over the limit, under twice it
    assert decode_rgb(path.read_bytes()) is None
    with pytest.raises(DatasetError) as raised:
        read_image(path, "image_folder")
    assert str(raised.value).startswith(f"image_folder: image '{path}' is refused as a decompression bomb (")


def test_image_folder_samples_match_pillow_decoding_exactly_and_pillow_resizing_closely(tmp_path: Path) -> None:
    from torchvision.transforms.v2.functional import resize

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.fromarray(_photo(96, 128)).save(tmp_path / "a" / "photo.jpg", quality=90)
    Image.fromarray(_photo(96, 128)[::-1].copy()).save(tmp_path / "b" / "photo.png")
    data = image_folder(str(tmp_path), image_size=40)
    for index, (path, _) in enumerate(data.files):
        sample = data[index]["images"]
        assert sample.is_contiguous()
        expected = resize(_pillow_rgb(path), [40, 40], antialias=True)  # the reader before: Pillow, then this
        assert torch.equal(sample, expected)
        with Image.open(path) as image:  # Pillow's own resize (bilinear, antialiased) differs only by rounding
            by_pillow = torch.from_numpy(np.array(image.convert("RGB").resize((40, 40), Image.BILINEAR)))
        difference = (sample.permute(1, 2, 0).int() - by_pillow.int()).abs()
        assert float(difference.float().mean()) < 1.0
        assert int(difference.max()) <= 8
