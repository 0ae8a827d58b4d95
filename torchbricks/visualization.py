"""Visualization: the per-image visualization brick, and conversions between batched tensors and
per-image numpy arrays or Pillow images.

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
    >>> images = unpack_batched_tensor_to_numpy_channel_last_arrays(torch.zeros(2, 3, 4, 5))
    >>> len(images), images[0].shape
    (2, (4, 5, 3))
    >>> [int(value) for value in function_composer(torch_to_numpy, list)(torch.tensor([0, 1]))]
    [0, 1]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import reduce
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from torchbricks.bricks import BrickInterface, InputNames, run_without_gradients
from torchbricks.errors import BatchSizeError, BrickDefinitionError, PerImageUnpackError
from torchbricks.groups import VISUALIZATION
from torchbricks.names import ALL_INPUTS

if TYPE_CHECKING:
    from PIL import Image

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


# -- tensor conversions --------------------------------------------------------------------------------


def function_composer(*functions: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Compose functions left to right: ``function_composer(f, g)(x) == g(f(x))``."""
    return lambda value: reduce(lambda result, function: function(result), functions, value)


def torch_to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """Detach, move to CPU and convert to numpy (half precision becomes float32)."""
    tensor = tensor.detach().cpu()
    if tensor.dtype in (torch.float16, torch.bfloat16):
        tensor = tensor.float()
    return tensor.numpy()


def float2uint8(image: np.ndarray) -> np.ndarray:
    """Float images in ``[0, 1]`` to ``uint8`` in ``[0, 255]`` (clipped, rounded)."""
    return (np.clip(image, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def unpack_batched_tensor_to_numpy_channel_last_arrays(tensor: torch.Tensor) -> list[np.ndarray]:
    """``[B, C, H, W]`` → B arrays ``[H, W, C]``."""
    if tensor.dim() != 4:
        raise ValueError(f"Expected a batch of images [B, C, H, W], got shape {tuple(tensor.shape)}")
    return list(torch_to_numpy(tensor.permute(0, 2, 3, 1)))


def unpack_batched_tensor_to_pillow_images(tensor: torch.Tensor) -> list[Image.Image]:
    """``[B, C, H, W]`` float images in ``[0, 1]`` (or uint8) → B Pillow images (RGB, or L for 1 channel)."""
    from PIL import Image

    arrays = unpack_batched_tensor_to_numpy_channel_last_arrays(tensor)
    images = []
    for array in arrays:
        array = array if array.dtype == np.uint8 else float2uint8(array)
        images.append(Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array))
    return images


def unpack_batched_tensor_to_numpy_arrays(tensor: torch.Tensor) -> list[np.ndarray]:
    """Split a tensor along its batch dimension into numpy arrays.

    Image batches ``[B, C, H, W]`` become channel-last ``[H, W, C]`` arrays; a 1-D tensor ``[B]`` becomes
    arrays of shape ``[1]``; other tensors ``[B, ...]`` become arrays ``[...]``.
    """
    if tensor.dim() == 4:
        return unpack_batched_tensor_to_numpy_channel_last_arrays(tensor)
    if tensor.dim() == 1:
        return list(torch_to_numpy(tensor).reshape(-1, 1))
    if tensor.dim() == 0:
        raise ValueError("Cannot unpack a scalar tensor per image; it has no batch dimension")
    return list(torch_to_numpy(tensor))


def batched_tensor_to_channel_last(tensor: torch.Tensor) -> torch.Tensor:
    """Move dimension 1 (channels) last: ``[B, C, H, W]`` → ``[B, H, W, C]``; tensors of 1-2 dimensions unchanged.

    Example:
        >>> tuple(batched_tensor_to_channel_last(torch.zeros(2, 3, 4, 5, 6)).shape)
        (2, 4, 5, 6, 3)
    """
    if tensor.dim() < 3:
        return tensor
    return tensor.permute(0, *range(2, tensor.dim()), 1)


def batched_tensor_to_batched_np_array_channel_last(tensor: torch.Tensor) -> np.ndarray:
    """A batched tensor as one numpy array with channels last (see :func:`batched_tensor_to_channel_last`)."""
    return torch_to_numpy(batched_tensor_to_channel_last(tensor))


def unpack_batched_array_to_arrays(array: np.ndarray) -> list[np.ndarray]:
    """Split a numpy array along its batch dimension; a 1-D array ``[B]`` becomes arrays of shape ``[1]``.

    Example:
        >>> [item.shape for item in unpack_batched_array_to_arrays(np.zeros(2))]
        [(1,), (1,)]
    """
    if array.ndim == 0:
        raise ValueError("Cannot unpack a 0-dimensional array per image; it has no batch dimension")
    return list(array.reshape(-1, 1) if array.ndim == 1 else array)


def unpack_batched_tensor_to_numpy_format(tensor: torch.Tensor) -> list[np.ndarray]:
    """Split a tensor into per-image numpy arrays with channels last, for any number of dimensions.

    ``[B, C, H, W]`` → ``[H, W, C]``, ``[B, C, H]`` → ``[H, C]``, ``[B, C]`` → ``[C]``, ``[B]`` → ``[1]``.

    Example:
        >>> [item.shape for item in unpack_batched_tensor_to_numpy_format(torch.zeros(2, 3, 5))]
        [(5, 3), (5, 3)]
    """
    if tensor.dim() == 0:
        raise ValueError("Cannot unpack a scalar tensor per image; it has no batch dimension")
    return unpack_batched_array_to_arrays(batched_tensor_to_batched_np_array_channel_last(tensor))


def unpack_batched_tensor_to_torchvision_format(tensor: torch.Tensor) -> list[torch.Tensor]:
    """Split a tensor along its batch dimension into tensors, channels first as torchvision draws them.

    ``[B, C, H, W]`` → ``[C, H, W]``; ``[B]`` → 0-dimensional tensors.

    Example:
        >>> [tuple(item.shape) for item in unpack_batched_tensor_to_torchvision_format(torch.zeros(2, 3, 4, 5))]
        [(3, 4, 5), (3, 4, 5)]
    """
    if tensor.dim() == 0:
        raise ValueError("Cannot unpack a scalar tensor per image; it has no batch dimension")
    return list(tensor)


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
