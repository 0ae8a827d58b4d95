"""Preprocessors: turn raw images into normalised model inputs.

Example:
    >>> import torch
    >>> images = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    >>> Preprocessor(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))(images).unique()
    tensor([1.])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Preprocessor", "normalize"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Preprocessor(nn.Module):
    """Normalise images ``[B, C, H, W]`` with a per-channel mean and std.

    ``uint8`` images are first scaled to ``[0, 1]``. Mean and std are non-persistent buffers: they
    follow ``.to(device)`` but are configuration, not weights.
    """

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"Preprocessor mean {tuple(mean)} and std {tuple(std)} differ in length")
        if any(value <= 0 for value in std):
            raise ValueError(f"Preprocessor std must be positive, got {tuple(std)}")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype == torch.uint8:
            images = images.to(self.mean.dtype) / 255.0
        return (images - self.mean) / self.std


def normalize(mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> Preprocessor:
    """Scale uint8 images to [0, 1] and normalise each channel with ``mean`` and ``std``."""
    return Preprocessor(mean=mean, std=std)
