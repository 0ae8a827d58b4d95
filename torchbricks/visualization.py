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
from torchbricks.errors import BrickDefinitionError
from torchbricks.groups import VISUALIZATION

if TYPE_CHECKING:
    from PIL import Image

UnpackFunction = Callable[[Any], Iterable[Any]]


class BrickPerImageVisualization(BrickInterface):
    """A brick calling ``callable`` once per image with unpacked inputs.

    Args:
        callable: draws one image; takes one argument per input name and returns one value (or a tuple
            with one value per output name).
        input_names: batched data to read (a list; ``input_names`` as a dict maps parameters by keyword).
        output_names: each receives a list with one result per image.
        unpack_functions_for_type: how to unpack a batched value by its type (default: tensors to numpy
            arrays, see :func:`unpack_batched_tensor_to_numpy_arrays`;
            lists and tuples are already per image).
        unpack_functions_for_input_name: how to unpack a given input name; overrides the type rule.
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
        unpack_functions_for_type: Mapping[type, UnpackFunction] | None = None,
        unpack_functions_for_input_name: Mapping[str, UnpackFunction] | None = None,
    ) -> None:
        super().__init__(input_names, output_names, group, groups=groups)
        if not callable_check(callable):
            raise BrickDefinitionError(f"{type(self).__name__} needs a callable, got {type(callable).__name__}")
        names = list(self.input_names.values()) if isinstance(self.input_names, dict) else list(self.input_names)
        unknown = sorted(set(unpack_functions_for_input_name or {}) - set(names))
        if unknown:
            raise BrickDefinitionError(
                f"unpack_functions_for_input_name names {unknown}, which are not input names {names}"
            )
        self.model = callable
        self.unpack_functions_for_type = {torch.Tensor: unpack_batched_tensor_to_numpy_arrays}
        self.unpack_functions_for_type.update(unpack_functions_for_type or {})
        self.unpack_functions_for_input_name = dict(unpack_functions_for_input_name or {})

    def make_runner(self) -> Callable[..., Any]:
        names = list(self.input_names.values()) if isinstance(self.input_names, dict) else list(self.input_names)
        keywords = list(self.input_names) if isinstance(self.input_names, dict) else None
        unpackers = [self._unpacker_for(name) for name in names]
        draw = self.model
        n_outputs = len(self.output_names)

        def visualize_per_image(*args: Any, **kwargs: Any) -> Any:
            batched = list(args) if keywords is None else [kwargs[keyword] for keyword in keywords]
            per_input = [unpack(value) for unpack, value in zip(unpackers, batched, strict=True)]
            per_image = list(zip(*per_input, strict=True))
            if keywords is None:
                results = [draw(*values) for values in per_image]
            else:
                results = [draw(**dict(zip(keywords, values, strict=True))) for values in per_image]
            if n_outputs <= 1:
                return results
            return tuple(list(column) for column in zip(*results, strict=True))

        return run_without_gradients(visualize_per_image)

    def _unpacker_for(self, name: str) -> UnpackFunction:
        by_name = self.unpack_functions_for_input_name.get(name)
        if by_name is not None:
            return by_name
        return lambda value: self._unpack_by_type(name, value)

    def _unpack_by_type(self, name: str, value: Any) -> Iterable[Any]:
        for value_type in type(value).__mro__:
            unpack = self.unpack_functions_for_type.get(value_type)
            if unpack is not None:
                return unpack(value)
        if isinstance(value, (list, tuple)):
            return value
        raise TypeError(
            f"{type(self).__name__} cannot unpack input '{name}' of type {type(value).__name__} per image; "
            f"pass unpack_functions_for_input_name={{'{name}': ...}} or unpack_functions_for_type"
        )


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
