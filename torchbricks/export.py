"""Export a brick collection: ``torch.export`` programs and ONNX files with named inputs and outputs.

Only the bricks of the exported groups run (default: the ``EXPORT`` stage, i.e. ``MODEL`` bricks), so
no targets are needed and no metric state changes.

* Inputs are the named inputs those bricks need, in order of first use
  (``collection.required_inputs(groups)``); extra entries in ``named_inputs`` are ignored.
* Outputs are the names the bricks write, in execution order (``collection.output_names(groups)``),
  unless ``output_names`` picks some of them. ONNX outputs carry exactly these names.
* ONNX files are written by the torch.export-based exporter (``torch.onnx.export(..., dynamo=True)``).
  It is the exporter PyTorch maintains, and it keeps dict inputs/outputs and dynamic dimensions
  explicit; the TorchScript exporter is deprecated.
* ``dynamic_batch_size=True`` marks dimension 0 of every input as the dynamic ``batch`` dimension.
  torch.export specialises dimensions of size 1, so an example batch of 1 is repeated to 2 for tracing.
* Bricks are exported in eval mode (dropout off, batch-norm running statistics); the collection's
  train/eval flags are restored afterwards.

Example:
    >>> import tempfile, torch
    >>> from torch import nn
    >>> from torchbricks import BrickCollection, BrickTrainable
    >>> model = BrickCollection({"head": BrickTrainable(nn.Linear(4, 2), ["features"], ["logits"])})
    >>> program = export_bricks(model, {"features": torch.rand(3, 4)})
    >>> program.module()(named_inputs={"features": torch.rand(5, 4)})["logits"].shape
    torch.Size([5, 2])

    The same bricks as an ONNX file, checked against PyTorch in onnxruntime:

    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = export_bricks_as_onnx(f"{folder}/model.onnx", model, {"features": torch.rand(3, 4)})
    ...     differences = onnx_max_abs_differences(path, model, {"features": torch.rand(3, 4)})
    >>> path.name, differences["logits"] < 1e-5
    ('model.onnx', True)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from torchbricks._files import atomic_write
from torchbricks.collection import BrickCollection
from torchbricks.errors import ExportError
from torchbricks.groups import GroupsLike, Stage, resolve_groups
from torchbricks.suggestions import did_you_mean

BATCH_DIMENSION_NAME = "batch"


class NamedOutputs(nn.Module):
    """Runs a collection for fixed groups and returns only the chosen outputs, as a dict in a fixed order."""

    def __init__(self, collection: BrickCollection, groups: frozenset[str] | None, output_names: Sequence[str]) -> None:
        super().__init__()
        self.collection = collection
        self.groups = groups
        self.output_names = tuple(output_names)

    def forward(self, named_inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        named_data = self.collection(named_inputs, groups=self.groups)
        return {name: named_data[name] for name in self.output_names}


def export_bricks(
    brick_collection: BrickCollection,
    named_inputs: Mapping[str, Any],
    groups: GroupsLike = Stage.EXPORT,
    dynamic_batch_size: bool = True,
    output_names: Sequence[str] | None = None,
) -> torch.export.ExportedProgram:
    """``torch.export.export`` the bricks of ``groups``; call it as ``program.module()(named_inputs=...)``."""
    wrapper, example, dynamic_shapes = _prepare(
        brick_collection, named_inputs, groups, dynamic_batch_size, output_names
    )
    with eval_mode(wrapper):
        return torch.export.export(wrapper, (), kwargs={"named_inputs": example}, dynamic_shapes=dynamic_shapes)


def export_bricks_as_onnx(
    path_onnx: str | Path,
    brick_collection: BrickCollection,
    named_inputs: Mapping[str, Any],
    dynamic_batch_size: bool = False,
    groups: GroupsLike = Stage.EXPORT,
    output_names: Sequence[str] | None = None,
    opset_version: int | None = None,
    *,
    tags: GroupsLike = None,
) -> Path:
    """Export the bricks of ``groups`` to an ONNX file whose inputs and outputs carry the data names.

    ``tags`` is the torchbricks 0.4.2 name of ``groups``. The file is written atomically (a temporary
    file, then a rename). Returns the path written.
    """
    if tags is not None:
        groups = tags
    wrapper, example, dynamic_shapes = _prepare(
        brick_collection, named_inputs, groups, dynamic_batch_size, output_names
    )
    path_onnx = Path(path_onnx)

    def write(temporary: Path) -> None:
        with eval_mode(wrapper):
            torch.onnx.export(
                wrapper,
                (),
                str(temporary),
                kwargs={"named_inputs": example},
                input_names=list(example),
                output_names=list(wrapper.output_names),
                dynamic_shapes=dynamic_shapes,
                opset_version=opset_version,
                dynamo=True,
                external_data=False,
                verbose=False,
            )

    atomic_write(path_onnx, write)
    return path_onnx


def onnx_max_abs_differences(
    path_onnx: str | Path,
    brick_collection: BrickCollection,
    named_inputs: Mapping[str, Any],
    groups: GroupsLike = Stage.EXPORT,
) -> dict[str, float]:
    """Run the ONNX file in onnxruntime and PyTorch on the same inputs; the max |difference| per output name."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path_onnx), providers=["CPUExecutionProvider"])
    input_names = [item.name for item in session.get_inputs()]
    feeds = {name: _to_numpy(named_inputs[name]) for name in input_names}
    onnx_outputs = session.run(None, feeds)
    with torch.no_grad(), eval_mode(brick_collection):
        reference = brick_collection({name: named_inputs[name] for name in input_names}, groups=groups)
    differences = {}
    for item, value in zip(session.get_outputs(), onnx_outputs, strict=True):
        expected = _to_numpy(reference[item.name]).astype("float64")
        differences[item.name] = float(abs(expected - value.astype("float64")).max()) if expected.size else 0.0
    return differences


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Put ``module`` in eval mode for the ``with`` block, then restore every submodule's training flag."""
    flags = [(submodule, submodule.training) for submodule in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for submodule, training in flags:
            submodule.training = training


def _prepare(
    collection: BrickCollection,
    named_inputs: Mapping[str, Any],
    groups: GroupsLike,
    dynamic_batch_size: bool,
    output_names: Sequence[str] | None,
) -> tuple[NamedOutputs, dict[str, torch.Tensor], dict[str, Any] | None]:
    resolved_groups = resolve_groups(groups)
    _check_exportable(collection, groups)
    required = collection.required_inputs(groups)
    missing = [name for name in required if name not in named_inputs]
    if missing:
        hints = "".join(did_you_mean(name, named_inputs) for name in missing)
        raise ExportError(f"Export needs example values for {missing}; got {sorted(named_inputs)}.{hints}")
    example = {name: named_inputs[name] for name in required}
    for name, value in example.items():
        if not isinstance(value, torch.Tensor):
            raise ExportError(f"Exported inputs must be tensors; '{name}' is a {type(value).__name__}")
    available = collection.output_names(groups)
    chosen = tuple(available if output_names is None else output_names)
    unknown = [name for name in chosen if name not in available]
    if unknown:
        hints = "".join(did_you_mean(name, available) for name in unknown)
        raise ExportError(f"Output names {unknown} are not written by the exported bricks.{hints}")
    wrapper = NamedOutputs(collection, resolved_groups, chosen)
    with eval_mode(wrapper):
        _check_tensor_outputs(wrapper, collection, example)
    if not dynamic_batch_size:
        return wrapper, example, None
    example = {name: _at_least_two(name, value) for name, value in example.items()}
    batch = torch.export.Dim(BATCH_DIMENSION_NAME)
    return wrapper, example, {"named_inputs": {name: {0: batch} for name in example}}


def _check_exportable(collection: BrickCollection, groups: GroupsLike) -> None:
    for node in collection.nodes(groups):
        if not node.brick.exportable:
            brick_type = type(node.brick).__name__
            raise ExportError(
                f"Brick '{node.path}' ({brick_type}, groups {sorted(node.groups)}) cannot be exported: "
                f"{node.brick.not_exportable_reason}. Export only groups without it, e.g. groups={{'MODEL'}} "
                f"(the default), or move the brick to another group"
            )


def _check_tensor_outputs(wrapper: NamedOutputs, collection: BrickCollection, example: dict[str, Any]) -> None:
    """Run once eagerly: every exported output must be a tensor, else name the brick that wrote it."""
    with torch.no_grad():
        outputs = wrapper(dict(example))
    writers = {name: node.path for node in collection.nodes(wrapper.groups) for name in node.outputs}
    for name, value in outputs.items():
        if not isinstance(value, torch.Tensor):
            raise ExportError(
                f"Brick '{writers[name]}' writes '{name}' as a {type(value).__name__}; exported outputs must be "
                f"tensors. Leave it out with output_names=[...] or move the brick out of the exported groups"
            )


def _at_least_two(name: str, value: torch.Tensor) -> torch.Tensor:
    if value.dim() == 0:
        raise ExportError(f"dynamic_batch_size=True needs a batch dimension, but input '{name}' is a scalar tensor")
    if value.shape[0] == 1:
        return value.expand(2, *value.shape[1:]).clone()
    return value


def _to_numpy(value: Any) -> Any:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
