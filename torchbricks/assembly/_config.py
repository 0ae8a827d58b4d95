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
    >>> from torchbricks.errors import ConfigError
    >>> config = {"backbone": "resnet18", "tasks": {"shape": {"task": "image_classification", "num_clases": 3}}}
    >>> try:
    ...     resolve_config(config)
    ... except ConfigError as error:
    ...     print(str(error).splitlines()[1].split(" Accepted")[0])
      tasks.shape.num_clases: unknown argument. Did you mean 'num_classes'?
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torchbricks.assembly._assemble import assemble_model
from torchbricks.assembly._parts import Part, raise_problems, resolve_part
from torchbricks.assembly._reading import read_data_file
from torchbricks.errors import ConfigError
from torchbricks.suggestions import did_you_mean

PARTS = {"preprocessor": "preprocessors", "backbone": "backbones", "neck": "necks", "loss_weighting": "losses"}
DEFAULTS: dict[str, Any] = {
    "image": "images",
    "preprocessor": {"name": "normalize"},
    "neck": None,
    "loss_weighting": {"name": "fixed_weighting"},
    "input_shape": [3, 224, 224],
}
CONFIG_DEFAULTS = DEFAULTS
"""The default of each optional top-level config key (``resolve_config`` fills them in)."""
CONFIG_KEYS = ("image", "input_shape", "preprocessor", "backbone", "neck", "tasks", "loss_weighting", "packs")


def load_config(source: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    """A config from a dict (copied), or a ``.json`` / ``.yaml`` / ``.yml`` file.

    Example:
        >>> import json, tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = Path(folder) / "model.json"
        ...     _ = path.write_text(json.dumps({"backbone": "resnet18"}))
        ...     load_config(path)
        {'backbone': 'resnet18'}
    """
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    return read_data_file(Path(source))


def resolve_config(source: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    """Validate a config; return it with qualified names and all defaults. :class:`ConfigError` lists every problem."""
    config = load_config(source)
    if isinstance(config.get("model"), Mapping) and "backbone" not in config:  # a whole train config
        raise ConfigError(
            "This is a train config (model, data, trainer, ...), not a model config: a model config is its "
            "`model:` section (backbone, tasks, ...); `torchbricks train` takes the whole file"
        )
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
            resolved[key] = _resolved(resolve_part(kind, resolved[key], key, problems), packs)
    tasks = config.get("tasks")
    if not isinstance(tasks, Mapping) or not tasks:
        problems.append("tasks: missing or empty (a mapping of task name → {'task': ..., arguments})")
        tasks = {}
    resolved["tasks"] = {
        name: _resolved(resolve_part("tasks", task, f"tasks.{name}", problems), packs) for name, task in tasks.items()
    }
    if not isinstance(resolved["image"], str):
        problems.append(f"image: must be the name of the image input, got {resolved['image']!r}")
    shape = resolved["input_shape"]
    if not (isinstance(shape, list | tuple) and len(shape) == 3 and all(isinstance(size, int) for size in shape)):
        problems.append(f"input_shape: must be [channels, height, width], got {shape!r}")
    raise_problems(problems, "model config")
    resolved["packs"] = dict(sorted(packs.items()))
    return resolved


def build_model(source: Mapping[str, Any] | str | Path, *, resolved: bool = False) -> Any:
    """Validate the config, then assemble the model (a ``BrickCollection`` with the resolved ``config``).

    ``resolved=True`` takes a config that :func:`resolve_config` already returned (or a saved
    ``config.json``) and assembles it as it is, without resolving it again; the assembler still checks
    each part's arguments.

    Example:
        >>> config = resolve_config({"backbone": {"name": "resnet18", "levels": [5]},
        ...                          "tasks": {"kind": {"task": "image_classification", "num_classes": 2}}})
        >>> model = build_model(config, resolved=True)
        >>> model.config == config, model.config is config
        (True, False)
    """
    config = load_config(source) if resolved else resolve_config(source)
    if resolved:
        missing = [key for key in CONFIG_KEYS if key not in config]
        if missing:
            raise ConfigError(
                f"build_model(resolved=True) takes a config that resolve_config returned; missing: {', '.join(missing)}"
            )
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


def _resolved(part: Part | None, packs: dict[str, str]) -> dict[str, Any] | None:
    """The part as the saved config holds it; records the pack (and version) it comes from."""
    if part is None:
        return None
    packs[part.entry.pack] = part.entry.version
    return part.resolved()
