"""Datasets of named samples, combined and batched with per-task ``labelled`` masks.

A dataset (from the ``datasets`` registry, or any ``torch.utils.data.Dataset``) yields dicts of
named tensors, e.g. ``{"images": uint8 [3, H, W], "label": int64 []}``, and says which names it
gives in ``names``. Several datasets labelled for different tasks train one model: :func:`collate`
batches samples that miss some names, filling them with a placeholder and writing, for every name
``X`` that some samples lack, a boolean ``[B]`` mask ``X_labelled`` — the ``labelled=`` input the
task factories accept. Variable-length targets (points ``[N, 3]``, boxes ``[N, 5]``) are padded
with ``-1`` rows.

Example:
    >>> import torch
    >>> batch = collate([
    ...     {"images": torch.zeros(3, 4, 4), "label": torch.tensor(2)},
    ...     {"images": torch.ones(3, 4, 4), "points": torch.tensor([[1.0, 2.0, 0.0]])},
    ... ])
    >>> batch["label"].tolist(), batch["label_labelled"].tolist()
    ([2, 0], [True, False])
    >>> batch["points"].shape, batch["points_labelled"].tolist()
    (torch.Size([2, 1, 3]), [False, True])

    Datasets labelled for different tasks, combined and batched by a DataLoader:

    >>> from torch.utils.data import DataLoader
    >>> classes = [{"images": torch.zeros(3, 4, 4), "label": torch.tensor(1)}] * 2
    >>> masks = [{"images": torch.ones(3, 4, 4), "segmentation": torch.zeros(4, 4, dtype=torch.long)}] * 2
    >>> datasets = [classes, masks]
    >>> sorted(placeholders(datasets))
    ['label', 'segmentation']
    >>> loader = DataLoader(combine(datasets), batch_size=4, collate_fn=Collate(placeholders(datasets)))
    >>> next(iter(loader))[labelled_name("segmentation")].tolist()
    [False, False, True, True]

The dataset contract (what an adapter of the ``datasets`` registry returns): a ``torch.utils.data.Dataset``
whose samples are dicts of named tensors — the image uint8 ``[3, H, W]`` (every sample of a dataset one size,
after its resize) and the targets the task factories read — with ``names`` (the image name first) and
``class_names`` (target name → class names, for the targets whose classes it knows). Errors in a sample's
file are :class:`~torchbricks.errors.DatasetError` naming the file (one line, from DataLoader workers too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import ConcatDataset, Dataset

from torchbricks.errors import DatasetConfigError

LABELLED_SUFFIX = "_labelled"


def labelled_name(name: str) -> str:
    """The name of the per-sample mask saying which samples have ``name`` (``segmentation_labelled``)."""
    return f"{name}{LABELLED_SUFFIX}"


def dataset_names(dataset: Any) -> tuple[str, ...]:
    """The names a dataset gives: its ``names`` attribute, else the keys of its first sample."""
    names = getattr(dataset, "names", None)
    if names is None:
        names = tuple(dataset[0])
    return tuple(names)


def combine(datasets: Sequence[Dataset]) -> Dataset:
    """One dataset (a ``ConcatDataset``) of several, keeping the union of their ``names``."""
    if len(datasets) == 1:
        return datasets[0]
    combined = ConcatDataset(datasets)
    combined.names = tuple(dict.fromkeys(name for dataset in datasets for name in dataset_names(dataset)))  # type: ignore[attr-defined]
    combined.partial_names = partial_names(datasets)  # type: ignore[attr-defined]
    combined.class_names = merged_class_names(datasets)  # type: ignore[attr-defined]
    return combined


def dataset_class_names(dataset: Any) -> dict[str, list[str]]:
    """A dataset's ``class_names`` (target name → class names); empty when it has none.

    Example:
        >>> from bag_of_bricks.datasets import shapes
        >>> dataset_class_names(shapes(count=1))["segmentation"]
        ['background', 'circle', 'square', 'triangle']
        >>> dataset_class_names([{"images": torch.zeros(3, 2, 2)}])
        {}
    """
    found = getattr(dataset, "class_names", None)
    if not isinstance(found, Mapping):
        return {}
    return {str(name): [str(value) for value in values] for name, values in found.items()}


def dataset_origin(dataset: Any) -> str:
    """How messages name a dataset: its ``origin`` (``image_folder 'animals/'``), else its type."""
    return str(getattr(dataset, "origin", None) or type(dataset).__name__)


def merged_class_names(datasets: Iterable[Any]) -> dict[str, list[str]]:
    """The class names of each target over ``datasets``; datasets that name a target's classes differently are refused.

    One dataset may know more classes than another (``[cat, dog]`` and ``[cat, dog, fish]``: the longer
    list); classes at the same index must be the same, else :class:`~torchbricks.errors.DatasetConfigError`
    names both datasets (the indices would mean different classes).

    Example:
        >>> class Folder(list):
        ...     def __init__(self, origin, names):
        ...         super().__init__()
        ...         self.origin, self.class_names = origin, {"targets": names}
        >>> merged_class_names([Folder("a", ["cat", "dog"]), Folder("b", ["cat", "dog", "fish"])])
        {'targets': ['cat', 'dog', 'fish']}
        >>> merged_class_names([Folder("a", ["cat", "dog"]), Folder("b", ["dog", "cat"])])
        Traceback (most recent call last):
        ...
        torchbricks.errors.DatasetConfigError: targets: a names class 0 'cat', but b names it 'dog'
    """
    merged: dict[str, list[str]] = {}
    owners: dict[str, Any] = {}
    for dataset in datasets:
        for target, names in dataset_class_names(dataset).items():
            known = merged.get(target)
            if known is None:
                merged[target], owners[target] = names, dataset
                continue
            for index, (first, second) in enumerate(zip(known, names, strict=False)):
                if first != second:
                    raise DatasetConfigError(
                        f"{target}: {dataset_origin(owners[target])} names class {index} {first!r}, "
                        f"but {dataset_origin(dataset)} names it {second!r}"
                    )
            if len(names) > len(known):
                merged[target], owners[target] = names, dataset
    return merged


def check_num_classes(datasets: Iterable[Any], num_classes: Mapping[str, int]) -> None:
    """Check each dataset's targets against the tasks' ``num_classes`` (target name → count), now and when loading.

    A dataset that knows a target's classes (``class_names``) must know exactly ``num_classes`` of them,
    else :class:`~torchbricks.errors.DatasetConfigError` names it; datasets with a ``num_classes`` dict
    (the standard adapters) then check every sample they load against it (a mask value ``>= num_classes``
    raises naming the mask file, instead of an IndexError in the loss).

    Example:
        >>> from bag_of_bricks.datasets import shapes
        >>> data = shapes(count=1)
        >>> check_num_classes([data], {"segmentation": 4, "points": 3})
        >>> data.num_classes["points"]
        3
        >>> try:
        ...     check_num_classes([data], {"points": 2})
        ... except DatasetConfigError as error:
        ...     print(error)
        points: shapes gives 3 classes ['circle', 'square', 'triangle'], but the task reading it has num_classes 2
    """
    for dataset in datasets:
        names = dataset_class_names(dataset)
        for target, count in num_classes.items():
            if target not in dataset_names(dataset):
                continue
            if target in names and len(names[target]) != count:
                raise DatasetConfigError(
                    f"{target}: {dataset_origin(dataset)} gives {len(names[target])} classes {names[target]}, "
                    f"but the task reading it has num_classes {count}"
                )
            checked = getattr(dataset, "num_classes", None)
            if isinstance(checked, dict):
                checked[target] = count


def partial_names(datasets: Iterable[Dataset]) -> tuple[str, ...]:
    """Names some of ``datasets`` give and others do not (their tasks need ``labelled`` masks)."""
    given = [set(dataset_names(dataset)) for dataset in datasets]
    union = set().union(*given) if given else set()
    common = set.intersection(*given) if given else set()
    return tuple(sorted(union - common))


def with_labelled_masks(model_config: dict[str, Any], partial: Iterable[str]) -> dict[str, Any]:
    """Give each task whose targets only some datasets have a ``labelled`` input (``<targets>_labelled``).

    Example:
        >>> model = {"tasks": {"seg": {"task": "semantic_segmentation", "targets": "segmentation"}}}
        >>> with_labelled_masks(model, ["segmentation"])["tasks"]["seg"]["labelled"]
        'segmentation_labelled'
    """
    partial = set(partial)
    tasks = {}
    for name, task in model_config["tasks"].items():
        task = dict(task)
        if task.get("targets") in partial and task.get("labelled") is None:
            task["labelled"] = labelled_name(task["targets"])
        tasks[name] = task
    return {**model_config, "tasks": tasks}


def placeholders(datasets: Iterable[Dataset]) -> dict[str, torch.Tensor]:
    """For each name only some datasets give, a zero tensor shaped like one of its samples (no rows if 2-D+)."""
    datasets = list(datasets)
    found: dict[str, torch.Tensor] = {}
    for name in partial_names(datasets):
        owner = next(dataset for dataset in datasets if name in dataset_names(dataset))
        value = owner[0][name]
        if isinstance(value, torch.Tensor):
            empty_rows = value.ndim == 2 and value.dtype.is_floating_point  # points / boxes: [N, columns]
            found[name] = value.new_zeros((0, value.shape[1]) if empty_rows else value.shape)
    return found


class Collate:
    """A picklable collate function (for DataLoader workers); see :func:`collate`."""

    def __init__(self, placeholders: Mapping[str, torch.Tensor] | None = None) -> None:
        self.placeholders = dict(placeholders or {})

    def __call__(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return collate(samples, self.placeholders)


def collate(
    samples: Sequence[Mapping[str, Any]], placeholders: Mapping[str, torch.Tensor] | None = None
) -> dict[str, Any]:
    """Stack named samples into a batch; see the module docstring for missing names and padding.

    ``placeholders`` (name → zero tensor) fill names that a whole batch may lack; each of them gets a
    ``labelled`` mask in every batch.
    """
    placeholders = placeholders or {}
    names = list(dict.fromkeys([*(name for sample in samples for name in sample), *placeholders]))
    batch: dict[str, Any] = {}
    for name in names:
        present = [name in sample for sample in samples]
        template = next((sample[name] for sample in samples if name in sample), None)
        if template is None:
            template = placeholders[name]
        if not isinstance(template, torch.Tensor):
            batch[name] = [sample.get(name) for sample in samples]
            continue
        filler = placeholders.get(name, torch.zeros_like(template))
        values = [sample.get(name, filler) for sample in samples]
        batch[name] = _stack(values)
        if not all(present) or name in placeholders:
            batch[labelled_name(name)] = torch.tensor(present, dtype=torch.bool)
    return batch


def _stack(values: list[torch.Tensor]) -> torch.Tensor:
    """Stack tensors; ones that differ only in their first dimension are padded with ``-1`` rows."""
    shapes = {tuple(value.shape) for value in values}
    if len(shapes) == 1:
        return torch.stack(values)
    rows = max(value.shape[0] if value.ndim else 0 for value in values)
    padded = []
    for value in values:
        if value.ndim == 0 or value.shape[1:] != values[0].shape[1:] or not value.dtype.is_floating_point:
            raise ValueError(f"cannot batch tensors of shapes {sorted(shapes)}: resize the images to one size")
        padding = value.new_full((rows - value.shape[0], *value.shape[1:]), -1)
        padded.append(torch.cat([value, padding]))
    return torch.stack(padded)
