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
        "weights": {"from": "run/model", "bricks": ["backbone"]},  # optional: start from a saved model
    }

A part's ``weights`` argument may name registered pretrained weights (``backbone: {name: resnet50,
weights: imagenet1k_v2}``, or ``default``): they are checked when the config is resolved, the model's
preprocessor follows them unless the config sets one, and :func:`build_model` records the verified file
in ``config["pretrained"]`` (see :mod:`torchbricks.assembly._pretrained`). The model-level ``weights``
starts the new model from the bricks of a saved model folder (see :mod:`torchbricks.assembly._start_from`).

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

from torchbricks.assembly._assemble import RESERVED_NAMES, assemble_model
from torchbricks.assembly._parts import Part, raise_problems, resolve_part
from torchbricks.assembly._pretrained import (
    PRETRAINED_KEY,
    check_pretrained,
    pretrained_provenance,
    weights_preprocessor,
)
from torchbricks.assembly._reading import read_data_file
from torchbricks.assembly._start_from import check_start_from, start_from_folder, start_provenance
from torchbricks.errors import ConfigError
from torchbricks.suggestions import did_you_mean

PARTS = {"preprocessor": "preprocessors", "backbone": "backbones", "neck": "necks", "loss_weighting": "losses"}
DEFAULTS: dict[str, Any] = {
    "image": "images",
    "preprocessor": {"name": "normalize"},
    "neck": None,
    "loss_weighting": {"name": "fixed_weighting"},
    "input_shape": [3, 224, 224],
    "weights": None,
    PRETRAINED_KEY: None,
}
CONFIG_DEFAULTS = DEFAULTS
"""The default of each optional top-level config key (``resolve_config`` fills them in)."""
OPTIONAL_KEYS = ("weights", PRETRAINED_KEY, "input")
"""Keys a resolved config holds only when given: ``weights`` (start from a saved model's bricks),
``pretrained`` (provenance written by :func:`build_model`) and ``input`` (the input contract
:func:`~torchbricks.assembly.save_model` records), the last two passed through as they are."""
CONFIG_KEYS = (
    "image",
    "input_shape",
    "preprocessor",
    "backbone",
    "neck",
    "tasks",
    "loss_weighting",
    "packs",
    *OPTIONAL_KEYS,
)


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
    resolved: dict[str, Any] = {
        key: copy.deepcopy(config.get(key, DEFAULTS.get(key)))
        for key in CONFIG_KEYS
        if key not in OPTIONAL_KEYS or key in config
    }
    packs: dict[str, str] = {}
    if "backbone" not in config:
        problems.append("backbone: missing (e.g. {'name': 'resnet18'})")
    for key in sorted(PARTS, key=lambda key: key != "backbone"):  # the backbone's weights may give the preprocessor
        if resolved[key] is not None and (key != "backbone" or "backbone" in config):
            part = resolve_part(PARTS[key], resolved[key], key, problems)
            weights = check_pretrained(part, problems) if part is not None else None
            if key == "backbone" and "preprocessor" not in config:
                resolved["preprocessor"] = weights_preprocessor(weights) or resolved["preprocessor"]
            resolved[key] = _resolved(part, packs)
    tasks = config.get("tasks")
    if not isinstance(tasks, Mapping) or not tasks:
        problems.append("tasks: missing or empty (a mapping of task name → {'task': ..., arguments})")
        tasks = {}
    task_parts = {name: resolve_part("tasks", task, f"tasks.{name}", problems) for name, task in tasks.items()}
    for part in task_parts.values():
        if part is not None:
            check_pretrained(part, problems)
    resolved["tasks"] = {name: _resolved(part, packs) for name, part in task_parts.items()}
    check_start_from(config.get("weights"), [*RESERVED_NAMES, *tasks], problems)
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

    Pretrained weights that parts name are fetched first (cache, mirror folders, then the network unless
    offline); the model's ``config["pretrained"]`` records each one's name and sha256. With a model-level
    ``weights: {from: folder, bricks: [...]}`` the new model then starts from the saved bricks that fit;
    ``model.start_report`` says what was taken, what is new and what did not fit.

    Example:
        >>> config = resolve_config({"backbone": {"name": "resnet18", "levels": [5]},
        ...                          "tasks": {"kind": {"task": "image_classification", "num_classes": 2}}})
        >>> model = build_model(config, resolved=True)
        >>> model.config == config, model.config is config
        (True, False)
    """
    config = load_config(source) if resolved else resolve_config(source)
    if resolved:
        missing = [key for key in CONFIG_KEYS if key not in config and key not in OPTIONAL_KEYS]
        if missing:
            raise ConfigError(
                f"build_model(resolved=True) takes a config that resolve_config returned; missing: {', '.join(missing)}"
            )
    provenance = pretrained_provenance(config)  # before building: a weights file that is unavailable fails fast
    model = assemble_model(
        tasks={name: dict(task) for name, task in config["tasks"].items()},
        backbone=config["backbone"],
        neck=config["neck"],
        preprocessor=config["preprocessor"],
        image=config["image"],
        loss_weighting=config["loss_weighting"],
    )
    if config.get("weights") is not None:
        model.start_report = start_from_folder(model, config["weights"])
        provenance.update(start_provenance(model.start_report))
    if provenance:
        config[PRETRAINED_KEY] = provenance
    model.config = config
    return model


def _resolved(part: Part | None, packs: dict[str, str]) -> dict[str, Any] | None:
    """The part as the saved config holds it; records the pack (and version) it comes from."""
    if part is None:
        return None
    packs[part.entry.pack] = part.entry.version
    return part.resolved()
