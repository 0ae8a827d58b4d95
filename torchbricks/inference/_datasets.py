"""``--data CONFIG``: the images of any registered dataset, from a YAML or JSON file.

The file holds one of:

* a dataset: ``{name: image_folder, root: photos, image_size: 128}``;
* a list of them under ``datasets:``;
* a train config (a train run's ``config.json`` too) or its ``data:`` section: its ``validation``
  datasets, or its ``train`` datasets when it has no validation ones.

Datasets are looked up and built as the train run builds them (the ``datasets`` registry, arguments
checked, every problem reported at once); relative paths (``root``, ``csv_file``, ``annotations``) are
relative to the file's folder.

Example:
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "data.json"
    >>> _ = path.write_text(json.dumps({"name": "shapes", "count": 3}))
    >>> len(dataset_from_config(path))
    3
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torchbricks.errors import ConfigError


def dataset_from_config(path: str | Path) -> Any:
    """The dataset (several combined into one) a ``--data`` file names; :class:`ConfigError` lists its problems."""
    from torchbricks.assembly import load_config, raise_problems, resolve_part
    from torchbricks.training._config import anchor_dataset_paths, dataset_specs
    from torchbricks.training._data import combine

    path = Path(path)
    specs, where = dataset_specs_of(load_config(path), str(path))
    holder = {"data": {"train": specs}}
    anchor_dataset_paths(holder, path.absolute().parent)
    problems: list[str] = []
    parts = [resolve_part("datasets", spec, spec_path, problems) for spec_path, spec in dataset_specs(specs, where)]
    raise_problems(problems, f"data config '{path}'")
    datasets = []
    for part in parts:
        if part is None:
            continue
        try:
            datasets.append(part.build())
        except (OSError, ValueError) as error:
            problems.append(f"{part.path}: {error}")
    raise_problems(problems, f"data config '{path}'")
    return combine(datasets)


def dataset_specs_of(config: Mapping[str, Any], where: str) -> tuple[list[Any], str]:
    """The dataset specs a ``--data`` file holds, and the path its problems are reported under."""
    if "name" in config:
        return [dict(config)], where
    if "datasets" in config:
        return _as_list(config["datasets"]), f"{where}: datasets"
    data = config.get("data", config)
    if isinstance(data, Mapping):
        for split in ("validation", "train"):
            if data.get(split):
                prefix = "data." if "data" in config else ""
                return _as_list(data[split]), f"{where}: {prefix}{split}"
    raise ConfigError(
        f"Data config '{where}' names no dataset: give a dataset ({{name: image_folder, root: ...}}), a list under "
        f"'datasets:', or a train config with data.validation / data.train"
    )


def _as_list(specs: Any) -> list[Any]:
    specs = specs if isinstance(specs, list) else [specs]
    return [{"name": spec} if isinstance(spec, str) else spec for spec in specs]
