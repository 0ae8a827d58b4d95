"""The input contract of a saved model: the size and value range its images had in training, and how to get there.

A model folder's ``config.json`` records ``"input": {"channels", "dtype", "value_range", "size", "resize"}``
(``size`` ``[H, W]`` or ``null``, ``resize`` ``"stretch"`` or ``"none"``); see
:mod:`torchbricks.assembly`. A folder saved before that key existed falls back to the image size of the
train run it belongs to, else images keep their size. :meth:`InputContract.prepare` brings one image
(uint8 ``[C, H, W]``, or float in ``[0, 1]``) to that contract the way training's datasets resize
(bilinear with antialiasing, as ``torchvision.transforms.v2.Resize``); :meth:`InputContract.scale` is the
factor from model-input pixels back to the original image's.

Example:
    >>> import torch
    >>> contract = model_input_contract({"input": {"size": [32, 48], "resize": "stretch"}})
    >>> prepared = contract.prepare(torch.zeros(3, 64, 64, dtype=torch.uint8))
    >>> prepared.shape, prepared.dtype
    (torch.Size([3, 32, 48]), torch.float32)
    >>> contract.scale(original=(64, 64), prepared=(32, 48))
    (1.3333333333333333, 2.0)
    >>> model_input_contract({"input": {"size": None}}).target_size(20, 30)
    (20, 30)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional

from torchbricks.errors import ConfigError

RESIZE_POLICIES = ("stretch", "none")
"""``stretch``: every image is resized to ``size`` (aspect ratio not kept); ``none``: images keep their size."""
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "uint8": torch.uint8}


@dataclass(frozen=True)
class InputContract:
    """What a model's image input is: channels, dtype, value range, the training size (``(H, W)``) and resize policy."""

    channels: int = 3
    dtype: str = "float32"
    value_range: tuple[float, float] = (0.0, 1.0)
    size: tuple[int, int] | None = None
    resize: str = "stretch"

    def __post_init__(self) -> None:
        if self.resize not in RESIZE_POLICIES:
            raise ConfigError(f"input.resize must be one of {RESIZE_POLICIES}, got {self.resize!r}")
        if self.dtype not in _DTYPES:
            raise ConfigError(f"input.dtype must be one of {sorted(_DTYPES)}, got {self.dtype!r}")
        if self.channels not in (1, 3, 4):
            raise ConfigError(f"input.channels must be 1, 3 or 4, got {self.channels!r}")

    @property
    def torch_dtype(self) -> torch.dtype:
        """The dtype of the model's image input."""
        return _DTYPES[self.dtype]

    def target_size(self, height: int, width: int) -> tuple[int, int]:
        """The ``(H, W)`` an image of ``height`` × ``width`` is brought to."""
        if self.size is None or self.resize == "none":
            return height, width
        return self.size

    def prepare(self, image: torch.Tensor) -> torch.Tensor:
        """One image ``[C, H, W]`` (uint8, or float in ``[0, 1]``) resized and converted to the contract."""
        height, width = image.shape[-2:]
        size = self.target_size(int(height), int(width))
        if size != (height, width):
            resizable = image if image.dtype in (torch.uint8, torch.float32, torch.float64) else image.float()
            image = functional.interpolate(
                resizable[None], size=size, mode="bilinear", antialias=True, align_corners=False
            )[0]
        if self.dtype == "uint8":
            return image if image.dtype == torch.uint8 else (image.clamp(0, 1) * 255).round().to(torch.uint8)
        values = image.to(self.torch_dtype) / 255.0 if image.dtype == torch.uint8 else image.to(self.torch_dtype)
        low, high = self.value_range
        return values if (low, high) == (0.0, 1.0) else values * (high - low) + low

    @staticmethod
    def scale(original: tuple[int, int], prepared: tuple[int, int]) -> tuple[float, float]:
        """``(x factor, y factor)`` from model-input pixels to original pixels; sizes are ``(H, W)``."""
        return original[1] / prepared[1], original[0] / prepared[0]


def model_input_contract(config: Mapping[str, Any] | None, folder: Path | None = None) -> InputContract:
    """The contract a model config records (``input``); for a folder saved before it was recorded, the image size
    of the train run the folder belongs to (``run/model`` → ``run/config.json``'s first training dataset), else
    images keep their size."""
    config = config or {}
    recorded = config.get("input")
    if isinstance(recorded, Mapping):
        value_range = recorded.get("value_range") or (0.0, 1.0)
        return InputContract(
            channels=int(recorded.get("channels", 3)),
            dtype=str(recorded.get("dtype", "float32")),
            value_range=(float(value_range[0]), float(value_range[1])),
            size=_size(recorded.get("size"), "input.size"),
            resize=str(recorded.get("resize") or "stretch"),
        )
    shape = config.get("input_shape")
    channels = int(shape[0]) if isinstance(shape, (list, tuple)) and len(shape) == 3 else 3
    return InputContract(channels=channels, size=_trained_size(folder))


def _trained_size(folder: Path | None) -> tuple[int, int] | None:
    """The ``image_size`` of the first training dataset of the train run holding ``folder`` (``run/model``)."""
    if folder is None or Path(folder).name != "model":
        return None
    try:
        train = json.loads((Path(folder).absolute().parent / "config.json").read_text())
        size = train["data"]["train"][0]["image_size"]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    try:
        return _size(size, "image_size")
    except ConfigError:
        return None


def _size(value: Any, where: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(side, int) and not isinstance(side, bool) and side > 0 for side in value)
    ):
        raise ConfigError(f"{where} must be [height, width] in pixels (or null), got {value!r}")
    return int(value[0]), int(value[1])
