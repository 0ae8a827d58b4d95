"""The standard pack's visualizers draw on real Pillow images."""

from __future__ import annotations

import numpy as np
from PIL import Image

from bag_of_bricks.visualizers import PALETTE, BoxesDrawer, ClassLabelDrawer, PointsDrawer, SegmentationOverlay
from torchbricks import registry

# -- visualizers ---------------------------------------------------------------------------------------------


def black(size: int = 32) -> np.ndarray:
    return np.zeros((size, size, 3), dtype=np.uint8)


def pixels(picture: Image.Image) -> np.ndarray:
    return np.asarray(picture.convert("RGB")).astype(np.int64)


def test_class_label_drawer_writes_the_class_name() -> None:
    drawer = ClassLabelDrawer(["cat", "dog", "bird"])
    picture = drawer(black(), np.array([1]))
    assert isinstance(picture, Image.Image)
    assert picture.size == (32, 32)
    drawn = pixels(picture)
    assert drawn[:16].sum() > 0  # text near the top-left corner
    assert drawn[24:, 24:].sum() == 0
    assert not np.array_equal(drawn, pixels(drawer(black(), np.array([2]))))


def test_class_label_drawer_multi_label_vector() -> None:
    drawer = ClassLabelDrawer(["a", "b", "c"], scale=2)
    several = drawer(black(), np.array([1, 0, 1]))
    assert several.size == (64, 64)
    nothing = drawer(black(), np.array([0, 0, 0]))  # drawn as "-"
    assert pixels(nothing).sum() > 0
    assert not np.array_equal(pixels(several), pixels(nothing))


def test_class_label_drawer_accepts_float_images() -> None:
    picture = ClassLabelDrawer(["x"])(np.full((16, 16, 3), 0.5, dtype=np.float32), np.array([0]))
    assert picture.mode == "RGB"
    assert tuple(pixels(picture)[15, 15]) == (128, 128, 128)


def test_segmentation_overlay_colours_classes_and_keeps_background() -> None:
    class_map = np.zeros((32, 32), dtype=np.int64)
    class_map[:16, :16] = 2
    picture = SegmentationOverlay(num_classes=4, alpha=0.5)(black(), class_map)
    assert picture.size == (32, 32)
    drawn = pixels(picture)
    assert drawn[16:, :].sum() == 0
    assert drawn[:, 16:].sum() == 0
    expected = np.array(PALETTE[2]) * 0.5
    assert np.abs(drawn[4, 4] - expected).max() <= 1.5
    assert SegmentationOverlay(num_classes=4, scale=3)(black(), class_map).size == (96, 96)


def test_points_drawer_draws_a_cross_at_each_point() -> None:
    drawer = PointsDrawer(["a", "b"])
    picture = drawer(black(), np.array([[8.0, 20.0, 0.0, 0.9], [-1.0, -1.0, -1.0, -1.0]]))
    assert picture.size == (32, 32)
    drawn = pixels(picture)
    assert tuple(drawn[20, 8]) == PALETTE[1]  # class 0 is drawn in colour 1
    assert tuple(drawn[20, 10]) == PALETTE[1]
    assert drawn[:8].sum() == 0
    padding_only = drawer(black(), np.array([[-1.0, -1.0, -1.0, -1.0]]))
    assert pixels(padding_only).sum() == 0


def test_points_drawer_scales_coordinates() -> None:
    picture = PointsDrawer(["a", "b"], scale=2)(black(), np.array([[8.0, 20.0, 1.0]]))
    assert picture.size == (64, 64)
    assert tuple(pixels(picture)[40, 16]) == PALETTE[2]


def test_boxes_drawer_draws_box_outlines() -> None:
    drawer = BoxesDrawer(["a", "b"])
    picture = drawer(black(64), np.array([[8.0, 8.0, 56.0, 56.0, 1.0, 0.75], [-1, -1, -1, -1, -1, -1]]))
    assert picture.size == (64, 64)
    drawn = pixels(picture)
    assert tuple(drawn[32, 8]) == PALETTE[2]  # left edge
    assert tuple(drawn[56, 32]) == PALETTE[2]  # bottom edge
    assert drawn[40, 32].sum() == 0  # inside
    assert drawn[60:, :].sum() == 0  # outside
    scaled = BoxesDrawer(["a", "b"], scale=2)(black(32), np.array([[4.0, 4.0, 28.0, 28.0, 0.0]]))
    assert scaled.size == (64, 64)
    assert tuple(pixels(scaled)[32, 8]) == PALETTE[1]


def test_visualizers_are_registered() -> None:
    assert registry.get("visualizers", "class_label") is ClassLabelDrawer
    assert registry.get("visualizers", "segmentation_overlay") is SegmentationOverlay
    assert registry.get("visualizers", "points") is PointsDrawer
    assert registry.get("visualizers", "boxes") is BoxesDrawer
