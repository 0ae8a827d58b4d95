"""Seed-compatible import path (torchbricks 0.3): conversions live in :mod:`torchbricks.visualization`."""

from torchbricks.visualization import (
    float2uint8,
    function_composer,
    torch_to_numpy,
    unpack_batched_tensor_to_numpy_arrays,
    unpack_batched_tensor_to_numpy_channel_last_arrays,
    unpack_batched_tensor_to_pillow_images,
)

__all__ = [
    "float2uint8",
    "function_composer",
    "torch_to_numpy",
    "unpack_batched_tensor_to_numpy_arrays",
    "unpack_batched_tensor_to_numpy_channel_last_arrays",
    "unpack_batched_tensor_to_pillow_images",
]
