"""Visualization bricks' pictures during training: one sheet per task, to PNG files and to image loggers.

A sheet is the pictures a task's visualization brick (``<task>/visualization``: a list of PIL images)
draws for a batch, side by side, enlarged when small. :func:`log_sheets` sends them to every logger
that takes images: TensorBoard's (``experiment.add_image``) and loggers with a ``log_image(key,
images, step)`` method (Weights & Biases, Neptune and the like).

Example:
    >>> from PIL import Image
    >>> sheet = side_by_side([Image.new("RGB", (8, 8)), Image.new("RGB", (8, 8))])
    >>> sheet.size
    (512, 256)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

VISUALIZATION_SUFFIX = "/visualization"
SMALL = 128
"""Sheets of pictures narrower than this are enlarged (nearest neighbour) to 256 pixels high."""


def side_by_side(pictures: list[Any]) -> Any:
    """The pictures in one row; small ones enlarged so that a person can see them."""
    from PIL import Image

    width, height = pictures[0].size
    sheet = Image.new("RGB", (width * len(pictures), height))
    for index, picture in enumerate(pictures):
        sheet.paste(picture, (index * width, 0))
    if width < SMALL:
        scale = max(1, 256 // width)
        sheet = sheet.resize((sheet.width * scale, sheet.height * scale), Image.NEAREST)
    return sheet


def visualization_sheets(model: torch.nn.Module, batch: Mapping[str, Any]) -> dict[str, Any]:
    """``{task: sheet}`` for every visualization brick of ``model`` run on ``batch`` (eval mode, no gradients).

    The model's train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            outputs = model(dict(batch), groups={"MODEL", "VISUALIZATION"})
    finally:
        model.train(was_training)
    sheets = {}
    for name, pictures in outputs.items():
        if name.endswith(VISUALIZATION_SUFFIX) and isinstance(pictures, list | tuple) and pictures:
            sheets[name.removesuffix(VISUALIZATION_SUFFIX)] = side_by_side(list(pictures))
    return sheets


def save_sheets(sheets: Mapping[str, Any], folder: Path) -> list[Path]:
    """Each sheet as ``folder/<task>.png`` (a nested task path joined with ``_``)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for task, sheet in sheets.items():
        path = folder / f"{task.replace('/', '_')}.png"
        sheet.save(path)
        written.append(path)
    return written


def takes_images(logger: Any) -> bool:
    """Whether a Lightning logger can log images (TensorBoard, or a ``log_image`` method)."""
    return callable(getattr(logger, "log_image", None)) or _is_tensorboard(logger)


def log_sheets(loggers: Iterable[Any], sheets: Mapping[str, Any], step: int, prefix: str = "val") -> int:
    """Send each sheet as ``<prefix>/<task>/visualization`` to every logger that takes images; returns how many."""
    import numpy as np

    sent = 0
    for logger in loggers:
        for task, sheet in sheets.items():
            key = f"{prefix}/{task}{VISUALIZATION_SUFFIX}"
            if _is_tensorboard(logger):
                logger.experiment.add_image(key, np.asarray(sheet.convert("RGB")), step, dataformats="HWC")
            elif callable(getattr(logger, "log_image", None)):
                logger.log_image(key=key, images=[sheet], step=step)
            else:
                continue
            sent += 1
    return sent


def _is_tensorboard(logger: Any) -> bool:
    from torchbricks.training._lightning import lightning

    return isinstance(logger, lightning().loggers.TensorBoardLogger)
