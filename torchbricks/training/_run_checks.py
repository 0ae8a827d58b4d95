"""What only the built datasets and model tell, checked before a train run writes anything; weights kept finite.

:func:`check_training` (``torchbricks train --check``) refuses a batch larger than the training data (no
step would run), ``batch_size: 1`` with batch-norm layers, and a ``checkpoint.monitor`` that nothing logs
(:func:`logged_names`). :func:`check_finite_weights` stops a run whose weights became NaN or infinite.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from torchbricks.errors import TrainingDivergedError
from torchbricks.suggestions import did_you_mean
from torchbricks.training._config import TrainPlan, plan_training
from torchbricks.training._data import collate, combine, partial_names, placeholders, with_labelled_masks


def check_training(config: Mapping[str, Any] | str | Path, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Every check :func:`train` makes before it writes anything, datasets and model built; returns the settings.

    What ``torchbricks train --check`` runs: the config's problems (:func:`plan_training`), then what only
    the built datasets and model tell (a batch larger than the training data, batch-norm with
    ``batch_size: 1``, a ``checkpoint.monitor`` that nothing logs). Raises :class:`ConfigError`.

    Example:
        >>> from torchbricks.errors import ConfigError
        >>> model = {"backbone": "resnet18", "tasks": {"shape": {"task": "image_classification", "num_classes": 3}}}
        >>> config = {"model": model, "data": {"train": {"name": "shapes", "count": 4}, "batch_size": 8}}
        >>> try:
        ...     check_training(config)
        ... except ConfigError as error:
        ...     print(str(error).splitlines()[1].split(";")[0])
          data.batch_size: 8 is more than the 4 training samples (data.train)
    """
    plan = plan_training(config, overrides)
    prepared_run(plan)
    return plan.settings


def prepared_run(plan: TrainPlan) -> tuple[list[Any], list[Any], torch.nn.Module]:
    """The datasets and the model, built; :class:`ConfigError` with what only they tell, before anything is written."""
    from torchbricks.assembly import build_model, raise_problems

    settings = plan.settings
    train_sets, validation_sets = plan.datasets["train"], plan.datasets.get("validation", [])
    settings["model"] = with_labelled_masks(settings["model"], partial_names([*train_sets, *validation_sets]))
    model = build_model(settings["model"], resolved=True)  # the assembler checks the added `labelled` arguments
    problems = _batch_problems(settings, train_sets, plan.processes, model)
    problems.extend(_part_problems(settings, model))
    problems.extend(_monitor_problems(settings, model, validation_sets or train_sets))
    raise_problems(problems, "train config")
    return train_sets, validation_sets, model


def _part_problems(settings: Mapping[str, Any], model: torch.nn.Module) -> list[str]:
    """``finetune.freeze`` and ``optimizer.lr_multipliers`` name parts the model has (close matches suggested)."""
    from torchbricks.training._finetune import check_part_names, finetune_names

    freeze = (settings.get("finetune") or {}).get("freeze", [])
    problems: list[str] = []
    check_part_names(model, finetune_names(freeze, settings["optimizer"].get("lr_multipliers")), problems)
    return problems


def _batch_problems(
    settings: Mapping[str, Any], datasets: list[Any], processes: int, model: torch.nn.Module
) -> list[str]:
    """A batch larger than the training data (no step would run); batch-norm layers trained on 1 sample a batch."""
    problems = []
    batch_size = settings["data"]["batch_size"]
    samples = math.ceil(len(combine(datasets)) / max(1, processes))  # each process's share
    batches = samples // batch_size  # the last incomplete batch is dropped
    if batches == 0:
        where = f"training samples of each of the {processes} processes" if processes > 1 else "training samples"
        problems.append(
            f"data.batch_size: {batch_size} is more than the {samples} {where} (data.train); "
            "the last incomplete batch is dropped, so no step would run"
        )
    limit = settings["trainer"].get("limit_train_batches")
    if batches and isinstance(limit, float) and 0 < limit < 1 and int(batches * limit) == 0:
        problems.append(
            f"trainer.limit_train_batches: {limit} of the {batches} training batches is no batch; no step would run"
        )
    if batch_size == 1:
        layer = trained_batch_norm(model)
        if layer is not None:
            problems.append(
                f"data.batch_size: 1 cannot train batch-norm layers ('{layer}' normalises over the batch: it needs "
                "more than 1 sample per batch); use 2 or more"
            )
    return problems


def trained_batch_norm(model: torch.nn.Module) -> str | None:
    """The name of the first batch-norm layer that training updates (outside not-trainable bricks), else ``None``.

    Example:
        >>> from torch import nn
        >>> from torchbricks import BrickCollection, BrickNotTrainable, BrickTrainable
        >>> trained_batch_norm(BrickCollection({"a": BrickTrainable(nn.BatchNorm1d(2), ["x"], ["y"])}))
        'a.model'
        >>> print(trained_batch_norm(BrickCollection({"a": BrickNotTrainable(nn.BatchNorm1d(2), ["x"], ["y"])})))
        None
    """
    frozen = frozen_modules(model)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and id(module) not in frozen:
            return name
    return None


def frozen_modules(model: torch.nn.Module) -> set[int]:
    """The ids of the modules inside not-trainable bricks (which keep them in eval mode)."""
    from torchbricks.bricks import BrickModule

    return {
        id(module)
        for brick in model.modules()
        if isinstance(brick, BrickModule) and not brick.trainable and isinstance(brick.model, torch.nn.Module)
        for module in brick.model.modules()
    }


def _monitor_problems(settings: Mapping[str, Any], model: torch.nn.Module, datasets: list[Any]) -> list[str]:
    """``checkpoint.monitor`` (and Lightning callbacks' ``monitor``) checked against the names the model logs."""
    monitors = [("checkpoint.monitor", settings["checkpoint"]["monitor"])]
    monitors += [
        (f"callbacks[{index}].monitor", spec.get("monitor"))
        for index, spec in enumerate(settings["callbacks"])
        if "." not in spec["name"]  # a user's own callback may mean something else by it
    ]
    monitors = [(path, name) for path, name in monitors if isinstance(name, str)]
    if not monitors:
        return []
    tasks = settings["model"]["tasks"]
    losses = {f"{stage}/{name}" for stage in ("val", "train") for name in ("loss", *(f"{task}/loss" for task in tasks))}
    if all(name in losses for _, name in monitors):
        return []  # no need to run the model to know these
    names = logged_names(model, datasets, tasks)
    if names is None:
        return []  # the model cannot run on the data: the run itself says why
    problems = []
    for path, name in monitors:
        if name in names or any(name.startswith(f"{known}/") for known in names):
            continue
        stage = name.partition("/")[0]
        close = did_you_mean(name, sorted(known for known in names if known.startswith(f"{stage}/")) or sorted(names))
        shown = sorted(known for known in names if known.startswith("val/"))
        problems.append(
            f"{path}: {name!r} is not logged.{close} Logged: {', '.join(shown)} (and the same under train/)"
        )
    return problems


def logged_names(model: torch.nn.Module, datasets: list[Any], tasks: Iterable[str] = ()) -> set[str] | None:
    """The names a train run logs: ``val/loss``, ``val/<task>/loss``, ``val/<task>/<metric>``, ``train/...``.

    Found by running the validation groups on two samples of ``datasets`` (weights, random state and metrics
    are left as they were); ``None`` when the model cannot run them (or there are no samples).
    """
    from torchbricks.groups import Stage
    from torchbricks.training._module import _is_loss_name

    dataset = combine(datasets) if datasets else None
    if dataset is None or not len(dataset):
        return None
    found = {"loss", *(f"{task}/loss" for task in tasks)}
    modes = {module: module.training for module in model.modules()}
    try:
        with _random_state_kept(), torch.no_grad():
            model.eval()
            batch = collate([dataset[index] for index in range(min(2, len(dataset)))], placeholders(datasets))
            outputs = model(batch, groups=Stage.VALIDATION)
            found |= {name for name, value in outputs.items() if _is_loss_name(name, value)}
            found |= {name for name, value in model.extract_losses(outputs).items() if _is_loss_name("loss", value)}
            found |= _metric_names(model)
    except Exception:  # the run itself will say what is wrong with the model or the data
        return None
    finally:
        for module, training in modes.items():
            module.training = training
        model.reset_metrics()
    return {f"{stage}/{name}" for stage in ("val", "train") for name in found}


def _metric_names(model: torch.nn.Module) -> set[str]:
    """``<task>/<metric>`` of every metric brick, computed; a metric that saw no labelled sample gives its name."""
    from torchbricks.training._module import flatten_metrics

    names: set[str] = set()
    for node in model.graph.metric_nodes:
        try:
            values = node.brick.summarize(reset=True)
        except (RuntimeError, ValueError):  # no labelled sample among the two: the names it declares
            values = dict.fromkeys(node.brick.metric_names(), 0.0)
        names |= {"/".join((*node.collection_path, name)) for name in flatten_metrics(values)}
    return names


@contextmanager
def _random_state_kept() -> Iterator[None]:
    """Python's, NumPy's and torch's (CPU) random state as they were after the block: the run stays seeded."""
    import numpy

    python, numpy_state = random.getstate(), numpy.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        random.setstate(python)
        numpy.random.set_state(numpy_state)


def check_finite_weights(model: torch.nn.Module, step: int) -> None:
    """Raise :class:`TrainingDivergedError` naming the first weight (or buffer) that is NaN or infinite.

    Example:
        >>> from torch import nn
        >>> layer = nn.Linear(2, 2)
        >>> check_finite_weights(layer, 3)
        >>> with torch.no_grad():
        ...     layer.bias[0] = float("nan")
        >>> try:
        ...     check_finite_weights(layer, 3)
        ... except TrainingDivergedError as error:
        ...     print(str(error).split(";")[0])
        training diverged by step 3: the weights 'bias' are not finite (nan or inf)
    """
    for name, tensor in model.state_dict().items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise TrainingDivergedError(
                f"training diverged by step {step}: the weights '{name}' are not finite (nan or inf); "
                "lower optimizer.lr or clip gradients (trainer.gradient_clip_val)"
            )
