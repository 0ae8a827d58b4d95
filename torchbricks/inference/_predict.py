"""``predict``: a model on images of any size, streamed in batches, one readable dict per image.

The pipeline, the same for the Python function and ``torchbricks predict``:

1. the inputs become a lazy stream of images (:mod:`._sources`), read and resized to the model's input
   contract (:mod:`._contract`) on a few threads, at most a few batches ahead;
2. batches of ``batch_size`` run through the backend (:mod:`._backends`: eager, compile, onnx);
3. each task's outputs become what a person reads (:mod:`._readable`), in the original image's pixels;
4. with an output folder, masks and pictures are written as PNG files and each batch's lines are
   appended to ``predictions.jsonl`` (:mod:`._output`); the dicts are also yielded.

An image that cannot be read yields ``{"index": i, "image": name, "error": reason}`` (a line of
``errors.jsonl``) and the run goes on.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torchbricks.errors import PredictError
from torchbricks.features import PREDICTION_OUTPUTS, SEGMENTATION
from torchbricks.groups import MODEL
from torchbricks.inference._backends import BACKENDS, Backend, create_backend
from torchbricks.inference._contract import InputContract, model_input_contract
from torchbricks.inference._drawing import task_drawers
from torchbricks.inference._output import OutputFolder, check_output_folder
from torchbricks.inference._readable import TaskReader, task_readers
from torchbricks.inference._sources import Failure, Source, count_sources, sources
from torchbricks.inference._stream import chunks, ordered_map
from torchbricks.tensor_conversions import float2uint8

DEFAULT_BATCH_SIZE = 16
DEFAULT_TOP_K = 5


@dataclass
class _Prepared:
    index: int
    name: str
    original_size: tuple[int, int]  # (H, W)
    tensor: torch.Tensor
    original: torch.Tensor | None


@dataclass
class _Failed:
    index: int
    name: str
    reason: str


@dataclass(frozen=True)
class _Options:
    """How :func:`predict` runs (its keyword arguments but ``output``)."""

    batch_size: int
    backend: str
    device: str | torch.device
    threads: int | None
    workers: int | None
    top_k: int
    draw: bool
    progress: bool


@dataclass
class PredictionSummary:
    """What :func:`write_predictions` did: images predicted, images that failed, and the output folder."""

    images: int = 0
    failed: int = 0
    output: Path | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    """The first few failures (``image``, ``error``); all of them are in ``errors.jsonl``."""


def predict(
    model: Any,
    images: Any,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    backend: str = "eager",
    device: str | torch.device = "cpu",
    threads: int | None = None,
    workers: int | None = None,
    top_k: int = DEFAULT_TOP_K,
    output: str | Path | None = None,
    draw: bool = False,
    progress: bool = False,
) -> Iterator[dict[str, Any]]:
    """Run ``model`` on ``images``; yield one dict per image, in input order.

    Args:
        model: a model folder (``save_model``'s, or ``run/model`` of a train run) or a model built from a config.
        images: a path (file, folder — searched recursively — or glob), Pillow images, ``[C, H, W]`` tensors
            (uint8, or float in ``[0, 1]``) or ``[H, W, C]`` arrays, a list mixing them, or a dataset of named
            samples (as ``--data`` builds).
        batch_size: images per forward pass.
        backend: ``"eager"``, ``"compile"`` (``torch.compile``) or ``"onnx"`` (onnxruntime on ``model.onnx``,
            exported into the model folder on first use).
        device: where the model runs (``"cpu"``, ``"cuda"``).
        threads: torch's (and onnxruntime's) threads while predicting; default: theirs.
        workers: threads that read and resize images; default: up to 4.
        top_k: classification tasks list their ``top_k`` best classes (1: only the best).
        output: a folder for ``predictions.jsonl``, ``errors.jsonl``, masks and pictures; without it, masks
            are numpy arrays and pictures Pillow images in the dicts.
        draw: also draw each task's visualizer picture on the original image.
        progress: show a progress bar on a terminal (stderr).

    Each dict: ``{"index", "image", "width", "height", "tasks": {task: ...}}`` with per task what
    :mod:`torchbricks.inference._readable` describes (class names, scores, points and boxes in the original
    image's pixels, a mask); an image that cannot be read gives ``{"index", "image", "error"}`` instead.

    Example:
        >>> import torch
        >>> from torchbricks import build_model
        >>> model = build_model({"backbone": {"name": "resnet18", "levels": [5]}, "input_shape": [3, 32, 32],
        ...     "tasks": {"animal": {"task": "image_classification", "num_classes": 2, "class_names": ["cat", "dog"]}}})
        >>> [result] = predict(model, [torch.zeros(3, 48, 40, dtype=torch.uint8)])
        >>> result["width"], result["height"], result["tasks"]["animal"]["class"] in ("cat", "dog")
        (40, 48, True)
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise PredictError(f"batch_size must be a positive integer, got {batch_size!r}")
    options = _Options(batch_size, backend, device, threads, workers, top_k, draw, progress)
    run = _Run.create(model, options)
    if output is not None:
        check_output_folder(Path(output))
    return _predictions(run, images, output)


def _predictions(run: _Run, images: Any, output: str | Path | None) -> Iterator[dict[str, Any]]:
    """The stream :func:`predict` returns (a generator: nothing runs until the first image is asked for)."""
    options = run.options
    folder = OutputFolder(output, run.details()) if output is not None else None
    previous_threads = torch.get_num_threads()
    if options.threads:
        torch.set_num_threads(options.threads)
    bar = _progress_bar(images) if options.progress and sys.stderr.isatty() else None
    done = failed = 0
    try:
        stream = enumerate(sources(images, run.contract.channels, run.image_name))
        window = 2 * options.batch_size
        prepared = ordered_map(run.prepare, stream, _workers(options.workers), window=window)
        for chunk in chunks(prepared, options.batch_size):
            records = run.predict_chunk(chunk, folder)
            if folder is not None:
                folder.write_lines(records)
            failed += sum("error" in record for record in records)
            done += len(records)
            if bar is not None:
                bar[0].update(bar[1], completed=done)
            yield from records
        if folder is not None:
            folder.close({"images": done - failed, "failed": failed})
            folder = None
    finally:
        if folder is not None:
            folder.close()
        if bar is not None:
            bar[0].stop()
        torch.set_num_threads(previous_threads)


def write_predictions(model: Any, images: Any, output: str | Path, **options: Any) -> PredictionSummary:
    """:func:`predict` into the folder ``output`` (``predictions.jsonl``, ``errors.jsonl``, masks, pictures).

    Takes :func:`predict`'s keyword arguments. Returns a :class:`PredictionSummary`.
    """
    summary = PredictionSummary(output=Path(output))
    for record in predict(model, images, output=output, **options):
        if "error" in record:
            summary.failed += 1
            if len(summary.errors) < 20:
                summary.errors.append({"image": record["image"], "error": record["error"]})
        else:
            summary.images += 1
    if summary.images + summary.failed == 0:
        raise PredictError(f"No images in {_described(images)}: nothing was predicted")
    return summary


class _Run:
    """One predict run: the model, its input contract, task readers, drawers and backend."""

    def __init__(self, model: Any, folder: Path | None, options: _Options) -> None:
        self.model = model
        self.folder = folder
        self.options = options
        self.config: Mapping[str, Any] = getattr(model, "config", None) or {}
        self.contract: InputContract = model_input_contract(self.config, folder)
        self.image_name = _image_input(model, self.config)
        self.readers: list[TaskReader] = task_readers(model, self.config)
        if not self.readers:
            raise PredictError(
                f"The model writes no prediction predict can read: no MODEL output is named <task>/<part> with a "
                f"part of {sorted(PREDICTION_OUTPUTS)}"
            )
        predictions = [reader.prediction for reader in self.readers]
        self.drawers = task_drawers(model, self.image_name, predictions) if options.draw else {}
        self.backend: Backend = self._backend()

    @classmethod
    def create(cls, model: Any, options: _Options) -> _Run:
        """The run of ``model`` (a built model, or a model folder: loaded)."""
        folder = None
        if isinstance(model, (str, Path)):
            from torchbricks.assembly import load_model

            folder = Path(model)
            model = load_model(folder)
        return cls(model, folder, options)

    def details(self) -> dict[str, Any]:
        """What ``predict.json`` records about the run."""
        return {
            "model": str(self.folder) if self.folder is not None else None,
            "backend": self.options.backend,
            "tasks": {reader.task: reader.kind for reader in self.readers},
            "input_size": list(self.contract.size) if self.contract.size else None,
        }

    def _backend(self) -> Backend:
        name = self.options.backend
        if name not in BACKENDS:
            return create_backend(name, self.model, self.image_name, [])  # raises, naming the backends
        outputs = list(dict.fromkeys(name for reader in self.readers for name in reader.output_names))
        example = None
        if name == "onnx":
            if self.contract.size is None or self.contract.resize == "none":
                raise PredictError(
                    "The onnx backend needs a fixed input size, but the model keeps each image's size "
                    "(input.resize 'none' or no size recorded); predict with the eager backend or --compile"
                )
            example = torch.zeros(2, self.contract.channels, *self.contract.size, dtype=self.contract.torch_dtype)
        return create_backend(
            name,
            self.model,
            self.image_name,
            outputs,
            device=self.options.device,
            folder=self.folder,
            example=example,
            threads=self.options.threads,
            batch_size=self.options.batch_size,
            channels_last=self.folder is not None,  # a model predict loaded itself; a model passed in is left as it is
        )

    def prepare(self, item: tuple[int, Source | Failure]) -> _Prepared | _Failed:
        """Read and resize one image (on a worker thread); a failure becomes a :class:`_Failed`."""
        index, source = item
        if isinstance(source, Failure):
            return _Failed(index, source.name, source.reason)
        try:
            image = source.read()
            tensor = self.contract.prepare(image)
        except Exception as error:
            return _Failed(index, source.name, " ".join(str(error).split()) or type(error).__name__)
        return _Prepared(
            index,
            source.name,
            (int(image.shape[-2]), int(image.shape[-1])),
            tensor,
            image if self.options.draw else None,
        )

    def predict_chunk(self, chunk: list[_Prepared | _Failed], folder: OutputFolder | None) -> list[dict[str, Any]]:
        """The records of a chunk of images, in order (images of one size run as one batch)."""
        records: dict[int, dict[str, Any]] = {}
        by_size: dict[tuple[int, ...], list[_Prepared]] = {}
        for item in chunk:
            if isinstance(item, _Failed):
                records[item.index] = {"index": item.index, "image": item.name, "error": item.reason}
            else:
                by_size.setdefault(tuple(item.tensor.shape), []).append(item)
        for group in by_size.values():
            outputs = self.backend(torch.stack([item.tensor for item in group]))
            for position, item in enumerate(group):
                per_image = {name: value[position] for name, value in outputs.items()}
                records[item.index] = self._record(item, per_image, folder)
        return [records[item.index] for item in chunk]

    def _record(self, item: _Prepared, outputs: dict[str, np.ndarray], folder: OutputFolder | None) -> dict[str, Any]:
        height, width = item.original_size
        scale = InputContract.scale(item.original_size, tuple(item.tensor.shape[-2:]))
        tasks: dict[str, Any] = {}
        for reader in self.readers:
            readable, mapped = reader.read(outputs, scale, item.original_size, self.options.top_k)
            if reader.kind == SEGMENTATION and folder is not None:
                readable["mask"] = folder.write_mask(reader.task, item.index, item.name, readable["mask"])
            drawer = self.drawers.get(reader.prediction)
            if drawer is not None and item.original is not None:
                picture = drawer(_channel_last(item.original), mapped)
                readable["picture"] = (
                    folder.write_picture(reader.task, item.index, item.name, picture) if folder is not None else picture
                )
            tasks[reader.task] = readable
        return {"index": item.index, "image": item.name, "width": width, "height": height, "tasks": tasks}


def _image_input(model: Any, config: Mapping[str, Any]) -> str:
    """The name of the model's image input: the one input its ``MODEL`` bricks need."""
    required = tuple(model.required_inputs({MODEL}))
    if len(required) != 1:
        raise PredictError(
            f"predict feeds one image input, but the model's MODEL bricks need {list(required)}"
            + (f" (config 'image': {config.get('image')!r})" if config.get("image") else "")
        )
    return required[0]


def _channel_last(image: torch.Tensor) -> np.ndarray:
    array = image.permute(1, 2, 0).numpy()
    return array if array.dtype == np.uint8 else float2uint8(array.astype(np.float32))


def _workers(workers: int | None) -> int:
    if workers is not None:
        return max(1, workers)
    import os

    return max(1, min(4, (os.cpu_count() or 1)))


def _progress_bar(images: Any) -> tuple[Any, Any]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    total = count_sources(images)
    from rich.console import Console

    bar = Progress(
        TextColumn("Predicting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    task = bar.add_task("predict", total=total)
    bar.start()
    return bar, task


def _described(images: Any) -> str:
    if isinstance(images, (str, Path)):
        return f"'{images}'"
    if isinstance(images, (list, tuple)) and all(isinstance(item, (str, Path)) for item in images):
        return ", ".join(f"'{item}'" for item in images[:5]) + (", ..." if len(images) > 5 else "")
    return "the inputs"
