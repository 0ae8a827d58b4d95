"""The train config: ``model`` + ``data`` + ``trainer`` + ``optimizer`` (+ ``scheduler``), validated up front.

::

    model: {...}                        # a model config, as `torchbricks build` takes
    data:
      train: [{name: shapes, count: 8000}]          # datasets from the `datasets` registry
      validation: [{name: shapes, count: 1000, seed: 1}]
      batch_size: 32
      num_workers: 0
    trainer: {max_steps: 500}            # Lightning Trainer arguments
    optimizer: {name: AdamW, lr: 0.002}  # a torch.optim class and its arguments
    scheduler: {name: warmup_cosine, warmup_fraction: 0.1}   # or a torch.optim.lr_scheduler class
    seed: 0
    checkpoint: {monitor: val/segmentation/mean_iou, mode: max}   # optional: keep the best model
    metrics_every_n_steps: 50           # optional: log training metrics this often (else every epoch)
    train_groups: [MODEL, LOSS, METRIC] # optional: which groups run in training
    visualizations: 8                   # validation images drawn into visualizations/
    channels_last: false                # optional: convolutions in channels-last memory (faster on CPUs)
    callbacks: [{name: EarlyStopping, monitor: val/loss, mode: min}]   # optional: Lightning callbacks by name

Every problem is reported at once with its path (``data.train[0].root: missing``), before anything
runs. ``--set key=value`` overrides (:func:`apply_overrides`) take dotted paths; values are parsed
as YAML (``--set trainer.max_steps=10``, ``--set data.train[0].count=64``).

Example:
    >>> config = apply_overrides({"data": {"batch_size": 32}}, ["data.batch_size=8", "seed=3"])
    >>> config["data"]["batch_size"], config["seed"]
    (8, 3)
    >>> problems = []
    >>> check_sections({"modle": {}, "data": {"train": [], "batch_size": 0}}, problems)
    >>> for problem in problems[:4]:
    ...     print(problem.split(" Keys:")[0])
    modle: unknown key. Did you mean 'model'?
    model: missing (a model config: backbone, tasks, ...)
    data.train: missing (a dataset, or a list of datasets: [{name: image_folder, root: ...}])
    data.batch_size: must be a positive integer, got 0
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from torchbricks._arguments import argument_problems
from torchbricks.assembly import Part, load_config, raise_problems, resolve_config, resolve_part
from torchbricks.errors import ConfigError
from torchbricks.suggestions import did_you_mean
from torchbricks.training._optim import optimizer_class, scheduler_factory

TRAIN_KEYS = (
    "model",
    "data",
    "trainer",
    "optimizer",
    "scheduler",
    "seed",
    "checkpoint",
    "metrics_every_n_steps",
    "train_groups",
    "visualizations",
    "channels_last",
    "callbacks",
)
DATA_KEYS = ("train", "validation", "batch_size", "num_workers", "validation_batch_size")
CHECKPOINT_KEYS = ("monitor", "mode")
DEFAULTS: dict[str, Any] = {
    "data": {"validation": [], "batch_size": 32, "num_workers": 0},
    "trainer": {},
    "optimizer": {"name": "AdamW", "lr": 1e-3},
    "scheduler": None,
    "seed": 0,
    "checkpoint": {"monitor": None, "mode": "max"},
    "metrics_every_n_steps": None,
    "train_groups": None,
    "visualizations": 8,
    "channels_last": False,
    "callbacks": [],
}
MANAGED_TRAINER_ARGUMENTS = ("logger", "callbacks", "default_root_dir")
"""Trainer arguments the train run sets itself."""


def apply_overrides(config: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """``config`` with each ``dotted.path=value`` set (YAML values; ``a.b[0].c`` indexes lists)."""
    result = copy.deepcopy(dict(config))
    for override in overrides:
        path, separator, text = override.partition("=")
        if not separator or not path:
            raise ConfigError(f"--set {override!r}: must be key=value (e.g. trainer.max_steps=100)")
        keys: list[str | int] = []
        for part in path.split("."):
            match = re.fullmatch(r"([^\[\]]+)((?:\[\d+\])*)", part)
            if match is None:
                raise ConfigError(f"--set {override!r}: cannot read the key path '{path}'")
            keys.append(match.group(1))
            keys.extend(int(index) for index in re.findall(r"\[(\d+)\]", match.group(2)))
        _set(result, keys, _parse_value(text), override)
    return result


def _parse_value(text: str) -> Any:
    try:
        import yaml

        return yaml.safe_load(text) if text else ""
    except ImportError:
        try:
            return json.loads(text)
        except ValueError:
            return text
    except Exception:
        return text


def _set(config: dict[str, Any], keys: list[str | int], value: Any, override: str) -> None:
    node: Any = config
    for position, key in enumerate(keys[:-1]):
        following = keys[position + 1]
        if isinstance(key, int):
            if not isinstance(node, list) or key >= len(node):
                raise ConfigError(f"--set {override!r}: no item [{key}] there")
            node = node[key]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"--set {override!r}: '{key}' is not inside a mapping")
        if node.get(key) is None:
            node[key] = [] if isinstance(following, int) else {}
        node = node[key]
    last = keys[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise ConfigError(f"--set {override!r}: no item [{last}] there")
        node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"--set {override!r}: '{last}' is not inside a mapping")


def load_train_config(source: Mapping[str, Any] | str | Path, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Read (dict, JSON or YAML), apply overrides, validate, fill in defaults.

    Raises :class:`ConfigError` listing every problem with its path.

    Example:
        >>> model = {"backbone": "resnet18", "tasks": {"shape": {"task": "image_classification", "num_classes": 3}}}
        >>> config = {"model": model, "data": {"train": [{"name": "shapes"}]}}
        >>> settings = load_train_config(config, ["data.batch_size=4"])
        >>> settings["data"]["batch_size"], settings["seed"]
        (4, 0)
    """
    return plan_training(source, overrides).settings


@dataclass(frozen=True)
class TrainPlan:
    """A train config validated and resolved in one pass: what :func:`~torchbricks.training.train` runs.

    ``settings`` is the resolved config (as the run's ``config.json`` holds it; ``settings["model"]`` is
    the resolved model config), ``datasets`` the dataset parts of each split, already looked up.
    """

    settings: dict[str, Any]
    datasets: dict[str, list[Part]]


def plan_training(source: Mapping[str, Any] | str | Path, overrides: Iterable[str] = ()) -> TrainPlan:
    """Read, apply overrides, validate (every problem at once), resolve the model config and datasets once.

    Example:
        >>> model = {"backbone": "resnet18", "tasks": {"shape": {"task": "image_classification", "num_classes": 3}}}
        >>> plan = plan_training({"model": model, "data": {"train": "shapes"}})
        >>> plan.settings["data"]["train"], [part.entry.qualified_name for part in plan.datasets["train"]]
        ([{'name': 'shapes'}], ['torchbricks:shapes'])
    """
    config = apply_overrides(load_config(source), overrides)
    problems: list[str] = []
    model, datasets = _checked_sections(config, problems)
    raise_problems(problems, "train config")  # none: the model config resolved and every dataset was found
    parts = {split: [part for part in found if part is not None] for split, found in datasets.items()}
    return TrainPlan(resolved_train_config(config, cast(dict[str, Any], model)), parts)


def check_sections(config: Mapping[str, Any], problems: list[str]) -> None:
    """Append every problem of a train config (with its path) to ``problems``."""
    _checked_sections(config, problems)


def _checked_sections(
    config: Mapping[str, Any], problems: list[str]
) -> tuple[dict[str, Any] | None, dict[str, list[Part | None]]]:
    """:func:`check_sections`, returning the resolved model config and each split's dataset parts on the way."""
    for key in config:
        if key not in TRAIN_KEYS:
            problems.append(f"{key}: unknown key.{did_you_mean(key, TRAIN_KEYS)} Keys: {', '.join(TRAIN_KEYS)}")
    model = _check_model(config.get("model"), problems)
    datasets = _check_data(config.get("data"), problems)
    _check_trainer(config.get("trainer", {}), problems)
    _check_named(config.get("optimizer", DEFAULTS["optimizer"]), "optimizer", optimizer_class, problems, ("params",))
    scheduler = config.get("scheduler")
    if scheduler is not None:
        _check_named(scheduler, "scheduler", scheduler_factory, problems, ("optimizer", "total_steps"))
    seed = config.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        problems.append(f"seed: must be an integer, got {seed!r}")
    _check_checkpoint(config.get("checkpoint", {}), problems)
    _check_callbacks(config.get("callbacks", []), problems)
    every = config.get("metrics_every_n_steps")
    if every is not None and (not isinstance(every, int) or every <= 0):
        problems.append(f"metrics_every_n_steps: must be a positive integer, got {every!r}")
    groups = config.get("train_groups")
    if groups is not None and not (isinstance(groups, list) and all(isinstance(group, str) for group in groups)):
        problems.append(f"train_groups: must be a list of group names, got {groups!r}")
    channels_last = config.get("channels_last", False)
    if not isinstance(channels_last, bool):
        problems.append(f"channels_last: must be true or false, got {channels_last!r}")
    count = config.get("visualizations", 8)
    if not isinstance(count, int) or count < 0:
        problems.append(f"visualizations: must be a number of images (0 for none), got {count!r}")
    return model, datasets


def _check_model(model: Any, problems: list[str]) -> dict[str, Any] | None:
    """The resolved model config (the only place a train config resolves it); ``None`` after a problem."""
    if not isinstance(model, Mapping):
        problems.append("model: missing (a model config: backbone, tasks, ...)")
        return None
    try:
        return resolve_config(model)
    except ConfigError as error:
        lines = str(error).splitlines()[1:] or [str(error)]
        problems.extend(f"model.{line.strip()}" for line in lines)
        return None


def _check_data(data: Any, problems: list[str]) -> dict[str, list[Part | None]]:
    """Each split's dataset parts, looked up once (``None`` for one that cannot be)."""
    datasets: dict[str, list[Part | None]] = {"train": [], "validation": []}
    if not isinstance(data, Mapping):
        problems.append("data: missing (train: [datasets], validation: [datasets], batch_size: ...)")
        return datasets
    for key in data:
        if key not in DATA_KEYS:
            problems.append(f"data.{key}: unknown key.{did_you_mean(key, DATA_KEYS)} Keys: {', '.join(DATA_KEYS)}")
    if not data.get("train"):
        problems.append("data.train: missing (a dataset, or a list of datasets: [{name: image_folder, root: ...}])")
    for split in ("train", "validation"):
        for path, spec in dataset_specs(data.get(split), f"data.{split}"):
            datasets[split].append(resolve_part("datasets", spec, path, problems))
    for key in ("batch_size", "validation_batch_size"):
        value = data.get(key, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            problems.append(f"data.{key}: must be a positive integer, got {value!r}")
    workers = data.get("num_workers", 0)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        problems.append(f"data.num_workers: must be an integer >= 0, got {workers!r}")
    return datasets


def dataset_specs(specs: Any, path: str) -> list[tuple[str, Any]]:
    """``(path, spec)`` of each dataset of a split (a single spec counts as a list of one)."""
    if specs is None:
        return []
    if isinstance(specs, list):
        return [(f"{path}[{index}]", spec) for index, spec in enumerate(specs)]
    return [(path, specs)]


def _check_trainer(trainer: Any, problems: list[str]) -> None:
    if not isinstance(trainer, Mapping):
        problems.append(f"trainer: must be a mapping of Lightning Trainer arguments, got {trainer!r}")
        return
    for key in trainer:
        if key in MANAGED_TRAINER_ARGUMENTS:
            hint = "callbacks: [{name: ..., ...}] adds Lightning callbacks" if key == "callbacks" else "use --output"
            problems.append(f"trainer.{key}: set by the train run ({hint})")
    from torchbricks.training._lightning import lightning

    arguments = {key: value for key, value in trainer.items() if key not in MANAGED_TRAINER_ARGUMENTS}
    for argument, problem in argument_problems(lightning().Trainer, arguments):
        problems.append(f"trainer.{argument}: {problem}")


def _check_named(section: Any, path: str, lookup: Any, problems: list[str], supplied: tuple[str, ...]) -> None:
    if not isinstance(section, Mapping) or not isinstance(section.get("name"), str):
        problems.append(f"{path}: must be a mapping with 'name', got {section!r}")
        return
    arguments = {key: value for key, value in section.items() if key != "name"}
    factory = lookup(section["name"])
    if factory is None:
        what = "a torch.optim class" if path == "optimizer" else "warmup_cosine or a torch.optim.lr_scheduler class"
        problems.append(f"{path}.name: unknown {path} {section['name']!r} (must be {what})")
        return
    for argument, problem in argument_problems(factory, arguments, supplied):
        problems.append(f"{path}.{argument}: {problem}")


def _check_checkpoint(checkpoint: Any, problems: list[str]) -> None:
    if not isinstance(checkpoint, Mapping):
        problems.append(f"checkpoint: must be a mapping (monitor, mode), got {checkpoint!r}")
        return
    for key in checkpoint:
        if key not in CHECKPOINT_KEYS:
            problems.append(f"checkpoint.{key}: unknown key.{did_you_mean(key, CHECKPOINT_KEYS)}")
    if checkpoint.get("mode", "max") not in ("min", "max"):
        problems.append(f"checkpoint.mode: must be 'min' or 'max', got {checkpoint.get('mode')!r}")
    monitor = checkpoint.get("monitor")
    if monitor is not None and not isinstance(monitor, str):
        problems.append(f"checkpoint.monitor: must be a logged name (val/segmentation/mean_iou), got {monitor!r}")


MANAGED_CALLBACKS = ("ModelCheckpoint",)
"""Callbacks the train run adds itself (``checkpoint:`` configures it)."""


def callback_class(name: str) -> type | None:
    """The Lightning callback class called ``name`` (``pytorch_lightning.callbacks``), ``None`` when unknown."""
    from torchbricks.training._lightning import lightning

    callbacks = lightning().callbacks
    found = getattr(callbacks, name, None)
    return found if isinstance(found, type) and issubclass(found, callbacks.Callback) else None


def _callback_names() -> list[str]:
    from torchbricks.training._lightning import lightning

    callbacks = lightning().callbacks
    return sorted(name for name in dir(callbacks) if callback_class(name) is not None and name != "Callback")


def _check_callbacks(callbacks: Any, problems: list[str]) -> None:
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
        factory = callback_class(name)
        if factory is None:
            names = _callback_names()
            suggestion = did_you_mean(name, names)
            problems.append(f"{path}.name: unknown Lightning callback {name!r}.{suggestion} Known: {', '.join(names)}")
            continue
        arguments = {key: value for key, value in spec.items() if key != "name"}
        for argument, problem in argument_problems(factory, arguments):
            problems.append(f"{path}.{argument}: {problem}")


def resolved_train_config(config: Mapping[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """The config with every default filled in: ``model`` (the model config, already resolved), datasets as lists."""
    resolved = {key: copy.deepcopy(config.get(key, DEFAULTS.get(key))) for key in TRAIN_KEYS}
    resolved["model"] = model
    resolved["data"] = {**DEFAULTS["data"], **copy.deepcopy(dict(config["data"]))}
    for split in ("train", "validation"):
        resolved["data"][split] = [spec for _, spec in dataset_specs(resolved["data"].get(split), split)]
        resolved["data"][split] = [
            {"name": spec} if isinstance(spec, str) else spec for spec in resolved["data"][split]
        ]
    resolved["checkpoint"] = {**DEFAULTS["checkpoint"], **dict(resolved["checkpoint"] or {})}
    return resolved
