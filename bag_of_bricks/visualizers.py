"""Pillow drawing functions for per-image visualization bricks (see ``BrickPerImageVisualization``).

Each drawer is called once per image with the image as a channel-last array (``uint8``, or float in
``[0, 1]``) and that image's predictions, and returns a Pillow image.

Example:
    >>> import numpy as np
    >>> image = np.zeros((32, 32, 3), dtype=np.uint8)
    >>> SegmentationOverlay(num_classes=4)(image, np.ones((32, 32), dtype=np.int64)).size
    (32, 32)
    >>> PointsDrawer(class_names=["a", "b"], scale=2)(image, np.array([[10.0, 12.0, 1.0, 0.9]])).size
    (64, 64)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from torchbricks.tensor_conversions import float2uint8

__all__ = [
    "PALETTE",
    "BoxesDrawer",
    "ClassLabelDrawer",
    "PointsDrawer",
    "SegmentationOverlay",
    "colour",
    "to_pillow",
]

PALETTE = (
    (0, 0, 0),
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
)


def to_pillow(image: np.ndarray, scale: int = 1) -> Image.Image:
    """A channel-last array (uint8 or float in ``[0, 1]``) as an RGB Pillow image, enlarged ``scale`` times."""
    array = image if image.dtype == np.uint8 else float2uint8(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    picture = Image.fromarray(array).convert("RGB")
    if scale != 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    return picture


def colour(index: int) -> tuple[int, int, int]:
    """A distinct colour per class index."""
    return PALETTE[int(index) % len(PALETTE)]


class ClassLabelDrawer:
    """Writes the predicted class name (single label) or names (multi-label 0/1 vector) on the image."""

    def __init__(self, class_names: Sequence[str], scale: int = 1, font_size: int = 12) -> None:
        self.class_names = list(class_names)
        self.scale = scale
        self.font = ImageFont.load_default(size=font_size)

    def __call__(self, image: np.ndarray, prediction: np.ndarray) -> Image.Image:
        picture = to_pillow(image, self.scale)
        values = np.asarray(prediction).reshape(-1)
        if len(values) == 1:
            names = [self.class_names[int(values[0])]]
        else:
            names = [name for name, present in zip(self.class_names, values, strict=True) if present > 0]
        ImageDraw.Draw(picture).text(
            (2, 2), ", ".join(names) or "-", fill=(255, 255, 255), font=self.font, stroke_width=1, stroke_fill=(0, 0, 0)
        )
        return picture


class SegmentationOverlay:
    """Blends a colour per class over the image (class 0, the background, stays transparent)."""

    def __init__(self, num_classes: int, alpha: float = 0.5, scale: int = 1) -> None:
        self.num_classes = num_classes
        self.alpha = alpha
        self.scale = scale

    def __call__(self, image: np.ndarray, class_map: np.ndarray) -> Image.Image:
        picture = to_pillow(image)
        colours = np.array([colour(index) for index in range(self.num_classes)], dtype=np.uint8)
        classes = np.clip(np.asarray(class_map).astype(np.int64), 0, self.num_classes - 1)
        overlay = Image.fromarray(colours[classes])
        alpha = Image.fromarray(((classes > 0) * int(255 * self.alpha)).astype(np.uint8))
        picture.paste(overlay, (0, 0), alpha)
        if self.scale != 1:
            picture = picture.resize((picture.width * self.scale, picture.height * self.scale), Image.NEAREST)
        return picture


class PointsDrawer:
    """Draws points ``[P, >=3]`` ``(x, y, class[, score])`` as coloured crosses; rows with class < 0 are skipped."""

    def __init__(self, class_names: Sequence[str], scale: int = 1, size: int = 3) -> None:
        self.class_names = list(class_names)
        self.scale = scale
        self.size = size

    def __call__(self, image: np.ndarray, points: np.ndarray) -> Image.Image:
        picture = to_pillow(image, self.scale)
        draw = ImageDraw.Draw(picture)
        for row in np.asarray(points).reshape(-1, np.asarray(points).shape[-1]):
            if row[2] < 0:
                continue
            x, y, fill = row[0] * self.scale, row[1] * self.scale, colour(int(row[2]) + 1)
            draw.line([(x - self.size, y), (x + self.size, y)], fill=fill, width=2)
            draw.line([(x, y - self.size), (x, y + self.size)], fill=fill, width=2)
            draw.text((x + self.size + 1, y - 6), self.class_names[int(row[2])], fill=fill)
        return picture


class BoxesDrawer:
    """Draws boxes ``[P, >=5]`` ``(x1, y1, x2, y2, class[, score])`` with class labels; rows with class < 0 skipped."""

    def __init__(self, class_names: Sequence[str], scale: int = 1) -> None:
        self.class_names = list(class_names)
        self.scale = scale

    def __call__(self, image: np.ndarray, boxes: np.ndarray) -> Image.Image:
        picture = to_pillow(image, self.scale)
        draw = ImageDraw.Draw(picture)
        for row in np.asarray(boxes).reshape(-1, np.asarray(boxes).shape[-1]):
            if row[4] < 0:
                continue
            x1, y1, x2, y2 = (float(value) * self.scale for value in row[:4])
            fill = colour(int(row[4]) + 1)
            draw.rectangle([x1, y1, x2, y2], outline=fill, width=2)
            label = self.class_names[int(row[4])] + (f" {row[5]:.2f}" if len(row) > 5 else "")
            draw.text((x1 + 2, y1 + 1), label, fill=fill)
        return picture
