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
    threads: auto                       # optional: torch threads; auto: every core (torchbricks._threads)
    compile: false                      # optional: true (inductor) or {backend: aot_eager, mode: ...}
    finetune: {freeze: [backbone], unfreeze_at_step: 500}   # optional: parts frozen until a step
                                        # (and optimizer.lr_multipliers: {backbone: 0.1}: a rate per part)

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from torchbricks.assembly import Part, load_config, raise_problems, resolve_config, resolve_part
from torchbricks.errors import ConfigError
from torchbricks.suggestions import did_you_mean
from torchbricks.training._callbacks import check_callbacks
from torchbricks.training._compile import compile_options
from torchbricks.training._finetune import check_finetune_section, check_lr_multipliers
from torchbricks.training._from_data import build_datasets, check_class_counts, classes_from_data
from torchbricks.training._optim import optimizer_class, scheduler_factory
from torchbricks.training._optim_checks import check_named, check_scheduler_runs
from torchbricks.training._overrides import apply_overrides
from torchbricks.training._trainer_checks import check_trainer

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
    "threads",
    "compile",
    "finetune",
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
    "threads": "auto",
    "compile": False,
    "finetune": None,
}
MAX_IMAGE_SIZE = 8192
"""The largest ``image_size`` a dataset of a train config may ask for (pixels per side)."""
MAX_SEED = 2**32 - 1
"""Seeds go to NumPy too, whose seeds are 32-bit."""
DATASET_PATH_ARGUMENTS = ("root", "csv_file", "annotations")
"""Dataset arguments that name files or folders: relative ones in a config file are relative to its folder."""


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
    processes = check_trainer(config.get("trainer", {}), problems, allow is True)
    section = config.get("optimizer", DEFAULTS["optimizer"])
    multipliers = section.get("lr_multipliers") if isinstance(section, Mapping) else None
    if isinstance(section, Mapping) and "lr_multipliers" in section:  # parameter groups, not an optimizer argument
        section = {key: value for key, value in section.items() if key != "lr_multipliers"}
        check_lr_multipliers(multipliers, problems)
    optimizer = check_named(section, "optimizer", optimizer_class, problems)
    if optimizer is not None and "optimizer" in config:
        config["optimizer"] = optimizer if multipliers is None else {**optimizer, "lr_multipliers": multipliers}
    check_finetune_section(config.get("finetune"), problems, processes)
    compile_options(config.get("compile", False), problems)
    threads = config.get("threads", "auto")
    if threads != "auto" and (not isinstance(threads, int) or isinstance(threads, bool) or threads <= 0):
        problems.append(f"threads: must be a positive number of threads or auto, got {threads!r}")
    if config.get("scheduler") is not None:
        scheduler = check_named(config["scheduler"], "scheduler", scheduler_factory, problems)
        if scheduler is not None:
            config["scheduler"] = scheduler
            if optimizer is not None:
                check_scheduler_runs(scheduler, optimizer, config.get("trainer"), problems)
    seed = config.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        problems.append(f"seed: must be an integer, got {seed!r}")
    elif not 0 <= seed <= MAX_SEED:
        problems.append(f"seed: must be from 0 to {MAX_SEED} (NumPy's seeds are 32-bit), got {seed}")
    _check_checkpoint(config.get("checkpoint", {}), config.get("data"), problems)
    check_callbacks(config.get("callbacks", []), problems)
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
    if resolved["finetune"] is not None:
        freeze = resolved["finetune"].get("freeze", [])
        resolved["finetune"] = {
            "freeze": [freeze] if isinstance(freeze, str) else list(freeze),
            "unfreeze_at_step": resolved["finetune"].get("unfreeze_at_step"),
        }
    return resolved
