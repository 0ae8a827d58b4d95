"""A generated multi-task dataset of shapes: no download, fully determined by a seed.

Each image (default 64×64) holds 1–3 possibly overlapping shapes (circle, square, triangle; radius
6–14 px) in random colours on a random background with pixel noise. Labels for three tasks:

* ``shape_present`` ``[B, 3]`` — which kinds are in the image (multi-label);
* ``segmentation`` ``[B, H, W]`` — 0 background, 1 circle, 2 square, 3 triangle (later shapes on top);
* ``points`` ``[B, 3, 3]`` — ``(x, y, kind)`` of each shape's centre, padded with ``-1`` rows.

Shapes are placed so that at least half of each one stays visible, in colours far from the background
and from each other, so every label can be seen.

Example:
    >>> batch = make_shapes_batch(4, seed=0)
    >>> batch["images"].shape, batch["images"].dtype, batch["segmentation"].shape
    (torch.Size([4, 3, 64, 64]), torch.uint8, torch.Size([4, 64, 64]))
    >>> bool((make_shapes_batch(4, seed=0)["images"] == batch["images"]).all())
    True
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["CLASS_NAMES", "MAX_SHAPES", "SHAPE_NAMES", "make_shapes_batch"]

SHAPE_NAMES = ("circle", "square", "triangle")
CLASS_NAMES = ("background", *SHAPE_NAMES)
MAX_SHAPES = 3
_MIN_VISIBLE_FRACTION = 0.5
_MIN_COLOUR_DISTANCE = 90.0


def make_shapes_batch(
    count: int, seed: int, image_size: int = 64, radius_range: tuple[int, int] = (6, 14), noise: float = 8.0
) -> dict[str, torch.Tensor]:
    """``count`` images with labels for the three tasks, determined by ``seed``."""
    generator = np.random.default_rng(seed)
    images = np.empty((count, image_size, image_size, 3), dtype=np.uint8)
    segmentation = np.zeros((count, image_size, image_size), dtype=np.int64)
    points = np.full((count, MAX_SHAPES, 3), -1.0, dtype=np.float32)
    present = np.zeros((count, len(SHAPE_NAMES)), dtype=np.float32)
    for index in range(count):
        image, mask, centres = _draw_image(generator, image_size, radius_range, noise)
        images[index], segmentation[index] = image, mask
        for slot, (x, y, kind) in enumerate(centres):
            points[index, slot] = (x, y, kind)
            present[index, kind] = 1.0
    return {
        "images": torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        "shape_present": torch.from_numpy(present),
        "segmentation": torch.from_numpy(segmentation),
        "points": torch.from_numpy(points),
    }


def _draw_image(
    generator: np.random.Generator, size: int, radius_range: tuple[int, int], noise: float
) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float, int]]]:
    background = generator.uniform(0, 255, size=3)
    canvas = np.broadcast_to(background, (size, size, 3)).copy()
    mask = np.zeros((size, size), dtype=np.int64)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    centres: list[tuple[float, float, int]] = []
    owners = np.full((size, size), -1, dtype=np.int64)
    areas: list[int] = []
    colours: list[np.ndarray] = []
    wanted = int(generator.integers(1, MAX_SHAPES + 1))
    attempts = 0
    while len(centres) < wanted and attempts < 50:
        attempts += 1
        kind = int(generator.integers(0, len(SHAPE_NAMES)))
        radius = float(generator.uniform(radius_range[0], radius_range[1]))
        x = float(generator.uniform(radius, size - radius))
        y = float(generator.uniform(radius, size - radius))
        inside = _shape_mask(kind, x, y, radius, xs, ys, generator)
        if inside.sum() < 10:
            continue
        new_owners = np.where(inside, len(centres), owners)
        visible = [(new_owners == shape).sum() for shape in range(len(centres))]
        if any(count < _MIN_VISIBLE_FRACTION * area for count, area in zip(visible, areas, strict=True)):
            continue
        colour = _distinct_colour(generator, [background, *colours])
        owners = new_owners
        areas.append(int(inside.sum()))
        colours.append(colour)
        canvas[inside] = colour
        mask[inside] = kind + 1
        centres.append((x, y, kind))
    canvas += generator.normal(0.0, noise, size=canvas.shape)
    return np.clip(canvas, 0, 255).astype(np.uint8), mask, centres


def _shape_mask(
    kind: int, x: float, y: float, radius: float, xs: np.ndarray, ys: np.ndarray, generator: np.random.Generator
) -> np.ndarray:
    if kind == 0:
        return (xs - x) ** 2 + (ys - y) ** 2 <= radius**2
    if kind == 1:
        half = radius / math.sqrt(2.0) * 1.2
        return (np.abs(xs - x) <= half) & (np.abs(ys - y) <= half)
    angle = float(generator.uniform(0, 2 * math.pi))
    corners = [
        (x + radius * math.cos(angle + k * 2 * math.pi / 3), y + radius * math.sin(angle + k * 2 * math.pi / 3))
        for k in range(3)
    ]
    inside = np.ones_like(xs, dtype=bool)
    for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1], strict=True):
        inside &= (x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0) >= 0
    return inside


def _distinct_colour(generator: np.random.Generator, others: list[np.ndarray]) -> np.ndarray:
    """A random colour far from the background and the other shapes' colours (best of 30 tries)."""
    best, best_distance = others[0], -1.0
    for _ in range(30):
        colour = generator.uniform(0, 255, size=3)
        distance = min(float(np.linalg.norm(colour - other)) for other in others)
        if distance >= _MIN_COLOUR_DISTANCE:
            return colour
        if distance > best_distance:
            best, best_distance = colour, distance
    return best
