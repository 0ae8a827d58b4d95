"""Visualization bricks' pictures during training: one sheet per task, to PNG files and to image loggers.

A sheet is the pictures a task's visualization brick (``<task>/visualization``: a list of PIL images)
draws for a batch, side by side, enlarged when small. :func:`log_sheets` sends them to every logger
that takes images: TensorBoard's (``experiment.add_image``) and loggers with a ``log_image(key,
images, step)`` method (Weights & Biases, Neptune and the like).

The train run's ``visualizations/`` folder holds one sheet per task drawn by :func:`write_task_sheets`:
rows of image | ground truth | prediction (like the demo's pictures), on validation images labelled for
the task and spread over its classes (:func:`pick_visualization_samples`), the ground truth drawn by the
task's own visualizer.

Example:
    >>> from PIL import Image
    >>> sheet = side_by_side([Image.new("RGB", (8, 8)), Image.new("RGB", (8, 8))])
    >>> sheet.size
    (512, 256)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from torchbricks.training._data import collate, dataset_names

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


IGNORE_INDEX = 255
"""A mask value marking unlabelled pixels: shown as background in the ground truth."""
TILE = 192
"""Images narrower than this are enlarged (nearest neighbour, a whole factor) in the task sheets."""
HEADER = 24
GAP = 2
"""White pixels between the rows and columns of a task sheet."""
COLUMNS = ("image", "ground truth", "prediction")


def target_classes(value: Any) -> list[int] | None:
    """The class indices a target holds; ``None`` when it says "no label" (a class -1, every label -1).

    A class index ``[]``, 0/1 labels ``[C]``, a mask ``[H, W]`` (255 ignored), points ``[N, 3]`` or boxes
    ``[N, 5]`` (class last, ``-1`` rows are padding).

    Example:
        >>> target_classes(torch.tensor(2)), target_classes(torch.tensor([1.0, 0.0, 1.0]))
        ([2], [0, 2])
        >>> target_classes(torch.tensor([[3.0, 4.0, 1.0], [-1.0, -1.0, -1.0]])), target_classes(torch.tensor(-1))
        ([1], None)
    """
    if not isinstance(value, torch.Tensor):
        return None
    if value.ndim == 0:
        return None if int(value) < 0 else [int(value)]
    if value.ndim == 1 and value.dtype.is_floating_point:
        if bool((value < 0).all()):
            return None
        return [int(index) for index in torch.nonzero(value > 0.5).flatten()]
    if value.ndim == 2 and value.dtype.is_floating_point:
        return sorted({int(kind) for kind in value[:, -1].tolist() if kind >= 0})
    classes = value.unique().tolist()
    return [int(kind) for kind in classes if 0 <= kind != IGNORE_INDEX]


def pick_visualization_samples(
    datasets: Sequence[Any], count: int, task_targets: Mapping[str, str | None]
) -> dict[str, list[tuple[int, int]]]:
    """Per task, up to ``count`` ``(dataset index, sample index)`` of samples labelled for it, spread over its classes.

    Only datasets that give the task's target (``task_targets``: task → target name) are searched; each at
    up to ``max(256, 32 * count)`` evenly spaced samples (a folder sorted by class is searched through). The
    samples are taken in turn for each class (the first one holding class 0, then class 1, ...), then
    samples labelled with no class (an image without boxes). Class indices come from a dataset's
    ``classes_of(index)`` when it has one (no image read), else from the loaded sample. A task no dataset
    is labelled for (or whose target is ``None``) gets the first ``count`` samples.

    Example:
        >>> animals = [{"images": torch.zeros(3, 2, 2), "targets": torch.tensor(index // 4)} for index in range(8)]
        >>> pick_visualization_samples([animals], 4, {"animal": "targets"})
        {'animal': [(0, 0), (0, 4), (0, 1), (0, 5)]}
    """
    picks: dict[str, list[tuple[int, int]]] = {}
    for task, target in task_targets.items():
        candidates = [] if target is None else _labelled_candidates(datasets, count, target)
        if not candidates:
            picks[task] = _first_samples(datasets, count)
            continue
        by_class: dict[int, list[tuple[int, int]]] = {}
        unclassed = []
        for key, classes in candidates:
            for kind in classes:
                by_class.setdefault(kind, []).append(key)
            if not classes:
                unclassed.append(key)
        chosen: list[tuple[int, int]] = []
        queues = [by_class[kind] for kind in sorted(by_class)]
        while len(chosen) < count and any(queues):
            for queue in queues:
                while queue and queue[0] in chosen:
                    queue.pop(0)
                if queue and len(chosen) < count:
                    chosen.append(queue.pop(0))
        chosen.extend(key for key in unclassed[: count - len(chosen)] if key not in chosen)
        picks[task] = chosen
    return picks


def _labelled_candidates(datasets: Sequence[Any], count: int, target: str) -> list[tuple[tuple[int, int], list[int]]]:
    """``((dataset index, sample index), classes)`` of the samples labelled for ``target``."""
    limit = max(256, 32 * count)
    found = []
    for position, dataset in enumerate(datasets):
        if target not in dataset_names(dataset):
            continue
        size = len(dataset)
        indices = range(size) if size <= limit else sorted({round(k * (size - 1) / (limit - 1)) for k in range(limit)})
        lookup = getattr(dataset, "classes_of", None)
        for index in indices:
            known = lookup(index) if callable(lookup) else None
            classes = known[target] if known is not None and target in known else target_classes(dataset[index][target])
            if classes is not None:
                found.append(((position, index), classes))
    return found


def _first_samples(datasets: Sequence[Any], count: int) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for position, dataset in enumerate(datasets):
        found.extend((position, index) for index in range(min(len(dataset), count - len(found))))
    return found


def visualized_task_targets(model: torch.nn.Module, datasets: Sequence[Any]) -> dict[str, str | None]:
    """Task → the target its loss or metrics read (``None`` when it cannot be told), for each visualized task.

    The target is the one input of the task's loss and metric bricks that a dataset gives.
    """
    given = {name for dataset in datasets for name in dataset_names(dataset)}
    nodes = model.nodes()  # type: ignore[operator]
    model_inputs = {name for node in nodes if "MODEL" in node.groups for name in node.inputs}
    targets: dict[str, str | None] = {}
    for node in nodes:
        task = _visualized_task(node)
        if task is None:
            continue
        read = {
            name
            for other in nodes
            if other.collection_path == node.collection_path and other.groups & {"LOSS", "METRIC"}
            for name in other.inputs
            if name in given and name not in model_inputs
        }
        targets[task] = read.pop() if len(read) == 1 else None
    return targets


def _visualized_task(node: Any) -> str | None:
    from torchbricks.visualization import BrickPerImageVisualization

    if not isinstance(node.brick, BrickPerImageVisualization):
        return None
    outputs = [name for name in node.outputs if name.endswith(VISUALIZATION_SUFFIX)]
    return outputs[0].removesuffix(VISUALIZATION_SUFFIX) if len(outputs) == 1 else None


def task_sheets(
    model: torch.nn.Module,
    datasets: Sequence[Any],
    count: int,
    task_targets: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """``{task: sheet}``: rows of image | ground truth | prediction, on :func:`pick_visualization_samples`' picks.

    ``task_targets`` (task → target name) defaults to :func:`visualized_task_targets`. The ground truth is
    the task's visualizer drawing the target in place of the prediction; a sample without one shows
    "no label". The model's train/eval mode is restored afterwards.
    """
    nodes = {task: node for node in model.nodes() for task in [_visualized_task(node)] if task is not None}  # type: ignore[operator]
    targets = dict(visualized_task_targets(model, datasets) if task_targets is None else task_targets)
    picks = pick_visualization_samples(datasets, count, {task: targets.get(task) for task in nodes})
    produced = {name for node in model.nodes() for name in node.outputs}  # type: ignore[operator]
    was_training = model.training
    model.eval()
    sheets = {}
    try:
        for task, node in nodes.items():
            samples = [datasets[position][index] for position, index in picks[task]]
            if samples:
                rows = _rows(model, node, samples, targets.get(task), produced)
                sheets[task] = _sheet(task, rows)
    finally:
        model.train(was_training)
    return sheets


def _rows(
    model: torch.nn.Module, node: Any, samples: list[Any], target: str | None, produced: set[str]
) -> list[list[Any]]:
    """One row of tiles per sample; samples are batched by image size."""
    arguments = list(node.arguments or node.inputs)
    predictions = [name for name in arguments if name in produced]
    image_name = next((name for name in arguments if name not in produced), None)
    draw = node.brick.make_runner()
    rows: list[list[Any] | None] = [None] * len(samples)
    groups: dict[tuple[int, ...], list[int]] = {}
    for position, sample in enumerate(samples):
        groups.setdefault(tuple(sample[image_name].shape) if image_name in sample else (), []).append(position)
    for positions in groups.values():
        batch = collate([samples[position] for position in positions])
        with torch.no_grad():
            outputs = model(dict(batch), groups={"MODEL", "VISUALIZATION"})
        drawn = outputs[node.outputs[0]]
        truth = None
        if target is not None and len(predictions) == 1 and target in batch:
            shown = dict(outputs)
            shown[predictions[0]] = _displayed(batch[target])
            truth = _call(draw, node, [shown.get(name, batch.get(name)) for name in arguments])
        for offset, position in enumerate(positions):
            labelled = target is not None and target in samples[position]
            truth_tile = truth[offset] if truth is not None and labelled else None
            image = batch[image_name][offset] if image_name in batch else None
            rows[position] = [_image_tile(image, drawn[offset]), truth_tile, drawn[offset]]
    return [row for row in rows if row is not None]


def _displayed(target: torch.Tensor) -> torch.Tensor:
    """A target as a visualizer draws it: ignored mask pixels (255) shown as background."""
    if target.ndim == 3 and not target.dtype.is_floating_point:
        return torch.where(target == IGNORE_INDEX, torch.zeros_like(target), target)
    return target


def _call(draw: Any, node: Any, values: list[Any]) -> Any:
    if node.keywords:
        return draw(**dict(zip(node.keywords, values, strict=True)))
    return draw(*values)


def _image_tile(image: torch.Tensor | None, like: Any) -> Any:
    from PIL import Image

    if image is None:
        return Image.new("RGB", like.size)
    if image.dtype != torch.uint8:
        image = (image.float().clamp(0, 1) * 255).round().to(torch.uint8)
    array = image.permute(1, 2, 0).contiguous().numpy()
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array[:, :, :3]).convert("RGB")


def _sheet(task: str, rows: list[list[Any]]) -> Any:
    """Rows of tiles under a header ``task: image | ground truth | prediction``, small tiles enlarged."""
    from PIL import Image, ImageDraw

    width = max(tile.width for row in rows for tile in row if tile is not None)
    height = max(tile.height for row in rows for tile in row if tile is not None)
    scale = max(1, TILE // width)
    width, height = width * scale, height * scale
    size = ((width + GAP) * len(COLUMNS) - GAP, HEADER + (height + GAP) * len(rows) - GAP)
    sheet = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = _font()
    for column, name in enumerate(COLUMNS):
        draw.text(
            (column * (width + GAP) + 6, 5), f"{task}: {name}" if column == 0 else name, fill=(0, 0, 0), font=font
        )
    for number, row in enumerate(rows):
        for column, tile in enumerate(row):
            box = (column * (width + GAP), HEADER + number * (height + GAP))
            if tile is None:
                draw.rectangle((*box, box[0] + width - 1, box[1] + height - 1), fill=(96, 96, 96))
                draw.text((box[0] + 6, box[1] + 6), "no label", fill=(255, 255, 255), font=font)
                continue
            sheet.paste(tile.convert("RGB").resize((width, height), Image.NEAREST), box)
    return sheet


def _font() -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=13)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def write_task_sheets(
    model: torch.nn.Module,
    datasets: Sequence[Any],
    folder: Path,
    count: int,
    task_targets: Mapping[str, str | None] | None = None,
) -> list[Path]:
    """One PNG per task in ``folder``: :func:`task_sheets` (what a train run writes into ``visualizations/``).

    Example:
        >>> import tempfile
        >>> from torchbricks.assembly import build_model
        >>> from bag_of_bricks.datasets import shapes
        >>> model = build_model({
        ...     "backbone": {"name": "resnet18", "levels": [4]},
        ...     "tasks": {"shape": {"task": "multilabel_classification", "num_classes": 3, "targets": "shape_present"}},
        ...     "input_shape": [3, 32, 32],
        ... })
        >>> folder = Path(tempfile.mkdtemp())
        >>> [path.name for path in write_task_sheets(model, [shapes(count=8, image_size=32)], folder, 3)]
        ['shape.png']
    """
    return save_sheets(task_sheets(model, datasets, count, task_targets), folder)
