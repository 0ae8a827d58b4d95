"""``--set key=value`` overrides of a config: dotted paths, list indexes, values parsed as YAML.

Example:
    >>> apply_overrides({"data": {"train": [{"name": "shapes"}]}}, ["data.train[0].count=64", "seed=3"])
    {'data': {'train': [{'name': 'shapes', 'count': 64}]}, 'seed': 3}
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from torchbricks.errors import ConfigError


def apply_overrides(config: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """``config`` with each ``dotted.path=value`` set (YAML values; ``a.b.0.c`` or ``a.b[0].c`` indexes lists).

    Example:
        >>> config = {"data": {"train": [{"name": "shapes", "count": 8}]}}
        >>> apply_overrides(config, ["data.train.0.count=16"])["data"]["train"][0]["count"]
        16
    """
    result = copy.deepcopy(dict(config))
    for override in overrides:
        path, separator, text = override.partition("=")
        if not separator or not path:
            raise ConfigError(f"--set {override!r}: must be key=value (e.g. trainer.max_steps=100)")
        keys: list[str | int] = []
        for part in path.split("."):
            match = re.fullmatch(r"([^\[\]]+)((?:\[\d+\])*)", part)
            if match is None:
                raise ConfigError(f"--set {override!r}: cannot read the key path '{path}'")
            keys.append(match.group(1))
            keys.extend(int(index) for index in re.findall(r"\[(\d+)\]", match.group(2)))
        _set(result, keys, _parse_value(text), override)
    return result


def _parse_value(text: str) -> Any:
    try:
        import yaml

        return yaml.safe_load(text) if text else ""
    except ImportError:
        try:
            return json.loads(text)
        except ValueError:
            return text
    except Exception:
        return text


def _set(config: dict[str, Any], keys: list[str | int], value: Any, override: str) -> None:
    """Set ``value`` at ``keys``: in a list a key is an index (``0`` or ``[0]``), in a mapping a name."""
    node: Any = config
    for position, key in enumerate(keys[:-1]):
        if isinstance(node, list):
            node = node[_index(node, key, override)]
            continue
        if not isinstance(node, dict) or isinstance(key, int):
            raise ConfigError(f"--set {override!r}: {_not_there(key)}")
        if node.get(key) is None:
            node[key] = [] if isinstance(keys[position + 1], int) else {}
        node = node[key]
    last = keys[-1]
    if isinstance(node, list):
        node[_index(node, last, override)] = value
    elif isinstance(node, dict) and not isinstance(last, int):
        node[last] = value
    else:
        raise ConfigError(f"--set {override!r}: {_not_there(last)}")


def _index(items: list[Any], key: str | int, override: str) -> int:
    """``key`` as an index of ``items`` (``0`` or ``[0]``)."""
    if isinstance(key, str) and not key.isdigit():
        raise ConfigError(f"--set {override!r}: '{key}' is inside a list; use an item's index (data.train.0.count)")
    index = int(key)
    if index >= len(items):
        raise ConfigError(f"--set {override!r}: no item [{index}] there (the list has {len(items)})")
    return index


def _not_there(key: str | int) -> str:
    return f"no item [{key}] there" if isinstance(key, int) else f"'{key}' is not inside a mapping"
