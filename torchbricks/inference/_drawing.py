"""``--draw``: the pictures each task's visualizer makes, drawn on the original image with its predictions.

A task's visualizer is the per-image visualization brick
(:class:`~torchbricks.visualization.BrickPerImageVisualization`) that reads the model's image input and
the task's prediction. Its drawing function is called with the original image (``[H, W, C]`` uint8) and
the prediction mapped to the original image (points and boxes scaled, the mask resized), so the picture
has the image's own size. A visualizer that reads anything else is not used (its task gets no picture).

Example:
    >>> import numpy as np, torch
    >>> from torchbricks import BrickCollection, BrickPerImageVisualization, BrickTrainable
    >>> def size_of(image, class_map):
    ...     return image.shape
    >>> model = BrickCollection({
    ...     "head": BrickTrainable(torch.nn.Identity(), ["images"], ["cells/class_map"]),
    ...     "draw": BrickPerImageVisualization(size_of, ["images", "cells/class_map"], ["cells/visualization"]),
    ... })
    >>> drawers = task_drawers(model, "images", ["cells/class_map"])
    >>> drawers["cells/class_map"](np.zeros((5, 7, 3), dtype=np.uint8), np.zeros((5, 7)))
    (5, 7, 3)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torchbricks.groups import VISUALIZATION
from torchbricks.visualization import BrickPerImageVisualization

Drawer = Callable[[Any, Any], Any]


def task_drawers(model: Any, image_name: str, predictions: Sequence[str]) -> dict[str, Drawer]:
    """``{prediction name: draw(image, prediction)}`` for each prediction a visualizer reads with the image."""
    drawers: dict[str, Drawer] = {}
    for node in model.nodes({VISUALIZATION}):
        brick = node.brick
        if not isinstance(brick, BrickPerImageVisualization) or node.reads_all or len(node.inputs) != 2:
            continue
        for prediction in predictions:
            if prediction in drawers or set(node.inputs) != {image_name, prediction}:
                continue
            drawers[prediction] = _drawer(brick.model, node.inputs, node.keywords, image_name)
    return drawers


def _drawer(draw: Callable[..., Any], inputs: Sequence[str], keywords: Sequence[str] | None, image_name: str) -> Drawer:
    image_first = inputs[0] == image_name
    if keywords is not None:
        image_keyword, prediction_keyword = (keywords[0], keywords[1]) if image_first else (keywords[1], keywords[0])
        return lambda image, prediction: draw(**{image_keyword: image, prediction_keyword: prediction})
    if image_first:
        return lambda image, prediction: draw(image, prediction)
    return lambda image, prediction: draw(prediction, image)
