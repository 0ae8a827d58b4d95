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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import ConcatDataset, Dataset

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
    return combined


def partial_names(datasets: Iterable[Dataset]) -> tuple[str, ...]:
    """Names some of ``datasets`` give and others do not (their tasks need ``labelled`` masks)."""
    given = [set(dataset_names(dataset)) for dataset in datasets]
    union = set().union(*given) if given else set()
    common = set.intersection(*given) if given else set()
    return tuple(sorted(union - common))


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
