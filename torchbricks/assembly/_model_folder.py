"""A saved model is a folder: ``config.json`` (the resolved config, with the packs it needs) and ``weights/``.

:func:`load_model` rebuilds the model from the registries — no user code needed — and loads its
weights; when a brick pack the model needs is not installed it says which one to install.

Example:
    >>> import tempfile
    >>> from torchbricks import build_model
    >>> model = build_model({"backbone": {"name": "resnet18", "levels": [5]},
    ...                      "tasks": {"kind": {"task": "image_classification", "num_classes": 2}}})
    >>> folder = tempfile.mkdtemp()
    >>> _ = save_model(model, folder, exist_ok=True)
    >>> sorted(load_model(folder).config["tasks"])
    ['kind']
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from torchbricks._files import atomic_write_bytes
from torchbricks.assembly._config import build_model
from torchbricks.errors import ConfigError, MissingPackError, RegistryError, WeightsFolderExistsError
from torchbricks.registry import LOCAL_PACK

CONFIG_FILE = "config.json"
WEIGHTS_FOLDER = "weights"


def save_model(model: Any, folder: str | Path, exist_ok: bool = False) -> Path:
    """Write ``config.json`` and one weight file per brick into ``folder``; returns the folder."""
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise ConfigError(
            "save_model needs a model built from a config (build_model / assemble via config); "
            "for any collection, use collection.save_bricks(folder) to save weights only"
        )
    folder = Path(folder)
    if folder.exists() and not exist_ok:
        raise WeightsFolderExistsError(f"Model folder '{folder}' already exists; pass exist_ok=True to overwrite")
    if LOCAL_PACK in config.get("packs", {}):
        import warnings

        warnings.warn(
            "The model uses bricks registered in this program (pack 'local'); load_model needs them registered again",
            stacklevel=2,
        )
    folder.mkdir(parents=True, exist_ok=True)
    model.save_bricks(folder / WEIGHTS_FOLDER, exist_ok=True)
    atomic_write_bytes(folder / CONFIG_FILE, json.dumps(config, indent=2, sort_keys=True).encode())
    return folder


def load_model(folder: str | Path, strict: bool = True) -> Any:
    """Rebuild a model saved with :func:`save_model` and load its weights (``strict``: every file must match)."""
    folder = Path(folder)
    path = folder / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"'{folder}' is not a saved model: cannot read {CONFIG_FILE} ({error})") from error
    missing = _missing_packs(config.get("packs", {}))
    if missing:
        install = " ".join(missing)
        raise MissingPackError(
            f"The model in '{folder}' needs brick pack(s) that are not installed: {', '.join(missing)}. "
            f"Install them: pip install {install}"
        )
    try:
        model = build_model(config)
    except (RegistryError, ConfigError) as error:
        raise MissingPackError(f"Cannot rebuild the model in '{folder}': {error}") from error
    model.load_bricks(folder / WEIGHTS_FOLDER, strict=strict)
    model.eval()
    return model


def _missing_packs(packs: dict[str, str]) -> list[str]:
    missing = []
    for pack in sorted(packs):
        if pack == LOCAL_PACK:
            continue
        try:
            version(pack)
        except PackageNotFoundError:
            missing.append(pack)
    return missing
