"""torchbricks 0.3 import path of the nested-dict helpers.

Example:
    >>> unflatten({"head0/logits": 1, "head0/loss": 2, "raw": 3})
    {'head0': {'logits': 1, 'loss': 2}, 'raw': 3}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torchbricks.collection import BrickCollection

__all__ = ["flatten_dict", "unflatten"]


def flatten_dict(bricks: Mapping[str, Any], parent_key: str = "", sep: str = ".") -> dict[str, Any]:
    """A collection's bricks as one flat dict keyed by their joined names (``{"head.classify": brick}``).

    Nested ``BrickCollection``s are flattened; any other value, a plain dict included, is kept as it is.
    ``collection.named_bricks()`` gives the same with ``/`` paths.
    """
    flat: dict[str, Any] = {}
    for key, value in bricks.items():
        name = f"{parent_key}{sep}{key}" if parent_key else key
        if isinstance(value, BrickCollection):
            flat.update(flatten_dict(value, name, sep=sep))
        else:
            flat[name] = value
    return flat


def unflatten(flat: Mapping[str, Any], base: dict[str, Any] | None = None, sep: str = "/") -> dict[str, Any]:
    """Nest the keys that contain ``sep`` (``{"a/b": 1}`` → ``{"a": {"b": 1}}``), merging into ``base``.

    Dict values are unflattened too and merged with what is already there; later keys overwrite earlier
    ones. ``base`` (default: a new dict) is filled in and returned.
    """
    result = {} if base is None else base
    for key, value in flat.items():
        *parents, leaf = key.split(sep) if sep in key else (key,)
        target = result
        for parent in parents:
            target = target.setdefault(parent, {})
        if isinstance(value, Mapping):
            existing = target.get(leaf)
            value = unflatten(value, existing if isinstance(existing, dict) else {}, sep=sep)
        target[leaf] = value
    return result
