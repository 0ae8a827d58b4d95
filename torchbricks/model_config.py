"""Build a multi-task model from a config (a dict, or a JSON/YAML file), validated before anything is built.

A config names registry entries and their arguments::

    {
        "backbone": {"name": "resnet18"},
        "neck": {"name": "upsampling"},                      # optional
        "tasks": {"shape": {"task": "image_classification", "num_classes": 3}},
        "preprocessor": {"name": "normalize"},               # optional, this is the default
        "loss_weighting": {"name": "fixed_weighting"},       # optional, this is the default
        "image": "images",                                   # the name of the image input
        "input_shape": [3, 64, 64],                          # for export and summaries
    }

Every problem — unknown keys, unknown brick names, unknown, missing or mistyped arguments — is
reported at once with its path (``tasks.shape.num_clases: unknown argument; did you mean
'num_classes'?``). :func:`resolve_config` returns the config with qualified names and every default
filled in, so a saved config rebuilds exactly the same model.

Example:
    >>> config = {"backbone": "resnet18", "tasks": {"shape": {"task": "image_classification", "num_clases": 3}}}
    >>> try:
    ...     resolve_config(config)
    ... except ConfigError as error:
    ...     print(str(error).splitlines()[1].split(" Accepted")[0])
      tasks.shape.num_clases: unknown argument. Did you mean 'num_classes'?
"""

from __future__ import annotations

import copy
import json
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torchbricks.errors import ConfigError, RegistryError
from torchbricks.registry import get_entry
from torchbricks.registry.registry import parameter_names
from torchbricks.suggestions import did_you_mean

PARTS = {"preprocessor": "preprocessors", "backbone": "backbones", "neck": "necks", "loss_weighting": "losses"}
DEFAULTS: dict[str, Any] = {
    "image": "images",
    "preprocessor": {"name": "normalize"},
    "neck": None,
    "loss_weighting": {"name": "fixed_weighting"},
    "input_shape": [3, 224, 224],
}
CONFIG_KEYS = ("image", "input_shape", "preprocessor", "backbone", "neck", "tasks", "loss_weighting", "packs")
SUPPLIED_BY_ASSEMBLER = {
    "necks": ("in_channels", "in_strides"),
    "losses": ("weights", "task_names"),
    "tasks": ("features", "in_channels", "stride", "image", "detail"),
}


def load_config(source: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    """A config from a dict (copied), or a ``.json`` / ``.yaml`` / ``.yml`` file."""
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"Cannot read config file '{path}': {error}") from error
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as error:
            raise ConfigError(f"Reading '{path}' needs PyYAML: pip install pyyaml (or use a .json config)") from error
        data = yaml.safe_load(text)
    elif path.suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ConfigError(f"Config file '{path}' is not valid JSON: {error}") from error
    else:
        raise ConfigError(f"Config file '{path}' must end in .json, .yaml or .yml")
    if not isinstance(data, dict):
        raise ConfigError(f"Config file '{path}' must hold a mapping at the top, got {type(data).__name__}")
    return data


def resolve_config(source: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    """Validate a config; return it with qualified names and all defaults. :class:`ConfigError` lists every problem."""
    config = load_config(source)
    problems: list[str] = []
    for key in config:
        if key not in CONFIG_KEYS:
            problems.append(f"{key}: unknown key.{did_you_mean(key, CONFIG_KEYS)} Keys: {', '.join(CONFIG_KEYS)}")
    resolved: dict[str, Any] = {key: copy.deepcopy(config.get(key, DEFAULTS.get(key))) for key in CONFIG_KEYS}
    packs: dict[str, str] = {}
    if "backbone" not in config:
        problems.append("backbone: missing (e.g. {'name': 'resnet18'})")
    for key, kind in PARTS.items():
        if resolved[key] is not None and (key != "backbone" or "backbone" in config):
            resolved[key] = _resolve_part(key, kind, resolved[key], "name", problems, packs)
    tasks = config.get("tasks")
    if not isinstance(tasks, Mapping) or not tasks:
        problems.append("tasks: missing or empty (a mapping of task name → {'task': ..., arguments})")
        tasks = {}
    resolved["tasks"] = {
        name: _resolve_part(f"tasks.{name}", "tasks", task, "task", problems, packs) for name, task in tasks.items()
    }
    if not isinstance(resolved["image"], str):
        problems.append(f"image: must be the name of the image input, got {resolved['image']!r}")
    shape = resolved["input_shape"]
    if not (isinstance(shape, list | tuple) and len(shape) == 3 and all(isinstance(size, int) for size in shape)):
        problems.append(f"input_shape: must be [channels, height, width], got {shape!r}")
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in the model config:\n" + "\n".join(f"  {p}" for p in problems))
    resolved["packs"] = dict(sorted(packs.items()))
    return resolved


def build_model(source: Mapping[str, Any] | str | Path) -> Any:
    """Validate the config, then assemble the model (a ``BrickCollection`` with the resolved ``config``)."""
    from torchbricks.assembly import assemble_model

    config = resolve_config(source)
    model = assemble_model(
        tasks={name: dict(task) for name, task in config["tasks"].items()},
        backbone=config["backbone"],
        neck=config["neck"],
        preprocessor=config["preprocessor"],
        image=config["image"],
        loss_weighting=config["loss_weighting"],
    )
    model.config = config
    return model


def _resolve_part(
    path: str, kind: str, part: Any, name_key: str, problems: list[str], packs: dict[str, str]
) -> dict[str, Any] | None:
    if isinstance(part, str):
        part = {name_key: part}
    if not isinstance(part, Mapping) or name_key not in part:
        problems.append(f"{path}: must be a name or a mapping with '{name_key}', got {part!r}")
        return None
    arguments = dict(part)
    name = arguments.pop(name_key)
    feature_kind = arguments.pop("feature_kind", None) if kind == "tasks" else None
    if feature_kind is not None and feature_kind not in ("global", "dense"):
        problems.append(f"{path}.feature_kind: must be 'global' or 'dense', got {feature_kind!r}")
    try:
        entry = get_entry(kind, name)
        factory = entry.load()
    except RegistryError as error:
        problems.append(f"{path}.{name_key}: {error}")
        return None
    packs[entry.pack] = entry.version
    names = parameter_names(factory)
    extra = {"feature_kind": feature_kind} if feature_kind is not None else {}
    if names is None:
        return {name_key: entry.qualified_name, **extra, **arguments}
    accepted, required, takes_any = names
    supplied = SUPPLIED_BY_ASSEMBLER.get(kind, ())
    for key, value in arguments.items():
        if key not in accepted and not takes_any:
            choices = [option for option in accepted if option not in supplied]
            problems.append(
                f"{path}.{key}: unknown argument.{did_you_mean(key, choices)} Accepted: {', '.join(choices)}"
            )
        elif key in accepted:
            problem = _type_problem(factory, key, value)
            if problem:
                problems.append(f"{path}.{key}: {problem}")
    for key in required:
        if key not in arguments and key not in supplied:
            problems.append(f"{path}.{key}: missing required argument")
    return {name_key: entry.qualified_name, **extra, **_defaults(factory, accepted, supplied), **arguments}


def _defaults(factory: Any, accepted: list[str], supplied: tuple[str, ...]) -> dict[str, Any]:
    import inspect

    defaults = {}
    for parameter in inspect.signature(factory).parameters.values():
        if parameter.name in accepted and parameter.name not in supplied and parameter.default is not parameter.empty:
            value = parameter.default
            if isinstance(value, tuple):
                value = list(value)
            if _json_safe(value):
                defaults[parameter.name] = value
    return defaults


def _json_safe(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


_SIMPLE_TYPES: dict[Any, tuple[type, ...]] = {int: (int,), float: (int, float), str: (str,), bool: (bool,)}


def _type_problem(factory: Any, key: str, value: Any) -> str | None:
    """A message when ``value`` clearly does not fit the parameter's annotation (simple types only)."""
    try:
        hints = typing.get_type_hints(getattr(factory, "__init__", factory) if isinstance(factory, type) else factory)
    except Exception:
        return None
    annotation = hints.get(key)
    if annotation is None:
        return None
    options = (
        typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, _union_type()) else (annotation,)
    )
    allowed: list[type] = []
    for option in options:
        if option is type(None):
            if value is None:
                return None
            continue
        simple = _SIMPLE_TYPES.get(option)
        if simple is None:
            return None  # not a simple type: accept
        allowed.extend(simple)
    if isinstance(value, bool) and bool not in allowed:
        return f"expected {_describe(options)}, got {value!r}"
    if allowed and not isinstance(value, tuple(allowed)):
        return f"expected {_describe(options)}, got {type(value).__name__} {value!r}"
    return None


def _union_type() -> Any:
    import types

    return types.UnionType


def _describe(options: tuple[Any, ...]) -> str:
    return " or ".join(
        "None" if option is type(None) else getattr(option, "__name__", str(option)) for option in options
    )
