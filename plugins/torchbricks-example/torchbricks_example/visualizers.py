"""Visualizers: draw model outputs on images with Pillow.

Registered in ``pyproject.toml``::

    [project.entry-points."torchbricks.visualizers"]
    example_label_overlay = "torchbricks_example.visualizers:LabelOverlay"

A visualizer factory returns a callable that draws *one* image. ``BrickPerImageVisualization`` calls
it once per image of a batch, with batched tensors unpacked to numpy arrays (images channel-last)::

    from torchbricks import BrickPerImageVisualization
    from torchbricks.registry import create

    overlay = create("visualizers", "example_label_overlay", class_names=["cat", "dog"])
    brick = BrickPerImageVisualization(overlay, input_names=["raw", "class_prediction"],
                                       output_names=["labelled"])

Example:
    >>> import numpy as np
    >>> overlay = LabelOverlay(class_names=["cat", "dog"])
    >>> picture = overlay(np.zeros((32, 48, 3), dtype=np.float32), np.array([1]))
    >>> picture.size, picture.mode
    ((48, 32), 'RGB')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw


class LabelOverlay:
    """Write the predicted class name in the top-left corner of an image (returns a Pillow image).

    Args:
        class_names: names indexed by class; without them the class index is written.
        color: RGB text colour.
    """

    def __init__(self, class_names: Sequence[str] | None = None, color: tuple[int, int, int] = (255, 255, 0)) -> None:
        self.class_names = list(class_names) if class_names is not None else None
        self.color = tuple(color)

    def __call__(self, image: np.ndarray, class_prediction: Any) -> Image.Image:
        """Draw on a copy of ``image`` (``[H, W, C]`` floats in ``[0, 1]`` or ``uint8``)."""
        picture = Image.fromarray(_to_uint8_rgb(np.asarray(image)))
        index = int(np.asarray(class_prediction).reshape(-1)[0])
        label = self.class_names[index] if self.class_names is not None else str(index)
        ImageDraw.Draw(picture).text((2, 2), label, fill=self.color)
        return picture


def _to_uint8_rgb(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])
