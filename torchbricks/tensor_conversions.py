"""Conversions between batched tensors and per-image numpy arrays, tensors or Pillow images.

A batch ``[B, C, H, W]`` is split along its first dimension; numpy results are channel-last
(``[H, W, C]``), as Pillow and matplotlib draw them; torchvision results stay channel-first. Float
images are expected in ``[0, 1]``. :class:`torchbricks.visualization.BrickPerImageVisualization` uses
these functions to unpack its inputs per image.

Example:
    >>> import torch
    >>> images = unpack_batched_tensor_to_numpy_channel_last_arrays(torch.zeros(2, 3, 4, 5))
    >>> len(images), images[0].shape
    (2, (4, 5, 3))
    >>> [int(value) for value in function_composer(torch_to_numpy, list)(torch.tensor([0, 1]))]
    [0, 1]
    >>> float2uint8(torch_to_numpy(torch.tensor([0.0, 0.5, 2.0]))).tolist()
    [0, 128, 255]
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "batched_tensor_to_batched_np_array_channel_last",
    "batched_tensor_to_channel_last",
    "float2uint8",
    "function_composer",
    "torch_to_numpy",
    "unpack_batched_array_to_arrays",
    "unpack_batched_tensor_to_numpy_arrays",
    "unpack_batched_tensor_to_numpy_channel_last_arrays",
    "unpack_batched_tensor_to_numpy_format",
    "unpack_batched_tensor_to_pillow_images",
    "unpack_batched_tensor_to_torchvision_format",
]


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
