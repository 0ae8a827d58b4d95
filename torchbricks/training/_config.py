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
                                        # (or the import path of your own: mypkg.callbacks.StepTimer)
    allow_oversubscription: false       # optional: allow more CPU processes (trainer.devices) than cores

Every problem is reported at once with its path (``data.train[0].root: missing``), before anything
runs. ``--set key=value`` overrides (:func:`apply_overrides`) take dotted paths; values are parsed
as YAML (``--set trainer.max_steps=10``, ``--set data.train.0.count=64`` or ``data.train[0].count=64``).
Values are converted to the type the argument takes where that is unambiguous (``lr: 3e-4``, which
PyYAML reads as text, is the float 0.0003). A dataset's relative ``root`` (``csv_file``,
``annotations``) in a config file is relative to the file's folder.

Example:
    >>> config = apply_overrides({"data": {"batch_size": 32}}, ["data.batch_size=8", "seed=3"])
    >>> config["data"]["batch_size"], config["seed"]
    (8, 3)
    >>> problems = []
    >>> check_sections({"modle": {}, "data": {"train": [], "batch_size": 0}}, problems)
    >>> for problem in problems[:4]:
    ...     print(problem.split(" Keys:")[0])
    modle: unknown key. Did you mean 'model'?
    data.train: missing (a dataset, or a list of datasets: [{name: image_folder, root: ...}])
    data.batch_size: must be a positive integer, got 0
    model: missing (a model config: backbone, tasks, ...)
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from torchbricks._arguments import argument_problems, convert_arguments
from torchbricks.assembly import Part, load_config, raise_problems, resolve_config, resolve_part
from torchbricks.errors import ConfigError
from torchbricks.suggestions import did_you_mean
from torchbricks.training._from_data import build_datasets, check_class_counts, classes_from_data
from torchbricks.training._optim import name_suggestion, optimizer_class, scheduler_factory

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
    "allow_oversubscription",
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
    "allow_oversubscription": False,
}
MANAGED_TRAINER_ARGUMENTS = ("logger", "callbacks", "default_root_dir", "plugins")
"""Trainer arguments the train run sets itself (``plugins`` are Python objects, which a config cannot hold)."""
MAX_IMAGE_SIZE = 8192
"""The largest ``image_size`` a dataset of a train config may ask for (pixels per side)."""
MAX_SEED = 2**32 - 1
"""Seeds go to NumPy too, whose seeds are 32-bit."""
DATASET_PATH_ARGUMENTS = ("root", "csv_file", "annotations")
"""Dataset arguments that name files or folders: relative ones in a config file are relative to its folder."""


def apply_overrides(config: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """``config`` with each ``dotted.path=value`` set (YAML values; ``a.b.0.c`` or ``a.b[0].c`` indexes lists).

    Example:
        >>> config = {"data": {"train": [{"name": "shapes", "count": 8}]}}
        >>> apply_overrides(config, ["data.train.0.count=16"])["data"]["train"][0]["count"]
        16
    """
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
    """Set ``value`` at ``keys``: in a list a key is an index (``0`` or ``[0]``), in a mapping a name."""
    node: Any = config
    for position, key in enumerate(keys[:-1]):
        if isinstance(node, list):
            node = node[_index(node, key, override)]
            continue
        if not isinstance(node, dict) or isinstance(key, int):
            raise ConfigError(f"--set {override!r}: {_not_there(key)}")
        if node.get(key) is None:
            node[key] = [] if isinstance(keys[position + 1], int) else {}
        node = node[key]
    last = keys[-1]
    if isinstance(node, list):
        node[_index(node, last, override)] = value
    elif isinstance(node, dict) and not isinstance(last, int):
        node[last] = value
    else:
        raise ConfigError(f"--set {override!r}: {_not_there(last)}")


def _index(items: list[Any], key: str | int, override: str) -> int:
    """``key`` as an index of ``items`` (``0`` or ``[0]``)."""
    if isinstance(key, str) and not key.isdigit():
        raise ConfigError(f"--set {override!r}: '{key}' is inside a list; use an item's index (data.train.0.count)")
    index = int(key)
    if index >= len(items):
        raise ConfigError(f"--set {override!r}: no item [{index}] there (the list has {len(items)})")
    return index


def _not_there(key: str | int) -> str:
    return f"no item [{key}] there" if isinstance(key, int) else f"'{key}' is not inside a mapping"


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
    the resolved model config, with the classes the data gives), ``datasets`` each split's datasets, built.
    """

    settings: dict[str, Any]
    datasets: dict[str, list[Any]]
    processes: int = 1
    """Training processes in all (``trainer.devices`` × ``trainer.num_nodes``, as Lightning resolves them)."""


def plan_training(source: Mapping[str, Any] | str | Path, overrides: Iterable[str] = ()) -> TrainPlan:
    """Read, apply overrides, validate (every problem at once), resolve the model config and datasets once.

    Example:
        >>> model = {"backbone": "resnet18", "tasks": {"shape": {"task": "image_classification", "num_classes": 3}}}
        >>> plan = plan_training({"model": model, "data": {"train": "shapes"}})
        >>> plan.settings["data"]["train"], [type(dataset).__name__ for dataset in plan.datasets["train"]]
        ([{'name': 'shapes'}], ['_Shapes'])
    """
    loaded = load_config(source)
    if not isinstance(source, Mapping):  # relative dataset paths in a file are relative to the file
        anchor_dataset_paths(loaded, Path(source).absolute().parent)
    config = apply_overrides(loaded, overrides)
    problems: list[str] = []
    model, datasets, processes = _checked_sections(config, problems)
    raise_problems(problems, "train config")  # none: the model config resolved and every dataset was built
    return TrainPlan(resolved_train_config(config, cast(dict[str, Any], model)), datasets, processes)


def anchor_dataset_paths(config: dict[str, Any], folder: Path) -> None:
    """Make each dataset's relative ``root`` (``csv_file``, ``annotations``) relative to ``folder``, in place.

    Example:
        >>> config = {"data": {"train": [{"name": "image_folder", "root": "animals"}], "validation": "shapes"}}
        >>> anchor_dataset_paths(config, Path("/data/project"))
        >>> config["data"]["train"][0]["root"]
        '/data/project/animals'
    """
    data = config.get("data")
    if not isinstance(data, Mapping):
        return
    for split in ("train", "validation"):
        for _, spec in dataset_specs(data.get(split), split):
            if not isinstance(spec, dict):
                continue
            for key in DATASET_PATH_ARGUMENTS:
                value = spec.get(key)
                if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                    spec[key] = str(folder / value)


def check_sections(config: Mapping[str, Any], problems: list[str]) -> None:
    """Append every problem of a train config (with its path) to ``problems``."""
    _checked_sections(copy.deepcopy(dict(config)), problems)


def _checked_sections(
    config: Mapping[str, Any], problems: list[str]
) -> tuple[dict[str, Any] | None, dict[str, list[Any]], int]:
    """:func:`check_sections`, returning the resolved model config, each split's built datasets and the processes.

    The datasets are built here, once (a missing root or a corrupt annotations file is a problem under the
    dataset's path); their class names fill each task's ``num_classes`` and ``class_names`` where the config
    leaves them out, and must agree where it gives them (:mod:`torchbricks.training._from_data`).

    Values are converted in ``config`` (a copy of the caller's) to the types their arguments take.
    """
    for key in config:
        if key not in TRAIN_KEYS:
            problems.append(f"{key}: unknown key.{did_you_mean(key, TRAIN_KEYS)} Keys: {', '.join(TRAIN_KEYS)}")
    before = len(problems)
    parts = _check_data(config.get("data"), problems)
    datasets = build_datasets(parts, problems) if len(problems) == before else {}  # built once, here
    every_dataset = [dataset for split in datasets.values() for dataset in split]
    classes_from_data(config.get("model"), every_dataset, problems)  # fills num_classes left out
    model = _check_model(config.get("model"), problems)
    if model is not None:
        check_class_counts(model, every_dataset, problems)
    allow = config.get("allow_oversubscription", False)
    if not isinstance(allow, bool):
        problems.append(f"allow_oversubscription: must be true or false, got {allow!r}")
    processes = _check_trainer(config.get("trainer", {}), problems, allow is True)
    optimizer = _check_named(config.get("optimizer", DEFAULTS["optimizer"]), "optimizer", optimizer_class, problems)
    if optimizer is not None and "optimizer" in config:
        config["optimizer"] = optimizer
    if config.get("scheduler") is not None:
        scheduler = _check_named(config["scheduler"], "scheduler", scheduler_factory, problems)
        if scheduler is not None:
            config["scheduler"] = scheduler
            if optimizer is not None:
                _check_scheduler_runs(scheduler, optimizer, config.get("trainer"), problems)
    seed = config.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        problems.append(f"seed: must be an integer, got {seed!r}")
    elif not 0 <= seed <= MAX_SEED:
        problems.append(f"seed: must be from 0 to {MAX_SEED} (NumPy's seeds are 32-bit), got {seed}")
    _check_checkpoint(config.get("checkpoint", {}), config.get("data"), problems)
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
    return model, datasets, processes


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
            size = spec.get("image_size") if isinstance(spec, Mapping) else None
            if isinstance(size, int) and not isinstance(size, bool) and not 1 <= size <= MAX_IMAGE_SIZE:
                problems.append(f"{path}.image_size: must be from 1 to {MAX_IMAGE_SIZE} pixels, got {size}")
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


def _check_trainer(trainer: Any, problems: list[str], allow_oversubscription: bool = False) -> int:
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
        key = _culprit(message, arguments, _TRAINER_WORDS)
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


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity, where the system tells it).

    Example:
        >>> available_cores() >= 1
        True
    """
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _culprit(message: str, arguments: Mapping[str, Any], words: Mapping[str, tuple[str, ...]]) -> str | None:
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


_OPTIMIZER_WORDS = {"lr": ("learning rate",), "eps": ("epsilon",), "betas": ("beta",)}
"""Words in torch.optim's messages that name an argument (``Invalid learning rate`` → ``lr``)."""


def _check_named(
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


def _check_scheduler_runs(
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
    key = _culprit(message, arguments, _OPTIMIZER_WORDS)
    problems.append(f"{path}.{key}: {message}" if key else f"{path}: {name} refuses these arguments: {message}")


def _check_checkpoint(checkpoint: Any, data: Any, problems: list[str]) -> None:
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
    elif (
        isinstance(monitor, str)
        and monitor.startswith("val/")
        and isinstance(data, Mapping)
        and not data.get("validation")
    ):
        problems.append(f"checkpoint.monitor: {monitor!r} is logged only with validation data (data.validation)")


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
