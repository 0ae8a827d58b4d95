"""Dataset adapters on small real files written by the tests (PNG/JPEG images, PNG masks, CSV, COCO JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bag_of_bricks.datasets import coco, image_folder, multilabel_csv, segmentation_folder, shapes, transform_sample
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
