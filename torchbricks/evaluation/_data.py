"""The labelled datasets ``torchbricks evaluate`` runs a model on, built from a data config as a train run builds them.

A data config is any of: a dataset spec (``{name: shapes, count: 64}`` or ``shapes``), a list of them, a train
config's ``data`` section (its ``validation`` datasets, or the ``split`` asked for) or a whole train config
(the same). A file's relative ``root`` (``csv_file``, ``annotations``) is relative to the file's folder. The
datasets are looked up and built by the train run's own code (arguments checked, every problem at once), and
must name the classes the way the model does.

Example:
    >>> datasets = evaluation_datasets({"name": "shapes", "count": 4, "image_size": 32})
    >>> [len(dataset) for dataset in datasets]
    [4]
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torchbricks.errors import ConfigError, DatasetConfigError

SPLITS = ("validation", "train")
FILE_SUFFIXES = (".json", ".yaml", ".yml")


def dataset_specs_of(source: Any, split: str = "validation") -> list[Any]:
    """The dataset specs of a data config (see the module docstring), as a list.

    Example:
        >>> dataset_specs_of({"data": {"train": "shapes", "validation": [{"name": "shapes", "seed": 1}]}})
        [{'name': 'shapes', 'seed': 1}]
        >>> dataset_specs_of("shapes")
        ['shapes']
    """
    if split not in SPLITS:
        raise ConfigError(f"split: must be one of {', '.join(SPLITS)}, got {split!r}")
    data = source.get("data") if isinstance(source, Mapping) and isinstance(source.get("data"), Mapping) else source
    if isinstance(data, Mapping) and any(key in data for key in SPLITS):
        specs = data.get(split)
        if not specs:
            raise ConfigError(
                f"the data config has no {split} datasets (data.{split}); name them, or pick another split"
            )
        data = specs
    specs = data if isinstance(data, list) else [data]
    if not specs or not all(isinstance(spec, str | Mapping) for spec in specs):
        raise ConfigError(
            "a data config is a dataset ({name: image_folder, root: ...}), a list of them, or a train config's "
            f"data section; got {source!r:.200}"
        )
    return list(specs)


def evaluation_datasets(source: Mapping[str, Any] | list[Any] | str | Path, split: str = "validation") -> list[Any]:
    """Build the datasets of a data config (a dict, a list, a registered dataset name or a JSON/YAML file)."""
    from torchbricks.assembly import raise_problems, resolve_part
    from torchbricks.training._config import dataset_specs
    from torchbricks.training._from_data import build_datasets

    specs = resolved_specs(source, split)
    problems: list[str] = []
    parts = [resolve_part("datasets", spec, where, problems) for where, spec in dataset_specs(specs, "data")]
    built = build_datasets({"data": parts}, problems)["data"] if not problems else []
    raise_problems(problems, "data config")
    return built


def resolved_specs(source: Any, split: str = "validation") -> list[dict[str, Any]]:
    """The dataset specs of a data config, a bare name as ``{"name": ...}``, a file's relative paths anchored."""
    from torchbricks.assembly import load_config
    from torchbricks.training._config import anchor_dataset_paths

    folder = None
    if isinstance(source, Path) or (isinstance(source, str) and Path(source).suffix.lower() in FILE_SUFFIXES):
        folder = Path(source).absolute().parent
        source = load_config(Path(source))
    specs = [{"name": spec} if isinstance(spec, str) else dict(spec) for spec in dataset_specs_of(source, split)]
    if folder is not None:
        wrapped = {"data": {"validation": specs}}
        anchor_dataset_paths(wrapped, folder)
        specs = wrapped["data"]["validation"]
    return specs


def check_classes(model_config: Mapping[str, Any], datasets: list[Any]) -> None:
    """The datasets must name each task's classes as the model does (else the indices mean other classes).

    Also arms the datasets' per-sample class checks with the tasks' ``num_classes``.
    """
    from torchbricks.training._data import check_num_classes, merged_class_names

    names = merged_class_names(datasets)
    counts = {}
    for task, spec in model_config.get("tasks", {}).items():
        targets = spec.get("targets")
        if not isinstance(targets, str):
            continue
        if isinstance(spec.get("num_classes"), int):
            counts[targets] = spec["num_classes"]
        recorded, found = spec.get("class_names"), names.get(targets)
        if recorded and found and list(recorded) != list(found):
            raise DatasetConfigError(
                f"task '{task}': the model's classes are {list(recorded)[:8]}, but the data names the classes of "
                f"'{targets}' {list(found)[:8]}: evaluate on data with the model's classes (in this order)"
            )
    check_num_classes(datasets, counts)
