"""The ``trainer`` section of a train config: Lightning Trainer arguments checked, and a Trainer made with them.

Lightning's own refusals (``accelerator: gpu`` without a GPU, a strategy that is not installed) become
``trainer.<key>`` problems before anything runs (:func:`culprit` finds the key an error message is about);
so do limits that train nothing and more CPU processes than cores.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import Any

from torchbricks._arguments import argument_problems, convert_arguments
from torchbricks._threads import available_cores

MANAGED_TRAINER_ARGUMENTS = ("logger", "callbacks", "default_root_dir", "plugins")
"""Trainer arguments the train run sets itself (``plugins`` are Python objects, which a config cannot hold)."""

_MANAGED_HINTS = {
    "callbacks": "callbacks: [{name: ..., ...}] adds Lightning callbacks",
    "plugins": "Lightning plugins are Python objects, which a config cannot hold: use trainer.precision and "
    "trainer.strategy, or LightningBrickCollection with your own Trainer",
}
_TRAINER_WORDS = {"accelerator": (r"Accelerator\b",), "strategy": (r"Strategy\b",), "precision": (r"Precision\b",)}
"""Words in Lightning's messages that name a Trainer argument (``CUDAAccelerator`` → ``accelerator``)."""
_GPU_ONLY_STRATEGIES = {
    "FSDPStrategy": "FSDP",
    "DeepSpeedStrategy": "DeepSpeed",
    "ModelParallelStrategy": "ModelParallel",
}


def check_trainer(trainer: Any, problems: list[str], allow_oversubscription: bool = False) -> int:
    """Check the Trainer arguments (converted in place) and construct a Trainer with them; returns the processes.

    Lightning's own refusals (``accelerator: gpu`` without a GPU, a strategy that is not installed) become
    ``trainer.<key>`` problems here, before anything runs.
    """
    if not isinstance(trainer, dict):
        problems.append(f"trainer: must be a mapping of Lightning Trainer arguments, got {trainer!r}")
        return 1
    before = len(problems)
    for key in trainer:
        if key in MANAGED_TRAINER_ARGUMENTS:
            problems.append(f"trainer.{key}: set by the train run ({_MANAGED_HINTS.get(key, 'use --output')})")
    from torchbricks.training._lightning import lightning

    pl = lightning()
    arguments = convert_arguments(
        pl.Trainer, {key: value for key, value in trainer.items() if key not in MANAGED_TRAINER_ARGUMENTS}
    )
    trainer.update(arguments)
    for argument, problem in argument_problems(pl.Trainer, arguments):
        problems.append(f"trainer.{argument}: {problem}")
    problems.extend(_trains_nothing(arguments))
    if arguments.get("enable_checkpointing") is False:
        problems.append(
            "trainer.enable_checkpointing: set by the train run: it keeps checkpoints/last.ckpt (for --resume) "
            "and, with checkpoint.monitor, the best model; leave it out"
        )
    if len(problems) > before:
        return 1
    probe = _probe_trainer(pl, arguments, problems)
    if probe is None:
        return 1
    return _check_processes(probe, arguments, problems, allow_oversubscription)


def _trains_nothing(arguments: Mapping[str, Any]) -> list[str]:
    """Problems of step and epoch limits that would train nothing (or that Lightning refuses)."""
    problems = []
    for key, what in (("max_steps", "steps"), ("max_epochs", "epochs")):
        value = arguments.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and (value == 0 or value < -1):
            problems.append(f"trainer.{key}: must be a positive number of {what} (-1: no limit), got {value}")
    limit = arguments.get("limit_train_batches")
    if isinstance(limit, int | float) and not isinstance(limit, bool) and not limit > 0:
        problems.append(
            "trainer.limit_train_batches: must be a number of batches (> 0) or a fraction of the training data "
            f"(0 to 1], got {limit} (which trains nothing)"
        )
    return problems


def _probe_trainer(pl: Any, arguments: Mapping[str, Any], problems: list[str]) -> Any:
    """A Trainer made with ``arguments`` (nothing runs, nothing is written); ``None`` after a problem."""
    from torchbricks.training._lightning import quiet_lightning

    try:
        with quiet_lightning(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pl.Trainer(**{"enable_model_summary": False, **arguments, "logger": False})
    except Exception as error:  # MisconfigurationException, ValueError, TypeError: Lightning refuses the arguments
        message = " ".join(str(error).split()) or type(error).__name__
        key = culprit(message, arguments, _TRAINER_WORDS)
        problems.append(f"trainer.{key}: {message}" if key else f"trainer: {message}")
        return None


def _check_processes(probe: Any, arguments: Mapping[str, Any], problems: list[str], allow: bool) -> int:
    """The processes the Trainer starts in all; strategies that need GPUs and more CPU processes than cores refused."""
    accelerator = type(probe.accelerator).__name__
    strategy = type(probe.strategy).__name__
    if accelerator == "CPUAccelerator" and strategy in _GPU_ONLY_STRATEGIES:
        problems.append(
            f"trainer.strategy: {arguments.get('strategy')!r} cannot run on the CPU ({_GPU_ONLY_STRATEGIES[strategy]} "
            "shards the model across GPUs); use trainer.accelerator: gpu, or strategy: ddp on CPUs"
        )
    devices = int(getattr(probe, "num_devices", 1) or 1)
    cores = available_cores()
    if accelerator == "CPUAccelerator" and devices > cores and not allow:
        problems.append(
            f"trainer.devices: {devices} CPU processes on {cores} cores would oversubscribe the CPU (each process "
            f"runs torch's threads); use at most {cores}, or set allow_oversubscription: true"
        )
    return devices * int(arguments.get("num_nodes", 1) or 1)


def culprit(message: str, arguments: Mapping[str, Any], words: Mapping[str, tuple[str, ...]]) -> str | None:
    """The argument an error message is about: the first named in it (or by one of its ``words``), else by value."""
    found: list[tuple[int, str]] = []
    for key in arguments:
        patterns = (rf"(?<![A-Za-z0-9_]){re.escape(key)}(?![A-Za-z0-9_])", *words.get(key, ()))
        for pattern in patterns:
            match = re.search(pattern, message, flags=re.IGNORECASE if pattern.startswith("(?<!") else 0)
            if match:
                found.append((match.start(), key))
    if found:
        return min(found)[1]
    for key, value in arguments.items():
        if isinstance(value, str) and value and re.search(rf"\b{re.escape(value)}\b", message, flags=re.IGNORECASE):
            return key
    return None
