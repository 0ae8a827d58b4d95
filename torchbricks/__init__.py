"""torchbricks: build multi-task PyTorch models from named bricks wired into a validated DAG.

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

__version__ = "0.5.0.dev0"

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
