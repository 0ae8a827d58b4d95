"""Seed-compatible import path (torchbricks 0.3): conversions live in :mod:`torchbricks.visualization`."""

from torchbricks.visualization import (
    batched_tensor_to_batched_np_array_channel_last,
    batched_tensor_to_channel_last,
    float2uint8,
    function_composer,
    torch_to_numpy,
    unpack_batched_array_to_arrays,
    unpack_batched_tensor_to_numpy_arrays,
    unpack_batched_tensor_to_numpy_channel_last_arrays,
    unpack_batched_tensor_to_numpy_format,
    unpack_batched_tensor_to_pillow_images,
    unpack_batched_tensor_to_torchvision_format,
)

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
