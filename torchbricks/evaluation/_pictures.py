"""PNG pictures of an evaluation, drawn with Pillow: confusion matrices and precision-recall curves.

Example:
    >>> picture = confusion_picture([[5, 1], [0, 4]], ["cat", "dog"], "kind")
    >>> picture.mode, picture.width > 100
    ('RGB', True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image, ImageDraw, ImageFont

CELL = 44
MARGIN = 110
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def _font() -> Any:
    return ImageFont.load_default()


def _label(text: str, width: int = 16) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _count(value: int) -> str:
    """A count short enough for a cell: ``987``, ``12.3k``, ``4.5M``.

    Example:
        >>> _count(987), _count(12345), _count(4_500_000)
        ('987', '12.3k', '4.5M')
    """
    for limit, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (10_000, "k")):
        if value >= limit:
            divisor = 1000 if suffix == "k" else limit
            return f"{value / divisor:.1f}{suffix}"
    return str(value)


def confusion_picture(matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str) -> Image.Image:
    """A confusion matrix (rows: true class, columns: predicted), each cell shaded by its share of its row."""
    count = len(class_names)
    size = MARGIN + CELL * max(count, 1) + 20
    picture = Image.new("RGB", (size, size + 20), "white")
    draw = ImageDraw.Draw(picture)
    font = _font()
    draw.text((10, 6), f"{title}: rows true, columns predicted", fill="black", font=font)
    for row in range(count):
        total = sum(matrix[row]) or 1
        draw.text((6, MARGIN + row * CELL + CELL // 2 - 6), _label(str(class_names[row])), fill="black", font=font)
        for column in range(count):
            value = matrix[row][column]
            share = value / total
            shade = int(255 - 200 * share)
            left, top = MARGIN + column * CELL, MARGIN + row * CELL
            draw.rectangle((left, top, left + CELL - 1, top + CELL - 1), fill=(shade, shade, 255), outline="grey")
            text = _count(value)
            draw.text((left + 4, top + CELL // 2 - 6), text, fill="black" if share < 0.6 else "white", font=font)
    for column in range(count):
        label = Image.new("RGB", (MARGIN - 30, 14), "white")
        ImageDraw.Draw(label).text((0, 0), _label(str(class_names[column]), 14), fill="black", font=font)
        rotated = label.rotate(90, expand=True)
        picture.paste(rotated, (MARGIN + column * CELL + CELL // 2 - 7, 24))
    return picture


def pr_curve_picture(curves: Mapping[str, Mapping[str, Any]], title: str, size: int = 360) -> Image.Image:
    """Precision (up) against recall (right), one line per class, with a legend of average precisions."""
    legend = 18 * len(curves)
    picture = Image.new("RGB", (size + 60, size + 70 + legend), "white")
    draw = ImageDraw.Draw(picture)
    font = _font()
    left, top = 40, 24
    draw.text((10, 4), f"{title}: precision-recall", fill="black", font=font)
    draw.rectangle((left, top, left + size, top + size), outline="black")
    for tick in range(0, 11, 2):
        value = tick / 10
        draw.text((left + value * size - 6, top + size + 4), f"{value:.1f}", fill="black", font=font)
        draw.text((6, top + size - value * size - 6), f"{value:.1f}", fill="black", font=font)
    draw.text((left + size // 2 - 20, top + size + 18), "recall", fill="black", font=font)
    for index, (name, curve) in enumerate(curves.items()):
        colour = PALETTE[index % len(PALETTE)]
        points = [
            (left + recall * size, top + size - precision * size)
            for recall, precision in zip(curve["recall"], curve["precision"], strict=True)
        ]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        elif points:
            x, y = points[0]
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=colour)
        label = f"{_label(str(name), 24)}  AP {curve['average_precision']:.3f}"
        draw.text((left, top + size + 38 + 18 * index), label, fill=colour, font=font)
    return picture


def counts_picture(matrices: Mapping[str, Sequence[Sequence[int]]], title: str) -> Image.Image:
    """Each label's 2 × 2 matrix (true absent/present × predicted absent/present), side by side."""
    pictures = [confusion_picture(matrix, ["absent", "present"], str(name)) for name, matrix in matrices.items()]
    if not pictures:
        return Image.new("RGB", (200, 40), "white")
    width = sum(picture.width for picture in pictures)
    combined = Image.new("RGB", (width, pictures[0].height + 20), "white")
    ImageDraw.Draw(combined).text((6, 4), title, fill="black", font=_font())
    offset = 0
    for picture in pictures:
        combined.paste(picture, (offset, 20))
        offset += picture.width
    return combined
