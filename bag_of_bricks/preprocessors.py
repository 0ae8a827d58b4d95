"""Preprocessors: turn raw images into normalised model inputs.

The input contract: ``uint8`` images in ``[0, 255]`` or float images in ``[0, 1]``, ``[B, C, H, W]``.
Anything else (float images in 0–255, already normalised images) gives wrong predictions without an
error, so in eager mode each forward looks at a sample of the batch (the first image, every 4th pixel)
and warns once per preprocessor with :class:`~torchbricks.errors.InputRangeWarning`. Under
``torch.compile``, tracing and export nothing is checked: the graph stays free of breaks.

Example:
    >>> import torch
    >>> images = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    >>> Preprocessor(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))(images).unique()
    tensor([1.])
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import nn

from torchbricks.errors import InputRangeWarning

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "INPUT_CONTRACT", "Preprocessor", "check_input_range", "normalize"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_CONTRACT = "uint8 images in 0–255 or float images in 0–1"
"""What the preprocessors accept (the ``[B, C, H, W]`` layout aside)."""
_LOWEST, _HIGHEST = -0.5, 1.5  # scaled values outside this range are out of contract, not rounding or jitter


class Preprocessor(nn.Module):
    """Normalise images ``[B, C, H, W]`` with a per-channel mean and std.

    ``uint8`` images are first scaled to ``[0, 1]``. Mean and std are non-persistent buffers: they
    follow ``.to(device)`` but are configuration, not weights. In eager mode, images out of the input
    contract (float images in 0–255, say) warn once with :class:`~torchbricks.errors.InputRangeWarning`.
    """

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"Preprocessor mean {tuple(mean)} and std {tuple(std)} differ in length")
        if any(value <= 0 for value in std):
            raise ValueError(f"Preprocessor std must be positive, got {tuple(std)}")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self._range_warned = False  # warned once: stop checking

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype == torch.uint8:
            images = images.to(self.mean.dtype) / 255.0
        elif not torch.jit.is_scripting():
            self._check_range(images)
        return (images - self.mean) / self.std

    @torch.jit.unused
    def _check_range(self, images: torch.Tensor) -> None:
        if not getattr(self, "_range_warned", False) and _is_eager():  # getattr: modules pickled before the check
            self._range_warned = check_input_range(images, type(self).__name__)


def _is_eager() -> bool:
    """False while ``torch.compile``, ``torch.export``, ONNX export or ``torch.jit`` trace the model."""
    return not (torch.compiler.is_compiling() or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export())


def check_input_range(images: torch.Tensor, owner: str = "The preprocessor") -> bool:
    """Warn with :class:`~torchbricks.errors.InputRangeWarning` when non-``uint8`` images are not in ``[0, 1]``.

    Looks at a sample (the first image, every 4th pixel), so it is cheap; returns whether it warned.
    Values within ``[-0.5, 1.5]`` pass (augmentations may overshoot a little).

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     check_input_range(torch.full((1, 3, 8, 8), 0.5)), check_input_range(torch.full((1, 3, 8, 8), 200.0))
        (False, True)
        >>> str(caught[0].message).split(";")[0]
        'The preprocessor got float32 images with values in [200, 200]'
    """
    sample = images[:1, :, ::4, ::4] if images.ndim == 4 else images
    if sample.numel() == 0 or sample.dtype == torch.bool or sample.device.type == "meta":
        return False
    lowest, highest = torch.stack(torch.aminmax(sample.detach())).tolist()  # one read from the device
    if lowest >= _LOWEST and highest <= _HIGHEST:
        return False
    dtype = str(images.dtype).removeprefix("torch.")
    warnings.warn(
        f"{owner} got {dtype} images with values in [{lowest:g}, {highest:g}]; it expects {INPUT_CONTRACT}. "
        "Divide float images by 255 (or pass uint8) and do not normalise them beforehand: predictions on "
        "these images are wrong.",
        InputRangeWarning,
        stacklevel=2,
    )
    return True


def normalize(mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> Preprocessor:
    """Scale uint8 images to [0, 1] and normalise each channel with ``mean`` and ``std``."""
    return Preprocessor(mean=mean, std=std)
