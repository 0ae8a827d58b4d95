"""Reading a weights file into a state dict: safetensors, or ``torch.load(weights_only=True)``; keys mapped.

No pickled code runs: a state-dict file is read with ``weights_only=True``. A checkpoint that wraps its
tensors (``{"state_dict": {...}}`` or ``{"model": {...}}``) is unwrapped. Then the entry's
``key_mapping`` renames keys: the first ``(old_prefix, new_prefix)`` pair whose ``old_prefix`` starts a
key replaces it (``None`` drops the key); keys no pair matches are kept.

Example:
    >>> map_keys({"fc.weight": 1, "layer1.0.conv1.weight": 2}, (("fc.", None), ("layer1.", "stages.0.")))
    {'stages.0.0.conv1.weight': 2}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torchbricks.errors import CorruptWeightsError, WeightsUnavailableError
from torchbricks.pretrained._checks import is_regular_file
from torchbricks.pretrained._spec import PretrainedWeights

_WRAPPERS = ("state_dict", "model")


def read_state_dict(weights: PretrainedWeights, path: str | os.PathLike[str]) -> dict[str, Any]:
    """The tensors of the weights file ``path`` (from :func:`fetch_weights`), keys mapped to the brick's names.

    Raises :class:`~torchbricks.errors.CorruptWeightsError` naming the file when it cannot be read as the
    entry's format or holds anything but tensors.
    """
    path = Path(path)
    if not is_regular_file(path):
        raise WeightsUnavailableError(f"Pretrained weights '{weights.name}': {path} is not a file")
    what = f"Pretrained weights '{weights.name}': {path}"
    try:
        if weights.format == "safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path), device="cpu")
        else:
            import torch

            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CorruptWeightsError(
            f"{what} cannot be read as {weights.format}: {type(error).__name__}: {error}"
        ) from error
    state = _unwrap(state)
    import torch

    if not isinstance(state, Mapping) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        raise CorruptWeightsError(f"{what} is not a state dict (a mapping of names to tensors)")
    return map_keys(state, weights.key_mapping, what)


def _unwrap(state: Any) -> Any:
    if isinstance(state, Mapping):
        for key in _WRAPPERS:
            inner = state.get(key)
            if isinstance(inner, Mapping) and all(not isinstance(value, Mapping) for value in inner.values()):
                others = [name for name in state if name != key]
                if all(not _is_tensor(state[name]) for name in others):
                    return inner
    return state


def _is_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def map_keys(
    state: Mapping[str, Any], mapping: tuple[tuple[str, str | None], ...], what: str = "state dict"
) -> dict[str, Any]:
    """``state`` with its keys renamed by the first matching ``(old_prefix, new_prefix)`` (``None``: dropped)."""
    mapped: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for key, value in state.items():
        new_key: str | None = key
        for old, new in mapping:
            if key.startswith(old):
                new_key = None if new is None else new + key[len(old) :]
                break
        if new_key is None:
            continue
        if new_key in mapped:
            raise CorruptWeightsError(f"{what}: the keys '{origin[new_key]}' and '{key}' both map to '{new_key}'")
        mapped[new_key] = value
        origin[new_key] = key
    return mapped
