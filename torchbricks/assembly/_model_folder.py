"""A saved model is a folder: ``config.json``, ``weights/``, ``README.md`` (its card) and ``checksums.sha256``.

``config.json`` is the resolved config, with the packs it needs, each task's ``class_names`` and the input
contract (``"input"``: channels, dtype, value range, the training image size and resize policy; see
:mod:`torchbricks.assembly._input`). ``README.md`` is the model card (:mod:`torchbricks.assembly._card`),
``checksums.sha256`` the sha256 of every other file (:mod:`torchbricks.assembly._checksums`).

:func:`load_model` rebuilds the model from the registries — no user code needed — and loads its
weights; when a brick pack the model needs is not installed it says which one to install.

Saving is atomic for the folder as a whole: the new model is written to a hidden sibling folder and
swapped in with one rename (``renameat2(RENAME_EXCHANGE)`` where the system has it), so a reader —
or a process killed at any moment — sees the complete old model or the complete new one, never a
mix, and no weight file of a removed brick survives. Leftovers of an interrupted save are removed by
the next save. The card and the checksums are written inside the new folder before the swap.

:func:`load_model` checks each weight file against ``checksums.sha256`` (when the folder has one) before it
reads it: a flipped byte in a weight file is a :class:`~torchbricks.errors.ChecksumMismatchError` naming the
file, not a model that silently predicts garbage. Hashing costs one extra read of the weights;
``verify=False`` skips it. ``config.json`` and ``README.md`` are not checked on load (a class name edited by
hand is allowed); ``torchbricks verify`` checks every file.

A model folder is untrusted input: :func:`load_model` reads only regular files inside it, checks
the recorded pack names before it suggests a command, and ignores arguments in ``config.json`` that
would make a factory read a file elsewhere (see :data:`FILE_ARGUMENT`); the folder's own weights are
loaded instead.

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

import copy
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from torchbricks._files import atomic_write_bytes, default_folder_mode
from torchbricks._folders import replace_folder
from torchbricks.assembly._card import CARD_FILE, CardSources, card_sources, run_folder_of, write_card
from torchbricks.assembly._checksums import CHECKSUMS_FILE, check_weights_checksums, update_checksum, write_checksums
from torchbricks.assembly._config import build_model
from torchbricks.assembly._input import INPUT_KEY, recorded_input
from torchbricks.assembly._reading import read_text
from torchbricks.errors import (
    ConfigError,
    IncompatiblePackError,
    MissingPackError,
    RegistryError,
    WeightsFolderExistsError,
)
from torchbricks.registry import LOCAL_PACK

CONFIG_FILE = "config.json"
WEIGHTS_FOLDER = "weights"
FILE_ARGUMENT = re.compile(r"^(weights|.+_path|.+_file)$")
"""Part arguments that name a file to read (``weights``, ``checkpoint_path``, ...): ignored by ``load_model``."""
PACKAGE_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")
"""A valid distribution name (PEP 508); anything else recorded in a folder is never shown as a command."""
_STAGING, _RETIRED = "saving", "old"


def save_model(
    model: Any,
    folder: str | Path,
    exist_ok: bool = False,
    *,
    input_contract: Mapping[str, Any] | None = None,
    run: str | Path | None = None,
    card: bool = True,
) -> Path:
    """Write ``config.json``, one weight file per brick, ``README.md`` and ``checksums.sha256`` as a whole.

    ``exist_ok=True`` replaces an existing model folder (one holding ``config.json``, or empty);
    any other existing folder or file is refused rather than deleted. Returns the folder.

    ``input_contract``: the ``input`` entry of ``config.json`` (a train run gives the size it trained at);
    by default the model config's own (a loaded model's), else what the config tells (``size`` null).
    ``run``: a train run's folder whose ``metrics.json``, ``run.json`` and ``config.json`` the card reports.
    ``card=False`` writes no ``README.md`` (no GMACs or latency measured). The card never fails a save.
    """
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise ConfigError(
            "save_model needs a model built from a config (build_model / assemble via config); "
            "for any collection, use collection.save_bricks(folder) to save weights only"
        )
    folder = Path(folder)
    _check_target(folder, exist_ok)
    if LOCAL_PACK in config.get("packs", {}):
        warnings.warn(
            "The model uses bricks registered in this program (pack 'local'); load_model needs them registered again",
            stacklevel=2,
        )
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise WeightsFolderExistsError(
            f"Cannot create model folder '{folder}': a parent is a file ({error})"
        ) from error
    _remove_leftovers(folder)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.{_STAGING}-"))
    try:
        os.chmod(staging, default_folder_mode())  # what mkdir would give, not mkdtemp's 0700
        model.save_bricks(staging / WEIGHTS_FOLDER, exist_ok=True)
        saved = {**config, INPUT_KEY: recorded_input(config, input_contract)}
        atomic_write_bytes(staging / CONFIG_FILE, json.dumps(saved, indent=2, sort_keys=True).encode())
        if card:
            _write_card_safely(staging, model, saved, run)
        write_checksums(staging)
        replace_folder(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def load_model(folder: str | Path, strict: bool = True, verify: bool = True) -> Any:
    """Rebuild a model saved with :func:`save_model` and load its weights (``strict``: every file must match).

    ``verify`` (default) checks the weight files against the folder's ``checksums.sha256`` first, when it
    has one, and raises :class:`~torchbricks.errors.ChecksumMismatchError` naming each changed or missing
    file; ``verify=False`` loads without hashing.

    ``strict`` defaults to ``True`` here and to ``False`` in :func:`torchbricks.load_bricks`, on purpose: a
    saved folder is one model, so a missing or extra weights file means the folder is damaged or holds
    another model; ``load_bricks`` fills a collection you built, where loading only the bricks that have
    files is how a new head is trained on a saved backbone. ``strict=False`` loads what fits and warns.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"'{folder}' is not a saved model: no such folder")
    config = _read_config(folder)
    packs = config.get("packs", {})
    missing = _missing_packs(packs, folder)
    if missing:
        recorded = ", ".join(f"{pack} (saved with {packs[pack]})" for pack in missing)
        raise MissingPackError(
            f"The model in '{folder}' needs brick pack(s) that are not installed: {recorded}. "
            f"Install them: pip install {' '.join(missing)}"
        )
    if verify and (folder / CHECKSUMS_FILE).is_file():
        check_weights_checksums(folder, WEIGHTS_FOLDER)
    try:
        model = build_model(_without_file_arguments(config))
    except (RegistryError, ConfigError) as error:
        raise IncompatiblePackError(
            f"Cannot rebuild the model in '{folder}' with the installed packs ({_versions(packs)}): {error}"
        ) from error
    model.config = config
    model.load_bricks(folder / WEIGHTS_FOLDER, strict=strict)
    model.eval()
    return model


def _write_card_safely(folder: Path, model: Any, config: dict[str, Any], run: str | Path | None) -> None:
    """The card; should anything in it fail, a short card that says so (a save never fails for its card)."""
    try:
        write_card(folder, model, config, card_sources(run))
    except Exception as error:
        note = f"The card could not be written: {type(error).__name__}: {str(error)[:200]}"
        text = f'---\nlibrary_name: torchbricks\ntags:\n  - "torchbricks"\n---\n\n# Model\n\n{note}\n'
        atomic_write_bytes(folder / CARD_FILE, text.encode())


def _check_target(folder: Path, exist_ok: bool) -> None:
    if not (folder.exists() or folder.is_symlink()):
        return
    if not folder.is_dir() or folder.is_symlink():
        raise WeightsFolderExistsError(f"Cannot save a model to '{folder}': it exists and is not a folder")
    if not exist_ok:
        raise WeightsFolderExistsError(f"Model folder '{folder}' already exists; pass exist_ok=True to overwrite")
    if not (folder / CONFIG_FILE).is_file() and any(folder.iterdir()):
        raise WeightsFolderExistsError(
            f"'{folder}' exists and is not a model folder (no {CONFIG_FILE}); refusing to replace it — "
            f"save to a new or empty folder"
        )


def _remove_leftovers(folder: Path) -> None:
    """Hidden siblings left by an interrupted save of this folder."""
    for kind in (_STAGING, _RETIRED):
        for leftover in folder.parent.glob(f".{glob_escape(folder.name)}.{kind}-*"):
            shutil.rmtree(leftover, ignore_errors=True)


def glob_escape(text: str) -> str:
    """``text`` with glob wildcards escaped."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    if path.is_symlink():
        raise ConfigError(f"'{folder}' is not a saved model: {CONFIG_FILE} is a symbolic link")
    if not path.exists():
        raise ConfigError(f"'{folder}' is not a saved model: no {CONFIG_FILE}")
    text = read_text(path)
    try:
        config = json.loads(text)
    except RecursionError as error:
        raise ConfigError(f"'{path}' nests too deeply") from error
    except ValueError as error:
        raise ConfigError(f"'{path}' is not valid JSON: {error}") from error
    if not isinstance(config, dict):
        raise ConfigError(f"'{path}' must hold a mapping, got {type(config).__name__}")
    packs = config.get("packs", {})
    if not isinstance(packs, dict) or not all(isinstance(value, str) for value in packs.values()):
        raise ConfigError(f"'{path}': 'packs' must map pack names to versions, got {packs!r:.200}")
    bad = [name for name in packs if name != LOCAL_PACK and not PACKAGE_NAME.match(str(name))]
    if bad:
        raise ConfigError(f"'{path}' records {len(bad)} invalid pack name(s) (not package names); refusing to use it")
    return config


def _missing_packs(packs: dict[str, str], folder: Path) -> list[str]:
    missing = []
    for pack in sorted(packs):
        if pack == LOCAL_PACK:
            continue
        try:
            version(pack)
        except PackageNotFoundError:
            missing.append(pack)
    return missing


def _versions(packs: dict[str, str]) -> str:
    described = []
    for pack, saved in sorted(packs.items()):
        if pack == LOCAL_PACK:
            continue
        try:
            installed = version(pack)
        except PackageNotFoundError:
            installed = "not installed"
        described.append(f"{pack}: saved with {saved}, installed {installed}")
    return "; ".join(described) or "no packs recorded"


def _without_file_arguments(config: dict[str, Any]) -> dict[str, Any]:
    """The config with nothing that reads weights from elsewhere: the folder's own weights are loaded instead.

    Every file-naming argument of every part is set to ``None`` — a file path, a pretrained weights tag or
    name (``weights: imagenet1k_v2``), a ``{from: ...}`` source — and so is the model-level ``weights``
    (start from another saved model), so that loading a saved model never reads another file and never
    downloads.
    """
    cleaned = copy.deepcopy(config)
    if cleaned.get("weights") is not None:
        cleaned["weights"] = None
    for part in _parts(cleaned):
        for key, value in part.items():
            names_source = isinstance(value, str) or (isinstance(value, Mapping) and "from" in value)
            if names_source and FILE_ARGUMENT.match(key):
                part[key] = None
    return cleaned


def _parts(config: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("preprocessor", "backbone", "neck", "loss_weighting"):
        if isinstance(config.get(key), dict):
            yield config[key]
    tasks = config.get("tasks")
    if isinstance(tasks, dict):
        yield from (task for task in tasks.values() if isinstance(task, dict))


def rewrite_card(
    folder: str | Path,
    run: str | Path | None = None,
    metrics: str | Path | None = None,
    measure: bool = True,
    target: str | Path | None = None,
) -> tuple[Path, CardSources]:
    """Write the card of a saved model folder again (``torchbricks card``); returns its path and its sources.

    ``run`` defaults to the train run the folder belongs to (``run/model``); ``metrics`` (a ``metrics.json``
    from ``torchbricks evaluate``) replaces the run's. Written into the folder, the card's line in
    ``checksums.sha256`` is updated with it; ``target`` writes it elsewhere and leaves the folder as it is.

    Example:
        >>> import tempfile
        >>> from torchbricks import build_model, save_model
        >>> model = build_model({"backbone": {"name": "resnet18", "levels": [5]}, "input_shape": [3, 32, 32],
        ...                      "tasks": {"kind": {"task": "image_classification", "num_classes": 2}}})
        >>> folder = save_model(model, tempfile.mkdtemp() + "/model", card=False)
        >>> path, sources = rewrite_card(folder, measure=False)
        >>> path.name, sources.metrics
        ('README.md', {})
    """
    folder = Path(folder)
    model = load_model(folder)
    sources = card_sources(run if run is not None else run_folder_of(folder), metrics)
    path = write_card(folder, model, sources=sources, measure=measure, target=target)
    if target is None:
        update_checksum(folder, CARD_FILE)
    return path, sources
