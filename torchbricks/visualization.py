"""Visualization: the per-image visualization brick and its ``unpack_functions_for_type`` presets.

:class:`BrickPerImageVisualization` runs a drawing function once per image of a batch. Batched
inputs are unpacked into per-image values (by default tensors become numpy arrays, image batches
channel-last), the callable is called per image, and each output name receives a list with one
result per image. The brick is in the ``VISUALIZATION`` group, runs without gradients and is never
exported.

Example:
    >>> import numpy as np, torch
    >>> from torchbricks import BrickCollection
    >>> def mean_brightness(image: np.ndarray) -> float:
    ...     return float(image.mean())
    >>> brick = BrickPerImageVisualization(mean_brightness, input_names=["images"], output_names=["brightness"])
    >>> BrickCollection({"viz": brick})({"images": torch.ones(2, 3, 4, 4)})["brightness"]
    [1.0, 1.0]

The conversions between batched tensors and per-image arrays or images live in
:mod:`torchbricks.tensor_conversions`; they stay importable from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import numpy as np
import torch

from torchbricks.bricks import BrickInterface, InputNames, run_without_gradients
from torchbricks.errors import BatchSizeError, BrickDefinitionError, PerImageUnpackError
from torchbricks.groups import VISUALIZATION
from torchbricks.names import ALL_INPUTS
from torchbricks.tensor_conversions import (
    unpack_batched_array_to_arrays,
    unpack_batched_tensor_to_numpy_arrays,
    unpack_batched_tensor_to_numpy_format,
    unpack_batched_tensor_to_torchvision_format,
)

__all__ = [
    "PASS_WHOLE",
    "UNPACK_NO_CONVERSION",
    "UNPACK_TENSORS_TO_NDARRAYS",
    "BrickPerImageVisualization",
    "UnpackFunction",
    "callable_check",
]

UnpackFunction = Callable[[Any], Iterable[Any]]


class BrickPerImageVisualization(BrickInterface):
    """A brick calling ``callable`` once per image with unpacked inputs.

    Args:
        callable: draws one image; takes one argument per input name and returns one value (or a tuple
            with one value per output name).
        input_names: batched data to read (a list; ``input_names`` as a dict maps parameters by keyword).
            ``"__all__"`` among them passes the dict of all named data, whole, to every call.
        output_names: each receives a list with one result per image.
        unpack_functions_for_type: how to unpack a batched value by its type, merged over the default
            (tensors and numpy arrays to per-image numpy arrays, see
            :func:`unpack_batched_tensor_to_numpy_arrays`; lists and tuples are already per image).
            ``None`` as a function passes values of that type whole to every call.
        unpack_functions_for_input_name: how to unpack a given input name; overrides the type rule.
            ``None`` passes that input whole, unconverted, to every call.

    At least one input must unpack per image (that gives the batch size), and all that do must agree.
    """

    default_group: ClassVar[str] = VISUALIZATION
    exportable: ClassVar[bool] = False
    not_exportable_reason: ClassVar[str] = "it draws per image in Python (Pillow/numpy), which cannot be traced"

    def __init__(
        self,
        callable: Callable[..., Any],  # the seed API names it so
        input_names: InputNames,
        output_names: Iterable[str] | None = None,
        group: str | Iterable[str] | None = None,
        *,
        groups: Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        unpack_functions_for_type: Mapping[type, UnpackFunction | None] | None = None,
        unpack_functions_for_input_name: Mapping[str, UnpackFunction | None] | None = None,
    ) -> None:
        super().__init__(input_names, output_names, group, groups=groups, tags=tags)
        if not callable_check(callable):
            raise BrickDefinitionError(f"{type(self).__name__} needs a callable, got {type(callable).__name__}")
        names = list(self.input_names.values()) if isinstance(self.input_names, dict) else list(self.input_names)
        unknown = sorted(set(unpack_functions_for_input_name or {}) - set(names))
        if unknown:
            raise BrickDefinitionError(
                f"unpack_functions_for_input_name names {unknown}, which are not input names {names}"
            )
        self.model = callable
        self.unpack_functions_for_type: dict[type, UnpackFunction | None] = {
            torch.Tensor: unpack_batched_tensor_to_numpy_arrays,
            np.ndarray: unpack_batched_array_to_arrays,
        }
        self.unpack_functions_for_type.update(unpack_functions_for_type or {})
        self.unpack_functions_for_input_name = dict(unpack_functions_for_input_name or {})

    def make_runner(self) -> Callable[..., Any]:
        names = list(self.input_names.values()) if isinstance(self.input_names, dict) else list(self.input_names)
        keywords = list(self.input_names) if isinstance(self.input_names, dict) else None
        unpackers = [self._unpacker_for(name) for name in names]
        draw = self.model
        n_outputs = len(self.output_names)
        brick_type = type(self).__name__

        def visualize_per_image(*args: Any, **kwargs: Any) -> Any:
            batched = list(args) if keywords is None else [kwargs[keyword] for keyword in keywords]
            unpacked = [unpack(value) for unpack, value in zip(unpackers, batched, strict=True)]
            per_image = _per_image_arguments(brick_type, names, batched, unpacked)
            if keywords is None:
                results = [draw(*values) for values in per_image]
            else:
                results = [draw(**dict(zip(keywords, values, strict=True))) for values in per_image]
            if n_outputs <= 1:
                return results
            return tuple(list(column) for column in zip(*results, strict=True))

        return run_without_gradients(visualize_per_image)

    def _unpacker_for(self, name: str) -> Callable[[Any], Any]:
        if name == ALL_INPUTS:
            return _pass_whole
        if name in self.unpack_functions_for_input_name:
            by_name = self.unpack_functions_for_input_name[name]
            return _pass_whole if by_name is None else by_name
        return lambda value: self._unpack_by_type(name, value)

    def _unpack_by_type(self, name: str, value: Any) -> Any:
        for value_type in type(value).__mro__:
            if value_type in self.unpack_functions_for_type:
                unpack = self.unpack_functions_for_type[value_type]
                return PASS_WHOLE if unpack is None else unpack(value)
        if isinstance(value, (list, tuple)):
            return value
        raise PerImageUnpackError(
            f"{type(self).__name__} cannot unpack input '{name}' of type {type(value).__name__} per image; "
            f"pass unpack_functions_for_input_name={{'{name}': ...}} or unpack_functions_for_type "
            f"(a function None passes the value whole to every image)"
        )


PASS_WHOLE = object()
"""What an unpack step returns for an input passed whole (unconverted) to every per-image call."""


def _pass_whole(value: Any) -> Any:
    return PASS_WHOLE


def _per_image_arguments(brick_type: str, names: list[str], batched: list[Any], unpacked: list[Any]) -> list[list[Any]]:
    """One argument list per image: unpacked inputs item by item, whole inputs repeated."""
    columns = {
        index: values if isinstance(values, (list, tuple)) else list(values)
        for index, values in enumerate(unpacked)
        if values is not PASS_WHOLE
    }
    if not columns:
        raise BatchSizeError(
            f"{brick_type} cannot estimate the batch size: every input of {names} is passed whole "
            f"(unpack function None or '{ALL_INPUTS}'); let at least one input unpack per image"
        )
    try:
        rows = list(zip(*columns.values(), strict=True))
    except ValueError as error:
        sizes = {names[index]: len(values) for index, values in columns.items()}
        raise BatchSizeError(f"{brick_type}: batch size is not the same for all inputs {sizes} ({error})") from error
    arguments = []
    for row in rows:
        items = dict(zip(columns, row, strict=True))
        arguments.append([items[index] if index in items else batched[index] for index in range(len(batched))])
    return arguments


def callable_check(value: Any) -> bool:
    """``callable`` is shadowed by the seed's argument name inside ``__init__``."""
    return callable(value)


UNPACK_TENSORS_TO_NDARRAYS: dict[type, UnpackFunction | None] = {
    torch.Tensor: unpack_batched_tensor_to_numpy_format,
    np.ndarray: unpack_batched_array_to_arrays,
}
"""``unpack_functions_for_type`` preset: tensors to channel-last numpy arrays, arrays split per image."""

UNPACK_NO_CONVERSION: dict[type, UnpackFunction | None] = {
    torch.Tensor: unpack_batched_tensor_to_torchvision_format,
    np.ndarray: unpack_batched_array_to_arrays,
}
"""``unpack_functions_for_type`` preset: tensors split per image but kept as tensors (``[C, H, W]``)."""
