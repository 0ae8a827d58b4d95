"""The demo's pictures: per task a grid of image | ground truth | prediction with a legend, and training curves.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> csv = folder / "metrics.csv"
    >>> _ = csv.write_text("step,train/loss,train/shapes/f1,val/shapes/f1\\n0,2.0,,\\n1,1.0,0.5,\\n2,0.5,0.7,0.6\\n")
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

from bag_of_bricks.shapes import CLASS_NAMES, SHAPE_NAMES
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
    """``{"task/metric": [(step, value), ...]}`` of Lightning's ``metrics.csv``; validation ones as ``task/val metric``.

    Example:
        >>> import tempfile, pathlib
        >>> csv_file = pathlib.Path(tempfile.mkdtemp()) / "metrics.csv"
        >>> _ = csv_file.write_text("epoch,step,train/loss,val/seg/mean_iou\\n0,9,2.5,\\n0,19,,0.75\\n")
        >>> read_curves(csv_file)
        {'loss': [(9.0, 2.5)], 'seg/val mean_iou': [(19.0, 0.75)]}
    """
    curves: dict[str, list[tuple[float, float]]] = {}
    if not path.is_file():
        return curves
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            step = float(row.get("step") or 0)
            for name, value in row.items():
                if value in ("", None):
                    continue
                if name.startswith("train/"):
                    key = name.removeprefix("train/")
                elif name.startswith("val/"):
                    task, _, metric = name.removeprefix("val/").rpartition("/")
                    key = f"{task}/val {metric}" if task else f"val {metric}"
                else:
                    continue
                curves.setdefault(key, []).append((step, float(value)))
    return curves


PLOT_WIDTH, PLOT_HEIGHT, PLOT_LEFT, PLOT_TOP = 420, 170, 52, 26
LEGEND_ROW = 16


def write_training_plot(csv_path: Path, path: Path) -> Path:
    """Per task (rows; the total loss first) a loss panel and a metrics panel against the training step.

    Training values are lines; validation values are dots in the same colour. The legend under each
    panel gives every curve's last value.
    """
    curves = read_curves(csv_path)
    tasks: dict[str, dict[str, dict[str, list[tuple[float, float]]]]] = {}
    for name, points in curves.items():
        task, _, metric = name.rpartition("/")
        kind = "loss" if metric.endswith("loss") else "metrics"
        tasks.setdefault(task or "total", {"loss": {}, "metrics": {}})[kind][metric] = points
    order = sorted(tasks, key=lambda task: (task != "total", task))
    steps = [step for points in curves.values() for step, _ in points] or [0.0]
    span = (min(steps), max(max(steps), min(steps) + 1))
    legend_rows = max((_legend_rows(panel) for task in tasks.values() for panel in task.values()), default=1)
    cell_width = PLOT_LEFT + PLOT_WIDTH + 20
    cell_height = PLOT_TOP + PLOT_HEIGHT + 22 + legend_rows * LEGEND_ROW + 10
    sheet = Image.new("RGB", (2 * cell_width, max(1, len(order)) * cell_height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for row, task in enumerate(order):
        for column, kind in enumerate(("loss", "metrics")):
            if not tasks[task][kind]:  # e.g. the total has a loss, no metrics
                continue
            origin = (column * cell_width, row * cell_height)
            _panel(draw, origin, f"{task}: {kind}", tasks[task][kind], span, unit_range=kind == "metrics")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def _legend_rows(panel: dict[str, list[tuple[float, float]]]) -> int:
    return math.ceil(len(panel) / 2)


def _panel(
    draw: ImageDraw.ImageDraw,
    origin: tuple[int, int],
    title: str,
    panel: dict[str, list[tuple[float, float]]],
    steps: tuple[float, float],
    unit_range: bool,
) -> None:
    """One plot: axes with their ranges, a line per training curve, dots per validation curve, a legend."""
    font = _font(12)
    left, top = origin[0] + PLOT_LEFT, origin[1] + PLOT_TOP
    right, bottom = left + PLOT_WIDTH, top + PLOT_HEIGHT
    draw.text((left, origin[1] + 6), title, fill=(0, 0, 0), font=_font(14))
    draw.rectangle((left, top, right, bottom), outline=(0, 0, 0))
    values = [value for points in panel.values() for _, value in points]
    low, high = (0.0, 1.0) if unit_range and min(values) >= 0 and max(values) <= 1 else (min(values), max(values))
    high = high if high > low else low + 1.0
    for value, y in ((high, top), (low, bottom - 12)):
        draw.text((origin[0] + 4, y), f"{value:.2f}", fill=(80, 80, 80), font=font)
    draw.text((left, bottom + 4), f"step {steps[0]:.0f}", fill=(80, 80, 80), font=font)
    draw.text((right - 64, bottom + 4), f"step {steps[1]:.0f}", fill=(80, 80, 80), font=font)

    def position(step: float, value: float) -> tuple[float, float]:
        x = left + (step - steps[0]) / (steps[1] - steps[0]) * PLOT_WIDTH
        return x, bottom - (value - low) / (high - low) * (PLOT_HEIGHT - 4) - 2

    base_names = sorted({name.removeprefix("val ") for name in panel})
    colours = {name: _COLOURS[index % len(_COLOURS)] for index, name in enumerate(base_names)}
    for index, name in enumerate(sorted(panel, key=lambda name: (name.removeprefix("val "), name.startswith("val ")))):
        points = [position(step, value) for step, value in panel[name]]
        colour = colours[name.removeprefix("val ")]
        if name.startswith("val "):
            for x, y in points:
                draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=colour, outline=(0, 0, 0))
        elif len(points) > 1:
            draw.line(points, fill=colour, width=2)
        else:
            draw.ellipse((points[0][0] - 2, points[0][1] - 2, points[0][0] + 2, points[0][1] + 2), fill=colour)
        label = f"{name.removeprefix('val ')} ({'validation' if name.startswith('val ') else 'training'}) "
        label += f"{panel[name][-1][1]:.3f}"
        x = left + (index % 2) * (PLOT_WIDTH // 2)
        y = bottom + 22 + (index // 2) * LEGEND_ROW
        if name.startswith("val "):
            draw.ellipse((x + 2, y + 2, x + 10, y + 10), fill=colour, outline=(0, 0, 0))
        else:
            draw.line((x, y + 6, x + 12, y + 6), fill=colour, width=3)
        draw.text((x + 16, y), label, fill=(0, 0, 0), font=font)
