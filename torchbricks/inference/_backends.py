"""Backends that run a model's inference bricks (the ``MODEL`` group) on a batch: eager, compiled, ONNX Runtime.

Each backend is a callable ``batch [B, C, H, W] -> {output name: numpy array}`` for the outputs asked for,
so everything after it (class names, coordinates, masks) is one code path for all three:

* ``eager``: the collection in PyTorch, eval mode, ``torch.inference_mode``; with ``channels_last`` the
  model and each batch in channels-last memory (oneDNN's layout: about 1.3× faster convolutions on a CPU);
* ``compile``: the same bricks through ``torch.compile``; every batch is padded to ``batch_size`` (the
  padding's outputs dropped), so the compiled graph is never compiled again for a smaller batch;
* ``onnx``: onnxruntime on the model's ONNX export (:func:`torchbricks.export.export_bricks_as_onnx`, dynamic
  batch). The file is made on first use and kept in the model folder as ``model.onnx`` (written atomically;
  made again when older than the folder's ``config.json`` or ``weights/``, or when it lacks an output or has another
  input size); a model given as an object is exported to a temporary folder.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from torchbricks import BrickCollection, BrickTrainable
    >>> model = BrickCollection({"head": BrickTrainable(nn.Conv2d(3, 2, 1), ["images"], ["cells/class_map"])})
    >>> run = create_backend("eager", model, "images", ["cells/class_map"])
    >>> run(torch.rand(2, 3, 4, 4))["cells/class_map"].shape
    (2, 2, 4, 4)
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torchbricks.errors import ExportError, PredictError
from torchbricks.export import NamedOutputs, eval_mode, export_bricks_as_onnx
from torchbricks.groups import MODEL
from torchbricks.suggestions import did_you_mean

BACKENDS = ("eager", "compile", "onnx")
"""The backends :func:`create_backend` makes."""
ONNX_FILE = "model.onnx"
"""The ONNX export ``--onnx`` keeps in the model folder."""

Backend = Callable[[torch.Tensor], dict[str, np.ndarray]]


def create_backend(
    name: str,
    model: Any,
    image_name: str,
    output_names: Sequence[str],
    *,
    device: str | torch.device = "cpu",
    folder: Path | None = None,
    example: torch.Tensor | None = None,
    threads: int | None = None,
    batch_size: int = 16,
    channels_last: bool = False,
) -> Backend:
    """The backend ``name`` running ``model``'s ``MODEL`` bricks; ``example`` (a batch) is needed by ``onnx``.

    ``channels_last`` (eager and compile) converts ``model``'s weights to channels-last memory, in place.
    """
    if name not in BACKENDS:
        raise PredictError(
            f"Unknown backend {name!r}; choose one of {', '.join(BACKENDS)}.{did_you_mean(name, BACKENDS)}"
        )
    wrapper = NamedOutputs(model, frozenset({MODEL}), tuple(output_names))
    if name == "eager":
        return EagerBackend(wrapper, image_name, device, channels_last)
    if name == "compile":
        return CompiledBackend(wrapper, image_name, device, channels_last, batch_size)
    if example is None:
        raise PredictError("The onnx backend needs an example batch to export the model")
    return OnnxBackend(model, image_name, tuple(output_names), example, folder, device, threads)


class EagerBackend:
    """The collection in PyTorch (eval mode, no autograd)."""

    def __init__(self, wrapper: NamedOutputs, image_name: str, device: str | torch.device, channels_last: bool) -> None:
        self.wrapper = wrapper.to(device)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.wrapper.to(memory_format=torch.channels_last)
        self.image_name = image_name
        self.device = torch.device(device)

    def __call__(self, batch: torch.Tensor) -> dict[str, np.ndarray]:
        batch = batch.to(self.device)
        if batch.dim() == 4:
            batch = batch.contiguous(memory_format=self.memory_format)
        with torch.inference_mode(), eval_mode(self.wrapper):
            outputs = self.run(batch)
        return {name: _numpy(value) for name, value in outputs.items()}

    def run(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.wrapper({self.image_name: batch})


class CompiledBackend(EagerBackend):
    """The collection through ``torch.compile``, compiled on the first batch; every batch is padded to
    ``batch_size`` (the padding's outputs dropped), so the last, smaller batch compiles nothing again."""

    def __init__(
        self, wrapper: NamedOutputs, image_name: str, device: str | torch.device, channels_last: bool, batch_size: int
    ) -> None:
        super().__init__(wrapper, image_name, device, channels_last)
        wrapper.collection.required_inputs(wrapper.groups)  # the plan, built lazily, would make dynamo compile twice
        self.compiled = torch.compile(self.wrapper, dynamic=False)
        self.batch_size = batch_size

    def run(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        count = batch.shape[0]
        if count < self.batch_size:
            padding = batch[-1:].expand(self.batch_size - count, *batch.shape[1:])
            batch = torch.cat([batch, padding])
        outputs = self.compiled({self.image_name: batch})
        return {name: value[:count] for name, value in outputs.items()}


class OnnxBackend:
    """onnxruntime on the model's ONNX export (made on first use, kept in the model folder)."""

    def __init__(
        self,
        model: Any,
        image_name: str,
        output_names: tuple[str, ...],
        example: torch.Tensor,
        folder: Path | None,
        device: str | torch.device,
        threads: int | None,
    ) -> None:
        import onnxruntime

        self.image_name = image_name
        self.output_names = output_names
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        self.path = self._exported(model, example, folder)
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if torch.device(device).type == "cuda" and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = onnxruntime.InferenceSession(str(self.path), options, providers=providers)

    def __call__(self, batch: torch.Tensor) -> dict[str, np.ndarray]:
        values = self.session.run(list(self.output_names), {self.image_name: batch.cpu().numpy()})
        return dict(zip(self.output_names, values, strict=True))

    def _exported(self, model: Any, example: torch.Tensor, folder: Path | None) -> Path:
        if folder is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="torchbricks-onnx-")
            return export_onnx(
                model, Path(self._temporary.name) / ONNX_FILE, self.image_name, self.output_names, example
            )
        path = folder / ONNX_FILE
        if onnx_is_current(path, folder, self.image_name, self.output_names, example):
            return path
        try:
            return export_onnx(model, path, self.image_name, self.output_names, example)
        except PermissionError:  # a read-only model folder: export beside it, for this run
            self._temporary = tempfile.TemporaryDirectory(prefix="torchbricks-onnx-")
            return export_onnx(
                model, Path(self._temporary.name) / ONNX_FILE, self.image_name, self.output_names, example
            )


def export_onnx(model: Any, path: Path, image_name: str, output_names: Sequence[str], example: torch.Tensor) -> Path:
    """Export ``model``'s ``MODEL`` bricks for ``output_names`` (dynamic batch); a failure is an ``ExportError``."""
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            return export_bricks_as_onnx(
                path, model, {image_name: example.cpu()}, dynamic_batch_size=True, output_names=list(output_names)
            )
    except ExportError:
        raise
    except Exception as error:  # torch.export's failures are long; their first line says what failed
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ExportError(
            f"The model cannot be exported to ONNX for the onnx backend ({type(error).__name__}: {first_line}); "
            f"predict with the eager backend (the default) or --compile"
        ) from error


def onnx_is_current(
    path: Path, folder: Path, image_name: str, output_names: Sequence[str], example: torch.Tensor
) -> bool:
    """Whether ``path`` is newer than the folder's config and weights and fits the input and outputs."""
    try:
        exported = path.stat().st_mtime
    except OSError:
        return False
    if exported < newest_mtime(folder):
        return False
    try:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception:
        return False
    inputs = {item.name: item.shape for item in session.get_inputs()}
    if list(inputs) != [image_name] or not set(output_names) <= {item.name for item in session.get_outputs()}:
        return False
    shape = inputs[image_name]
    return len(shape) == example.dim() and list(shape[1:]) == list(example.shape[1:])


def newest_mtime(folder: Path) -> float:
    """The newest modification time of the folder's ``config.json`` and the files below ``weights/``."""
    newest = 0.0
    paths = [folder / "config.json"]
    for root, _, files in os.walk(folder / "weights"):
        paths.extend(Path(root) / name for name in files)
    for path in paths:
        with contextlib.suppress(OSError):
            newest = max(newest, path.stat().st_mtime)
    return newest


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype in (torch.float16, torch.bfloat16):
            value = value.float()
        return value.numpy()
    return np.asarray(value)
