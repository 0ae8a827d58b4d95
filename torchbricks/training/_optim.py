"""Optimizers and learning-rate schedules from config dicts (``{"name": "AdamW", "lr": 1e-3}``).

Example:
    >>> import torch
    >>> parameters = [torch.nn.Parameter(torch.zeros(2))]
    >>> optimizer = create_optimizer({"name": "SGD", "lr": 0.1}, parameters)
    >>> type(optimizer).__name__
    'SGD'
    >>> scheduler = create_scheduler({"name": "warmup_cosine", "warmup_fraction": 0.5}, optimizer, total_steps=4)
    >>> [round(group["lr"], 3) for group in optimizer.param_groups]
    [0.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch


def optimizer_class(name: str) -> Callable[..., torch.optim.Optimizer] | None:
    """The ``torch.optim`` optimizer class called ``name`` (``None`` when there is none)."""
    found = getattr(torch.optim, name, None)
    return found if isinstance(found, type) and issubclass(found, torch.optim.Optimizer) else None


def scheduler_factory(name: str) -> Callable[..., Any] | None:
    """``warmup_cosine`` or the ``torch.optim.lr_scheduler`` class called ``name`` (``None`` when unknown)."""
    if name == "warmup_cosine":
        return warmup_cosine
    found = getattr(torch.optim.lr_scheduler, name, None)
    return found if isinstance(found, type) and issubclass(found, torch.optim.lr_scheduler.LRScheduler) else None


def create_optimizer(config: Mapping[str, Any], parameters: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer the config names, on ``parameters``."""
    arguments = dict(config)
    factory = optimizer_class(arguments.pop("name"))
    if factory is None:
        raise ValueError(f"Unknown optimizer {config['name']!r} (a torch.optim class name, e.g. 'AdamW')")
    return factory(parameters, **arguments)


def create_scheduler(config: Mapping[str, Any], optimizer: torch.optim.Optimizer, total_steps: int) -> Any:
    """The schedule the config names; ``warmup_cosine`` (and ``total_steps`` arguments) use ``total_steps``."""
    arguments = dict(config)
    name = arguments.pop("name")
    factory = scheduler_factory(name)
    if factory is None:
        raise ValueError(f"Unknown scheduler {name!r} (warmup_cosine or a torch.optim.lr_scheduler class name)")
    if name in ("warmup_cosine", "OneCycleLR") and "total_steps" not in arguments:
        arguments["total_steps"] = total_steps
    return factory(optimizer, **arguments)


def warmup_cosine(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float = 0.1, final_fraction: float = 0.0
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup_fraction`` of the steps, then cosine decay to ``final_fraction`` of the rate."""
    warmup = max(1, int(total_steps * warmup_fraction)) if warmup_fraction > 0 else 0

    def factor(step: int) -> float:
        if step < warmup:
            return step / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
