"""Seed-compatible import path (torchbricks 0.3): ONNX and ``torch.export`` live in :mod:`torchbricks.export`.

Example:
    >>> from torch import nn
    >>> from torchbricks import BrickCollection, BrickLoss, BrickTrainable
    >>> model = BrickCollection({
    ...     "head": {
    ...         "classify": BrickTrainable(nn.Identity(), ["x"], ["y"]),
    ...         "loss": BrickLoss(nn.L1Loss(), ["y", "t"], ["l1"]),
    ...     },
    ... })
    >>> filter_brick_types(model, BrickLoss)
    {'head': {'loss': BrickLoss(L1Loss, input_names=['y', 't'], output_names=['l1'], groups={'LOSS'})}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torchbricks.collection import BrickCollection
from torchbricks.export import export_bricks, export_bricks_as_onnx, onnx_max_abs_differences

__all__ = ["export_bricks", "export_bricks_as_onnx", "filter_brick_types", "onnx_max_abs_differences"]


def filter_brick_types(brick_collection: BrickCollection | Mapping[str, Any], types: type | tuple[type, ...]) -> dict:
    """The bricks that are instances of ``types``, as a nested dict mirroring the collection.

    Every nested collection appears as a (possibly empty) dict; the collection itself is not changed.
    """
    tree = brick_collection.to_dict() if isinstance(brick_collection, BrickCollection) else brick_collection
    selected: dict[str, Any] = {}
    for name, value in tree.items():
        if isinstance(value, Mapping):
            selected[name] = filter_brick_types(value, types)
        elif isinstance(value, types):
            selected[name] = value
    return selected
