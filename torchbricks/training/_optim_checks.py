"""The ``optimizer`` and ``scheduler`` sections of a train config: names looked up, arguments checked, both made.

An optimizer is made on one parameter and the scheduler on it, so that torch's own refusals (``lr: -1``)
are ``optimizer.lr`` problems before anything runs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

from torchbricks._arguments import argument_problems, convert_arguments
from torchbricks.training._optim import name_suggestion
from torchbricks.training._trainer_checks import culprit

_OPTIMIZER_WORDS = {"lr": ("learning rate",), "eps": ("epsilon",), "betas": ("beta",)}
"""Words in torch.optim's messages that name an argument (``Invalid learning rate`` → ``lr``)."""


def check_named(
    section: Any, path: str, lookup: Any, problems: list[str], supplied: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """Check an optimizer or scheduler section; returns it with its values converted, ``None`` after a problem.

    An optimizer is also made, on one parameter, so that torch's own refusals (``lr: -1``) are found now.
    """
    supplied = supplied or (("params",) if path == "optimizer" else ("optimizer", "total_steps"))
    if not isinstance(section, Mapping) or not isinstance(section.get("name"), str):
        problems.append(f"{path}: must be a mapping with 'name', got {section!r}")
        return None
    arguments = {key: value for key, value in section.items() if key != "name"}
    factory = lookup(section["name"])
    if factory is None:
        what = "a torch.optim class" if path == "optimizer" else "warmup_cosine or a torch.optim.lr_scheduler class"
        hint = name_suggestion(path, section["name"])
        problems.append(f"{path}.name: unknown {path} {section['name']!r} (must be {what}).{hint}")
        return None
    arguments = convert_arguments(factory, arguments)
    before = len(problems)
    for argument, problem in argument_problems(factory, arguments, supplied):
        problems.append(f"{path}.{argument}: {problem}")
    for argument, value in arguments.items():
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(f"{path}.{argument}: must be a finite number, got {value}")
    if len(problems) > before:
        return None
    converted = {"name": section["name"], **arguments}
    if path == "optimizer":
        import torch

        try:
            factory([torch.nn.Parameter(torch.zeros(1))], **arguments)
        except Exception as error:  # torch.optim's own checks: "Invalid learning rate: -1.0"
            _refused(path, section["name"], error, arguments, problems)
            return None
    return converted


def check_scheduler_runs(
    scheduler: Mapping[str, Any], optimizer: Mapping[str, Any], trainer: Any, problems: list[str]
) -> None:
    """Make the scheduler on a one-parameter optimizer, so that its refusals are found before the run."""
    import torch

    from torchbricks.training._optim import create_optimizer, create_scheduler

    steps = trainer.get("max_steps") if isinstance(trainer, Mapping) else None
    total_steps = steps if isinstance(steps, int) and steps > 0 else 1000
    arguments = {key: value for key, value in scheduler.items() if key != "name"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            create_scheduler(scheduler, create_optimizer(optimizer, [torch.nn.Parameter(torch.zeros(1))]), total_steps)
    except Exception as error:
        _refused("scheduler", scheduler["name"], error, arguments, problems)


def _refused(path: str, name: str, error: Exception, arguments: Mapping[str, Any], problems: list[str]) -> None:
    message = " ".join(str(error).split()) or type(error).__name__
    key = culprit(message, arguments, _OPTIMIZER_WORDS)
    problems.append(f"{path}.{key}: {message}" if key else f"{path}: {name} refuses these arguments: {message}")
