"""What the built datasets tell a train config: each task's classes, filled in or checked.

A dataset that knows a target's classes (``class_names``: an ``image_folder``'s folder names, a COCO file's
categories, a CSV's label columns) gives them to the task reading that target: ``num_classes`` (and
``class_names``, where the task takes them) are filled in when the config leaves them out, and a count
that differs is a config error naming the task, the target and the classes.

Example:
    >>> from bag_of_bricks.datasets import shapes
    >>> model = {"tasks": {"shape": {"task": "multilabel_classification", "targets": "shape_present"}}}
    >>> problems = []
    >>> classes_from_data(model, [shapes(count=2)], problems)
    >>> model["tasks"]["shape"]["num_classes"], model["tasks"]["shape"]["class_names"], problems
    (3, ['circle', 'square', 'triangle'], [])
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from torchbricks.assembly import Part
from torchbricks.errors import DatasetConfigError, RegistryError, TorchBricksError
from torchbricks.training._data import check_num_classes, merged_class_names


def build_datasets(parts: Mapping[str, list[Part | None]], problems: list[str]) -> dict[str, list[Any]]:
    """Each split's datasets, built once; a dataset that cannot be built is a problem under its path."""
    built: dict[str, list[Any]] = {}
    for split, found in parts.items():
        built[split] = []
        for part in found:
            if part is None:
                continue
            try:
                built[split].append(part.build())
            except (TorchBricksError, OSError) as error:  # a missing root, a corrupt annotations file, ...
                problems.append(f"{part.path}: {error}")
    return built


def classes_from_data(model: Any, datasets: list[Any], problems: list[str]) -> None:
    """Fill each task's ``num_classes``/``class_names`` from the datasets' class names, in place; add mismatches."""
    tasks = model.get("tasks") if isinstance(model, Mapping) else None
    if not isinstance(tasks, Mapping):
        return
    try:
        names = merged_class_names(datasets)
    except DatasetConfigError as error:
        problems.append(f"data: {error}")
        return
    for task_name, task in tasks.items():
        factory = _task_factory(task)
        if factory is None:
            continue  # the model config reports an unknown task
        parameters = inspect.signature(factory).parameters
        targets = task.get("targets", _default(parameters, "targets"))
        classes = names.get(targets) if isinstance(targets, str) else None
        if not classes:
            continue
        path = f"model.tasks.{task_name}"
        given = task.get("num_classes")
        if given is None:
            task["num_classes"] = len(classes)
        elif isinstance(given, int) and given != len(classes):
            problems.append(
                f"{path}.num_classes: {given}, but the data has {len(classes)} classes for '{targets}' "
                f"({_listed(classes)}); leave num_classes out to take them from the data"
            )
            continue
        if "class_names" in parameters:
            if task.get("class_names") is None:
                task["class_names"] = list(classes)
            elif list(task["class_names"]) != list(classes):
                problems.append(
                    f"{path}.class_names: {_listed(task['class_names'])}, but the data names the classes of "
                    f"'{targets}' {_listed(classes)} (in this order)"
                )


def check_class_counts(model: Mapping[str, Any], datasets: list[Any], problems: list[str]) -> None:
    """Check every dataset against the resolved tasks' ``num_classes`` (and arm the per-sample mask check)."""
    counts = {
        task["targets"]: task["num_classes"]
        for task in model.get("tasks", {}).values()
        if isinstance(task.get("targets"), str) and isinstance(task.get("num_classes"), int)
    }
    try:
        check_num_classes(datasets, counts)
    except DatasetConfigError as error:
        problems.append(f"data: {error}")


def _task_factory(task: Any) -> Callable[..., Any] | None:
    from torchbricks.registry import get_entry

    name = task.get("task") if isinstance(task, Mapping) else None
    if not isinstance(name, str):
        return None
    try:
        return get_entry("tasks", name).load()
    except (RegistryError, ImportError):
        return None


def _default(parameters: Mapping[str, inspect.Parameter], name: str) -> Any:
    parameter = parameters.get(name)
    return None if parameter is None or parameter.default is inspect.Parameter.empty else parameter.default


def _listed(classes: Any) -> str:
    shown = [str(name) for name in list(classes)[:8]]
    return ", ".join(shown) + (", ..." if len(list(classes)) > 8 else "")
