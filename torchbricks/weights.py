"""Per-brick weight files: safetensors (no pickle runs on load), written atomically.

``save_bricks`` writes one ``<brick path>.safetensors`` per brick that has state, in folders that
mirror the nesting (``head0/classify.safetensors``). ``load_bricks`` checks every file against its
brick before changing anything, so a bad file leaves the whole collection as it was.

Folders saved by the original torchbricks (0.1-0.4: one ``torch.save``'d ``<brick path>.pt`` per
brick) load too: a brick without a safetensors file reads its ``.pt`` file with
``torch.load(weights_only=True)`` (tensors only, no pickled code runs), and one
:class:`~torchbricks.errors.LegacyWeightsWarning` says which files were converted. A module whose
parameter names changed since can map the old ones with a class attribute
``legacy_state_dict_prefixes = {"old.prefix.": "new.prefix."}``.

Example:
    >>> import tempfile
    >>> from torch import nn
    >>> from torchbricks import BrickCollection, BrickTrainable
    >>> collection = BrickCollection({"head": BrickTrainable(nn.Linear(2, 2), ["x"], ["y"])})
    >>> folder = tempfile.mkdtemp()
    >>> [path.name for path in save_bricks(collection, folder, exist_ok=True)]
    ['head.safetensors']
    >>> load_bricks(collection, folder)
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

import torch

from torchbricks._files import atomic_write_bytes
from torchbricks.bricks import BrickInterface
from torchbricks.errors import (
    BrickWeightsWarning,
    CorruptWeightsError,
    LegacyWeightsWarning,
    MissingWeightsError,
    NotAWeightsFolderError,
    UnexpectedWeightsError,
    WeightsFolderExistsError,
    WeightsMismatchError,
)

WEIGHTS_SUFFIX = ".safetensors"
LEGACY_WEIGHTS_SUFFIX = ".pt"
"""The original torchbricks' per-brick files (``torch.save`` of the brick's ``state_dict``); read only."""


class NamedBricks(Protocol):
    """Anything with ``named_bricks()`` yielding ``(path, brick)`` pairs, such as a ``BrickCollection``."""

    def named_bricks(self) -> Iterator[tuple[str, BrickInterface]]: ...


def save_bricks(collection: NamedBricks, path_model_folder: str | Path, exist_ok: bool = False) -> list[Path]:
    """Save each brick's ``state_dict`` to ``<folder>/<brick path>.safetensors``; return the files written.

    Bricks without state (e.g. metrics, parameter-free preprocessors) get no file. Each file is
    written to a temporary file in the same folder and renamed into place, so an interrupted save
    never leaves a half-written file where a good one was.
    """
    from safetensors.torch import save

    folder = Path(path_model_folder)
    if folder.exists() and not exist_ok:
        raise WeightsFolderExistsError(f"Weights folder '{folder}' already exists; pass exist_ok=True to overwrite")
    written: list[Path] = []
    for brick_path, brick in collection.named_bricks():
        tensors = _tensors_to_save(brick)
        if not tensors:
            continue
        target = folder / f"{brick_path}{WEIGHTS_SUFFIX}"
        metadata = {"brick": type(brick).__name__, "model": brick.model_name, "brick_path": brick_path}
        atomic_write_bytes(target, save(tensors, metadata=metadata))
        written.append(target)
    return written


def load_bricks(collection: NamedBricks, path_model_folder: str | Path, strict: bool = False) -> None:
    """Load weights written by :func:`save_bricks` (or the original's ``.pt`` files) into ``collection``.

    A brick with state but no file warns and keeps its current weights (how one part is retrained
    from scratch); a file matching no brick warns. With ``strict=True`` both are errors. A file that
    cannot be read, or whose tensors do not fit the brick (missing/extra keys, other shapes, a dtype
    other than the brick's — ordinary float types excepted), is an
    error naming the brick and the file. Every file is checked before any weight changes. Bricks read
    from the original's ``.pt`` files are named in one :class:`~torchbricks.errors.LegacyWeightsWarning`.

    ``strict`` defaults to ``False`` here and to ``True`` in :func:`torchbricks.assembly.load_model`, on
    purpose: ``load_bricks`` fills a collection *you* built, where loading the bricks that have files and
    keeping the rest is how a new head is trained on a saved backbone (the original's behaviour);
    ``load_model`` rebuilds a saved folder as a whole, where a missing or extra file means the folder
    is damaged or is another model.
    """
    folder = Path(path_model_folder)
    if folder.exists() and not folder.is_dir():
        raise NotAWeightsFolderError(f"'{folder}' is a file, not a weights folder; pass the folder holding it")
    if not folder.is_dir():
        raise MissingWeightsError(f"Weights folder '{folder}' does not exist")
    pending: list[tuple[BrickInterface, dict[str, torch.Tensor]]] = []
    expected_files: set[Path] = set()
    converted: list[str] = []
    for brick_path, brick in collection.named_bricks():
        current = brick.state_dict()
        if not current:
            continue
        file = _weight_file(folder, brick_path)
        expected_files.update(
            (folder / f"{brick_path}{suffix}").resolve() for suffix in (WEIGHTS_SUFFIX, LEGACY_WEIGHTS_SUFFIX)
        )
        if not file.is_file():
            _report(
                MissingWeightsError if strict else None,
                f"No weight file for brick '{brick_path}' ('{file}', nor the original's "
                f"'{LEGACY_WEIGHTS_SUFFIX}'); it keeps its current weights",
            )
            continue
        if file.suffix == LEGACY_WEIGHTS_SUFFIX:
            loaded = _with_current_names(brick, _read_legacy_weights(file, brick_path))
            converted.append(str(file.relative_to(folder)))
        else:
            loaded = _read_weights(file, brick_path)
        _check_fits(loaded, current, brick_path, file)
        pending.append((brick, loaded))
    for suffix in (WEIGHTS_SUFFIX, LEGACY_WEIGHTS_SUFFIX):
        for file in sorted(folder.rglob(f"*{suffix}")):
            if file.resolve() not in expected_files:
                _report(
                    UnexpectedWeightsError if strict else None,
                    f"Weight file '{file}' matches no brick with state in the collection; it was not loaded",
                )
    for brick, loaded in pending:
        brick.load_state_dict(loaded, strict=True)
    if converted:
        warnings.warn(
            f"Read {len(converted)} weight file(s) saved by the original torchbricks ({', '.join(converted)}) as "
            f"tensors only and converted them; save_bricks writes them as safetensors",
            LegacyWeightsWarning,
            stacklevel=2,
        )


def _weight_file(folder: Path, brick_path: str) -> Path:
    """The brick's safetensors file, or else its original ``.pt`` file if that exists; refuses links and devices."""
    file = folder / f"{brick_path}{WEIGHTS_SUFFIX}"
    legacy = folder / f"{brick_path}{LEGACY_WEIGHTS_SUFFIX}"
    chosen = legacy if not (file.exists() or file.is_symlink()) and (legacy.exists() or legacy.is_symlink()) else file
    if chosen.is_symlink() or (chosen.exists() and not chosen.is_file()):
        raise CorruptWeightsError(
            f"Weight file '{chosen}' of brick '{brick_path}' is not a regular file inside the folder "
            f"(a link, a folder or a device); refusing to read it"
        )
    return chosen


def _tensors_to_save(brick: BrickInterface) -> dict[str, torch.Tensor]:
    """The brick's state as contiguous tensors; tensors sharing memory are copied (safetensors needs it)."""
    tensors: dict[str, torch.Tensor] = {}
    seen_storages: set[tuple[str, int]] = set()
    for key, tensor in brick.state_dict().items():
        tensor = tensor.detach()
        storage = (str(tensor.device), tensor.untyped_storage().data_ptr())
        if storage in seen_storages or not tensor.is_contiguous():
            tensor = tensor.clone(memory_format=torch.contiguous_format)
        seen_storages.add(storage)
        tensors[key] = tensor.cpu()
    return tensors


def _read_weights(file: Path, brick_path: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(file.read_bytes())
    except (SafetensorError, ValueError, OSError) as error:
        raise CorruptWeightsError(
            f"Cannot read weight file '{file}' of brick '{brick_path}' (truncated or not a safetensors file): {error}"
        ) from error


def _read_legacy_weights(file: Path, brick_path: str) -> dict[str, torch.Tensor]:
    """A ``.pt`` state dict of the original torchbricks, unpickled with ``weights_only=True`` (no code runs)."""
    try:
        loaded = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # the unpickler raises many types on bad or hostile files
        raise CorruptWeightsError(
            f"Cannot read weight file '{file}' of brick '{brick_path}' as a tensors-only torch.save state dict "
            f"(truncated, not a state dict, or it holds pickled code, which is never run): {error}"
        ) from error
    if not isinstance(loaded, Mapping) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in loaded.items()
    ):
        raise CorruptWeightsError(
            f"Weight file '{file}' of brick '{brick_path}' is not a state dict of tensors "
            f"(it holds a {type(loaded).__name__})"
        )
    return dict(loaded)


def _with_current_names(brick: BrickInterface, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename keys by the ``legacy_state_dict_prefixes`` of the brick's modules (parameters renamed since)."""
    renames = [
        (f"{path}.{old}" if path else old, f"{path}.{new}" if path else new)
        for path, module in brick.named_modules()
        for old, new in getattr(type(module), "legacy_state_dict_prefixes", {}).items()
    ]
    if not renames:
        return state
    renamed = {}
    for key, value in state.items():
        for old, new in renames:
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        renamed[key] = value
    return renamed


def _check_fits(loaded: dict[str, torch.Tensor], current: dict[str, torch.Tensor], brick_path: str, file: Path) -> None:
    missing = sorted(set(current) - set(loaded))
    unexpected = sorted(set(loaded) - set(current))
    shapes = [
        f"'{key}' is {tuple(loaded[key].shape)} in the file but {tuple(current[key].shape)} in the brick"
        for key in sorted(set(current) & set(loaded))
        if loaded[key].shape != current[key].shape
    ]
    dtypes = [
        f"'{key}' is {loaded[key].dtype} in the file but {current[key].dtype} in the brick"
        for key in sorted(set(current) & set(loaded))
        if not _compatible_dtypes(loaded[key].dtype, current[key].dtype)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    problems.extend(shapes)
    problems.extend(dtypes)
    if problems:
        raise WeightsMismatchError(f"Weight file '{file}' does not fit brick '{brick_path}': " + "; ".join(problems))


_CASTABLE_FLOATS = frozenset({torch.float16, torch.bfloat16, torch.float32, torch.float64})


def _compatible_dtypes(stored: torch.dtype, expected: torch.dtype) -> bool:
    """The same dtype, or two ordinary float types (a half-precision copy loads into float32 weights)."""
    return stored == expected or (stored in _CASTABLE_FLOATS and expected in _CASTABLE_FLOATS)


def _report(error_type: type[Exception] | None, message: str) -> None:
    if error_type is not None:
        raise error_type(message)
    warnings.warn(message, BrickWeightsWarning, stacklevel=3)
