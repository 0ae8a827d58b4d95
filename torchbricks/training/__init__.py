"""Training with Lightning: ``LightningBrickCollection``, the train run and its config, dataset batching.

Needs the ``train`` extra (``pip install 'torchbricks[train]'``). Attributes load lazily, so
``import torchbricks.training`` imports neither Lightning nor torch.

Example:
    >>> from torchbricks.training import collate
    >>> import torch
    >>> collate([{"x": torch.zeros(2)}, {"x": torch.ones(2)}])["x"].shape
    torch.Size([2, 2])
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "LightningBrickCollection": "torchbricks.training._module",
    "flatten_metrics": "torchbricks.training._module",
    "train": "torchbricks.training._run",
    "check_training": "torchbricks.training._run_checks",
    "quiet_lightning": "torchbricks.training._lightning",
    "is_main_process": "torchbricks.training._run",
    "with_labelled_masks": "torchbricks.training._data",
    "load_train_config": "torchbricks.training._config",
    "apply_overrides": "torchbricks.training._overrides",
    "TRAIN_KEYS": "torchbricks.training._config",
    "Collate": "torchbricks.training._data",
    "collate": "torchbricks.training._data",
    "combine": "torchbricks.training._data",
    "labelled_name": "torchbricks.training._data",
    "placeholders": "torchbricks.training._data",
    "create_optimizer": "torchbricks.training._optim",
    "create_scheduler": "torchbricks.training._optim",
    "let_idle_threads_sleep": "torchbricks._threads",
    "idle_threads_sleep": "torchbricks._threads",
}


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'torchbricks.training' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])


__all__ = sorted(_PUBLIC)
