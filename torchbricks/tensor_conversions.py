"""Conversions between batched tensors and per-image numpy arrays or Pillow images.

Example:
    >>> import torch
    >>> images = unpack_batched_tensor_to_numpy_channel_last_arrays(torch.zeros(2, 3, 4, 5))
    >>> len(images), images[0].shape
    (2, (4, 5, 3))
    >>> [int(value) for value in function_composer(torch_to_numpy, list)(torch.tensor([0, 1]))]
    [0, 1]
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from PIL import Image


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
