"""torchbricks: build multi-task PyTorch models from named bricks wired into a validated DAG.

Everything the README and the docs use is importable from here. Attributes are imported on first
use, so ``import torchbricks`` (and the ``torchbricks`` command) stays fast and imports neither torch,
torchvision nor torchmetrics until a brick is needed.

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
from typing import Any

from torchbricks import _compat

__version__ = "0.5.0.dev0"

_compat.install()  # the old import paths (torchbricks.model_stage, ...), served from one table

_PUBLIC_BY_MODULE: dict[str, tuple[str, ...]] = {
    "torchbricks.bricks": (
        "BrickInterface",
        "BrickLoss",
        "BrickMetricSingle",
        "BrickMetrics",
        "BrickModule",
        "BrickNotTrainable",
        "BrickTrainable",
    ),
    "torchbricks.collection": ("BrickCollection",),
    "torchbricks.groups": ("LOSS", "METRIC", "METRIC_EXTRA", "MODEL", "VISUALIZATION", "Stage"),
    "torchbricks.names": ("ALL_INPUTS",),
    "torchbricks.features": ("FeatureSpec", "TaskInterface", "declare_features", "task_kind"),
    "torchbricks.visualization": ("BrickPerImageVisualization",),
    "torchbricks.weights": ("load_bricks", "save_bricks"),
    "torchbricks.export": ("export_bricks", "export_bricks_as_onnx", "onnx_max_abs_differences"),
    "torchbricks.graph": ("create_mermaid_dag_graph", "to_dot", "to_mermaid"),
    "torchbricks.assembly": (
        "assemble_model",
        "build_model",
        "load_config",
        "load_model",
        "resolve_config",
        "save_model",
    ),
    "torchbricks.errors": ("TorchBricksError",),
    "torchbricks.training": ("LightningBrickCollection", "train"),
    "torchbricks.inference": ("predict",),
}
_LAZY_ATTRIBUTES = {name: module for module, names in _PUBLIC_BY_MODULE.items() for name in names}
_SUBMODULES = frozenset(
    {
        "errors",
        "registry",
        "assembly",
        "features",
        "visualization",
        "tensor_conversions",
        "export",
        "graph",
        "weights",
        "training",
        "inference",
    }
)


def __getattr__(name: str) -> Any:
    module_name = _LAZY_ATTRIBUTES.get(name)
    if module_name is not None:
        value = getattr(importlib.import_module(module_name), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"torchbricks.{name}")
    else:
        raise AttributeError(f"module 'torchbricks' has no attribute '{name}'")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY_ATTRIBUTES, *_SUBMODULES])


__all__ = sorted([*_LAZY_ATTRIBUTES, "__version__"])
