"""torchbricks: build multi-task PyTorch models from named bricks wired into a validated DAG.

Attributes are imported on first use, so ``import torchbricks`` (and the ``torchbricks`` command)
stays fast and imports neither torch, torchvision nor torchmetrics until a brick is needed.

Example:
    >>> import torch
    >>> from torch import nn
    >>> import torchbricks as tb
    >>> model = tb.BrickCollection({
    ...     "backbone": tb.BrickTrainable(nn.Conv2d(3, 8, 1), input_names=["image"], output_names=["features"]),
    ...     "pool": tb.BrickNotTrainable(nn.AdaptiveAvgPool2d(1), input_names=["features"], output_names=["pooled"]),
    ... })
    >>> model({"image": torch.rand(2, 3, 16, 16)})["pooled"].shape
    torch.Size([2, 8, 1, 1])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.5.0.dev0"

_LAZY_ATTRIBUTES = {
    "BrickCollection": "torchbricks.brick_collection",
    "BrickInterface": "torchbricks.bricks",
    "BrickLoss": "torchbricks.bricks",
    "BrickMetricSingle": "torchbricks.bricks",
    "BrickMetrics": "torchbricks.bricks",
    "BrickModule": "torchbricks.bricks",
    "BrickNotTrainable": "torchbricks.bricks",
    "BrickTrainable": "torchbricks.bricks",
    "ALL_INPUTS": "torchbricks.names",
    "LOSS": "torchbricks.groups",
    "METRIC": "torchbricks.groups",
    "MODEL": "torchbricks.groups",
    "VISUALIZATION": "torchbricks.groups",
    "Stage": "torchbricks.groups",
}

if TYPE_CHECKING:
    from torchbricks.brick_collection import BrickCollection
    from torchbricks.bricks import (
        BrickInterface,
        BrickLoss,
        BrickMetrics,
        BrickMetricSingle,
        BrickModule,
        BrickNotTrainable,
        BrickTrainable,
    )
    from torchbricks.groups import LOSS, METRIC, MODEL, VISUALIZATION, Stage
    from torchbricks.names import ALL_INPUTS


def __getattr__(name: str) -> Any:
    module_name = _LAZY_ATTRIBUTES.get(name)
    if module_name is None:
        raise AttributeError(f"module 'torchbricks' has no attribute '{name}'")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY_ATTRIBUTES])


__all__ = [
    "ALL_INPUTS",
    "LOSS",
    "METRIC",
    "MODEL",
    "VISUALIZATION",
    "BrickCollection",
    "BrickInterface",
    "BrickLoss",
    "BrickMetricSingle",
    "BrickMetrics",
    "BrickModule",
    "BrickNotTrainable",
    "BrickTrainable",
    "Stage",
    "__version__",
]
