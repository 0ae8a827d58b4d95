"""Lightning callbacks by name (``callbacks:`` in a train config): looked up, checked, made.

A bare name is one of ``pytorch_lightning.callbacks``; a dotted name is the import path of your own
callback class (``mypkg.callbacks.StepTimer``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torchbricks._arguments import argument_problems, convert_arguments
from torchbricks.errors import ConfigError
from torchbricks.suggestions import did_you_mean

MANAGED_CALLBACKS = ("ModelCheckpoint",)
"""Callbacks the train run adds itself (``checkpoint:`` configures it)."""


def callback_class(name: str) -> type | None:
    """The Lightning callback class called ``name``, ``None`` when unknown.

    A bare name is one of ``pytorch_lightning.callbacks``; a dotted name is the import path of your own
    callback class (``mypkg.callbacks.StepTimer``), imported from where Python finds your packages.
    :func:`import_callback` says why one cannot be imported.

    Example:
        >>> callback_class("EarlyStopping").__name__, callback_class("NoSuchCallback")
        ('EarlyStopping', None)
        >>> callback_class("pytorch_lightning.callbacks.LearningRateMonitor").__name__
        'LearningRateMonitor'
    """
    try:
        return import_callback(name)
    except ConfigError:
        return None


def import_callback(name: str) -> type | None:
    """:func:`callback_class`, raising :class:`ConfigError` that says why a dotted name cannot be imported."""
    from torchbricks.training._lightning import lightning

    callbacks = lightning().callbacks
    if "." not in name:
        found = getattr(callbacks, name, None)
        return found if isinstance(found, type) and issubclass(found, callbacks.Callback) else None
    import importlib

    module_name, _, attribute = name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"cannot import '{module_name}' ({error})") from error
    except Exception as error:  # the user's module fails while it is imported
        raise ConfigError(f"importing '{module_name}' failed: {type(error).__name__}: {error}") from error
    found = getattr(module, attribute, None)
    if found is None:
        raise ConfigError(f"'{module_name}' has no '{attribute}'")
    if not (isinstance(found, type) and issubclass(found, callbacks.Callback)):
        raise ConfigError(f"'{name}' is not a Lightning Callback class")
    return found


def _callback_names() -> list[str]:
    from torchbricks.training._lightning import lightning

    callbacks = lightning().callbacks
    return sorted(name for name in dir(callbacks) if callback_class(name) is not None and name != "Callback")


def check_callbacks(callbacks: Any, problems: list[str]) -> None:
    """Append each problem of a ``callbacks:`` list (unknown names, bad arguments) to ``problems``, with its path.

    Example:
        >>> problems = []
        >>> check_callbacks([{"name": "EarlyStoping", "monitor": "val/loss"}], problems)
        >>> problems[0].split(" Known:")[0]
        "callbacks[0].name: unknown Lightning callback 'EarlyStoping'. Did you mean 'EarlyStopping'?"
    """
    if not isinstance(callbacks, list):
        problems.append(f"callbacks: must be a list of {{name: <Lightning callback>, ...}}, got {callbacks!r}")
        return
    for index, spec in enumerate(callbacks):
        path = f"callbacks[{index}]"
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            problems.append(f"{path}: must be a mapping with 'name' (a Lightning callback), got {spec!r}")
            continue
        name = spec["name"]
        if name in MANAGED_CALLBACKS:
            problems.append(f"{path}.name: {name} is set by the train run (use checkpoint: {{monitor, mode}})")
            continue
        try:
            factory = import_callback(name)
        except ConfigError as error:
            problems.append(f"{path}.name: {error}")
            continue
        if factory is None:
            names = _callback_names()
            suggestion = did_you_mean(name, names)
            problems.append(
                f"{path}.name: unknown Lightning callback {name!r}.{suggestion} Known: {', '.join(names)} "
                "(or the import path of your own: mypkg.callbacks.StepTimer)"
            )
            continue
        arguments = convert_arguments(factory, {key: value for key, value in spec.items() if key != "name"})
        if isinstance(spec, dict):
            spec.update(arguments)
        for argument, problem in argument_problems(factory, arguments):
            problems.append(f"{path}.{argument}: {problem}")


def create_callback(spec: Mapping[str, Any]) -> Any:
    """The Lightning callback a ``callbacks:`` entry names, with its arguments.

    Example:
        >>> type(create_callback({"name": "EarlyStopping", "monitor": "val/loss", "patience": 2})).__name__
        'EarlyStopping'
    """
    arguments = {key: value for key, value in spec.items() if key != "name"}
    return callback_class(spec["name"])(**arguments)
