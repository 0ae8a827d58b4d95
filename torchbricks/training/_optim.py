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
    >>> try:
    ...     create_optimizer({"name": "adamw"}, parameters)
    ... except ValueError as error:
    ...     print(error)
    Unknown optimizer 'adamw' (a torch.optim class name, e.g. 'AdamW'). Did you mean 'AdamW'?
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from torchbricks._arguments import convert_arguments
from torchbricks.errors import ConfigError
from torchbricks.suggestions import did_you_mean

_BASE_CLASSES = frozenset({"Optimizer", "LRScheduler"})
"""Base classes ``torch.optim`` exports: found by name, never suggested."""


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


def optimizer_names() -> list[str]:
    """The names ``optimizer: {name: ...}`` accepts: every ``torch.optim`` optimizer class, sorted.

    Example:
        >>> "AdamW" in optimizer_names(), "adamw" in optimizer_names()
        (True, False)
    """
    return sorted(
        name
        for name in dir(torch.optim)
        if name not in _BASE_CLASSES and not name.startswith("_") and optimizer_class(name) is not None
    )


def scheduler_names() -> list[str]:
    """The names ``scheduler: {name: ...}`` accepts: ``warmup_cosine`` and the ``torch.optim.lr_scheduler`` classes.

    Example:
        >>> scheduler_names()[:2]
        ['ChainedScheduler', 'ConstantLR']
        >>> "warmup_cosine" in scheduler_names()
        True
    """
    classes = (
        name
        for name in dir(torch.optim.lr_scheduler)
        if name not in _BASE_CLASSES and not name.startswith("_") and scheduler_factory(name) is not None
    )
    return sorted({"warmup_cosine", *classes})


def name_suggestion(section: str, name: str) -> str:
    """``" Did you mean 'AdamW'?"`` for an unknown ``optimizer`` or ``scheduler`` (``section``) name, else ``""``.

    Case is ignored when matching, never when looking up: ``adamw`` is not ``AdamW``, it is suggested.

    Example:
        >>> name_suggestion("optimizer", "adamw")
        " Did you mean 'AdamW'?"
        >>> name_suggestion("scheduler", "onecyclelr")
        " Did you mean 'OneCycleLR'?"
    """
    return did_you_mean(name, optimizer_names() if section == "optimizer" else scheduler_names())


def default_lr(name: str) -> float:
    """The learning rate the optimizer ``name`` uses when its config gives none.

    Example:
        >>> default_lr("AdamW"), default_lr("Adadelta")
        (0.001, 1.0)
    """
    import inspect

    factory = optimizer_class(name)
    parameter = inspect.signature(factory).parameters.get("lr") if factory is not None else None
    default = parameter.default if parameter is not None else inspect.Parameter.empty
    return float(default) if isinstance(default, int | float) else 1e-3


def create_optimizer(
    config: Mapping[str, Any], parameters: Iterable[torch.nn.Parameter] | Iterable[dict[str, Any]]
) -> torch.optim.Optimizer:
    """The optimizer the config names, on ``parameters`` (or parameter groups, each with its own ``lr``)."""
    arguments = dict(config)
    arguments.pop("lr_multipliers", None)  # made into the parameter groups (LightningBrickCollection)
    factory = optimizer_class(arguments.pop("name"))
    if factory is None:
        name = config["name"]
        raise ConfigError(
            f"Unknown optimizer {name!r} (a torch.optim class name, e.g. 'AdamW').{name_suggestion('optimizer', name)}"
        )
    return factory(parameters, **convert_arguments(factory, arguments))  # "3e-4" (PyYAML's text) is a float


def create_scheduler(config: Mapping[str, Any], optimizer: torch.optim.Optimizer, total_steps: int) -> Any:
    """The schedule the config names; ``warmup_cosine`` (and ``total_steps`` arguments) use ``total_steps``."""
    arguments = dict(config)
    name = arguments.pop("name")
    factory = scheduler_factory(name)
    if factory is None:
        raise ConfigError(
            f"Unknown scheduler {name!r} (warmup_cosine or a torch.optim.lr_scheduler class name)."
            f"{name_suggestion('scheduler', name)}"
        )
    if name in ("warmup_cosine", "OneCycleLR") and "total_steps" not in arguments:
        arguments["total_steps"] = total_steps
    arguments = convert_arguments(factory, arguments)
    multipliers = [group.get("lr_multiplier", 1.0) for group in optimizer.param_groups]
    if name in _ABSOLUTE_RATE_SCHEDULERS and any(multiplier != 1.0 for multiplier in multipliers):
        for key in _ABSOLUTE_RATE_SCHEDULERS[name]:  # one rate for every group: each group's multiple of it
            if isinstance(arguments.get(key), int | float):
                arguments[key] = [arguments[key] * multiplier for multiplier in multipliers]
    return factory(optimizer, **arguments)


_ABSOLUTE_RATE_SCHEDULERS = {"OneCycleLR": ("max_lr",), "CyclicLR": ("base_lr", "max_lr")}
"""Schedulers that set the learning rate itself (not a factor of each group's): per-part multipliers apply to it."""


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
