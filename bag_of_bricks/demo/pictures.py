"""The demo's pictures: per task a grid of image | ground truth | prediction with a legend, and training curves.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> csv = folder / "metrics.csv"
    >>> _ = csv.write_text("step,train/loss,train/shapes/f1\\n0,2.0,\\n1,1.0,0.5\\n2,0.5,0.7\\n")
    >>> write_training_plot(csv, folder / "training.png").name
    'training.png'
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw, ImageFont

from bag_of_bricks.demo.shapes import CLASS_NAMES, SHAPE_NAMES
from bag_of_bricks.visualizers import PALETTE

TILE = 192
LEGEND_HEIGHT = 28
_COLOURS = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240)]


def _font(size: int = 13) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _tile(image: torch.Tensor) -> Image.Image:
    array = image.permute(1, 2, 0).contiguous().numpy()
    return Image.fromarray(array).resize((TILE, TILE), Image.NEAREST)


def _mask_tile(mask: torch.Tensor) -> Image.Image:
    colours = torch.tensor([PALETTE[index % len(PALETTE)] for index in range(len(CLASS_NAMES))], dtype=torch.uint8)
    coloured = colours[mask.clamp(0, len(CLASS_NAMES) - 1)]
    return Image.fromarray(coloured.numpy()).resize((TILE, TILE), Image.NEAREST)


def _points_tile(image: torch.Tensor, points: torch.Tensor) -> Image.Image:
    tile = _tile(image)
    draw = ImageDraw.Draw(tile)
    scale = TILE / image.shape[-1]
    font = _font(12)
    for x, y, kind, *_ in points.tolist():
        if kind < 0:
            continue
        colour = PALETTE[(int(kind) + 1) % len(PALETTE)]
        cx, cy = x * scale, y * scale
        draw.ellipse((cx - 5, cy - 5, cx + 5, cy + 5), outline=colour, width=3)
        label = SHAPE_NAMES[int(kind)]
        width = draw.textlength(label, font=font)
        tx = min(max(2, cx + 7), TILE - width - 2)  # text stays inside the tile
        ty = min(max(2, cy - 7), TILE - 16)
        draw.rectangle((tx - 1, ty - 1, tx + width + 1, ty + 14), fill=(0, 0, 0))
        draw.text((tx, ty), label, fill=colour, font=font)
    return tile


def _labels_tile(image: torch.Tensor, present: torch.Tensor) -> Image.Image:
    tile = _tile(image)
    draw = ImageDraw.Draw(tile)
    names = [name for name, flag in zip(SHAPE_NAMES, present.tolist(), strict=True) if flag > 0.5] or ["(none)"]
    draw.rectangle((0, TILE - 18 * len(names) - 4, TILE, TILE), fill=(0, 0, 0))
    for row, name in enumerate(names):
        draw.text((4, TILE - 18 * (len(names) - row)), name, fill=(255, 255, 255), font=_font(13))
    return tile


def _legend(width: int, entries: list[tuple[str, tuple[int, int, int]]]) -> Image.Image:
    legend = Image.new("RGB", (width, LEGEND_HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(legend)
    x = 6
    for name, colour in entries:
        draw.rectangle((x, 8, x + 12, 20), fill=colour, outline=(0, 0, 0))
        draw.text((x + 16, 7), name, fill=(0, 0, 0), font=_font(13))
        x += 24 + int(draw.textlength(name, font=_font(13))) + 8
    return legend


def _grid(rows: list[list[Image.Image]], title: str, legend: list[tuple[str, tuple[int, int, int]]]) -> Image.Image:
    columns = ("image", "ground truth", "prediction")
    header = 24
    width = TILE * len(columns)
    sheet = Image.new("RGB", (width, header + TILE * len(rows) + LEGEND_HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for index, name in enumerate(columns):
        draw.text((index * TILE + 6, 5), f"{title}: {name}" if index == 0 else name, fill=(0, 0, 0), font=_font(14))
    for row, tiles in enumerate(rows):
        for column, tile in enumerate(tiles):
            sheet.paste(tile, (column * TILE, header + row * TILE))
    sheet.paste(_legend(width, legend), (0, header + TILE * len(rows)))
    return sheet


def write_pictures(model: torch.nn.Module, data: dict[str, torch.Tensor], folder: Path, count: int = 4) -> list[Path]:
    """``shapes.png``, ``segmentation.png``, ``centres.png``: image | ground truth | prediction for ``count`` images."""
    folder.mkdir(parents=True, exist_ok=True)
    model.eval()
    images = data["images"][:count]
    with torch.no_grad():
        outputs = model({"images": images}, groups="inference")
    shape_colours = [(name, PALETTE[index + 1]) for index, name in enumerate(SHAPE_NAMES)]
    class_colours = [(name, PALETTE[index]) for index, name in enumerate(CLASS_NAMES)]
    grids = {
        "shapes": (
            [
                [
                    _tile(image),
                    _labels_tile(image, data["shape_present"][i]),
                    _labels_tile(image, outputs["shapes/present"][i]),
                ]
                for i, image in enumerate(images)
            ],
            [("labels present in the image", (0, 0, 0))],
        ),
        "segmentation": (
            [
                [_tile(image), _mask_tile(data["segmentation"][i]), _mask_tile(outputs["segmentation/class_map"][i])]
                for i, image in enumerate(images)
            ],
            class_colours,
        ),
        "centres": (
            [
                [
                    _tile(image),
                    _points_tile(image, data["points"][i]),
                    _points_tile(image, outputs["centres/points"][i]),
                ]
                for i, image in enumerate(images)
            ],
            shape_colours,
        ),
    }
    written = []
    for task, (rows, legend) in grids.items():
        path = folder / f"{task}.png"
        _grid(rows, task, legend).save(path)
        written.append(path)
    return written


def read_curves(path: Path) -> dict[str, list[tuple[float, float]]]:
    """``{column: [(step, value), ...]}`` of a ``training.csv`` (training columns only; Lightning's CSV works too)."""
    curves: dict[str, list[tuple[float, float]]] = {}
    if not path.is_file():
        return curves
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            step = float(row.get("step") or 0)
            for name, value in row.items():
                if name.startswith("train/") and value not in ("", None):
                    curves.setdefault(name.removeprefix("train/"), []).append((step, float(value)))
    return curves


def write_training_plot(csv_path: Path, path: Path) -> Path:
    """One panel per task (and the total loss): its loss and metrics against the training step."""
    curves = read_curves(csv_path)
    groups: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for name, points in sorted(curves.items()):
        task, _, metric = name.rpartition("/")
        groups.setdefault(task or "total", {})[metric] = points
    panel_width, panel_height, margin = 360, 220, 40
    columns = max(1, min(3, len(groups)))
    rows = max(1, math.ceil(len(groups) / columns))
    sheet = Image.new("RGB", (panel_width * columns, panel_height * rows), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = _font(12)
    for index, (task, metrics) in enumerate(groups.items()):
        left, top = (index % columns) * panel_width, (index // columns) * panel_height
        box = (left + margin, top + 24, left + panel_width - 12, top + panel_height - 28)
        draw.rectangle(box, outline=(0, 0, 0))
        draw.text((left + margin, top + 6), task, fill=(0, 0, 0), font=_font(14))
        all_points = [point for points in metrics.values() for point in points]
        steps = [step for step, _ in all_points] or [0.0]
        low, high = min(steps), max(steps) or 1.0
        draw.text((box[0], box[3] + 4), f"step {low:.0f}", fill=(80, 80, 80), font=font)
        draw.text((box[2] - 60, box[3] + 4), f"step {high:.0f}", fill=(80, 80, 80), font=font)
        for number, (metric, points) in enumerate(sorted(metrics.items())):
            colour = _COLOURS[number % len(_COLOURS)]
            values = [value for _, value in points]
            lowest, highest = min(values), max(values)
            span = (highest - lowest) or 1.0
            line = [
                (
                    box[0] + (step - low) / max(high - low, 1.0) * (box[2] - box[0]),
                    box[3] - (value - lowest) / span * (box[3] - box[1] - 4) - 2,
                )
                for step, value in points
            ]
            if len(line) > 1:
                draw.line(line, fill=colour, width=2)
            elif line:
                draw.ellipse((line[0][0] - 2, line[0][1] - 2, line[0][0] + 2, line[0][1] + 2), fill=colour)
            label = f"{metric} {values[-1]:.3f} (min {lowest:.2f}, max {highest:.2f})"
            draw.text((box[0] + 4 + 170 * (number % 2), box[1] + 4 + 14 * (number // 2)), label, fill=colour, font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
