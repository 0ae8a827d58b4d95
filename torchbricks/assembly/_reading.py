"""Reading config files that may come from anywhere: plain data only, bounded in size and depth.

JSON and YAML are parsed into dicts, lists, strings, numbers, booleans and ``None`` — nothing else.
YAML tags beyond plain data (``!!python/...``) and aliases (``*anchor``, which let a few hundred bytes
expand into gigabytes) are refused, and so are files over :data:`MAX_BYTES`, nesting deeper than
:data:`MAX_DEPTH`, text that is not UTF-8, and anything that is not a regular file (a FIFO would
block). Every failure is a :class:`~torchbricks.errors.ConfigError` naming the file.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "config.json"
    >>> _ = path.write_text('{"backbone": "resnet18"}')
    >>> read_data_file(path)
    {'backbone': 'resnet18'}
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from torchbricks.errors import ConfigError

MAX_BYTES = 4 * 1024 * 1024
"""The largest config file read (4 MiB; real configs are a few KiB)."""
MAX_DEPTH = 64
"""The deepest nesting of lists and mappings accepted."""
SUFFIXES = (".json", ".yaml", ".yml")


def read_data_file(path: Path) -> dict[str, Any]:
    """Parse a ``.json``/``.yaml``/``.yml`` file that must hold a mapping at the top."""
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ConfigError(f"Config file '{path}' must end in .json, .yaml or .yml")
    text = read_text(path)
    data = _parse_yaml(text, path) if path.suffix in (".yaml", ".yml") else _parse_json(text, path)
    if not isinstance(data, dict):
        raise ConfigError(f"Config file '{path}' must hold a mapping at the top, got {type(data).__name__}")
    return data


def read_text(path: Path, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes``; a ConfigError naming the file otherwise."""
    try:
        info = path.stat()
    except OSError as error:
        raise ConfigError(f"Cannot read config file '{path}': {error}") from error
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"Config file '{path}' is not a regular file")
    if info.st_size > max_bytes:
        raise ConfigError(f"Config file '{path}' is {info.st_size:,} bytes; config files are limited to {max_bytes:,}")
    try:
        with open(path, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as error:
        raise ConfigError(f"Cannot read config file '{path}': {error}") from error
    if len(raw) > max_bytes:
        raise ConfigError(f"Config file '{path}' is over {max_bytes:,} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"Config file '{path}' is not UTF-8 text: {error}") from error


def _parse_json(text: str, path: Path) -> Any:
    try:
        data = json.loads(text)
    except RecursionError as error:
        raise ConfigError(f"Config file '{path}' nests too deeply (at most {MAX_DEPTH} levels)") from error
    except ValueError as error:
        raise ConfigError(f"Config file '{path}' is not valid JSON: {error}") from error
    _check_depth(data, path)
    return data


def _parse_yaml(text: str, path: Path) -> Any:
    try:
        import yaml
    except ImportError as error:
        raise ConfigError(
            f"Reading '{path}' needs PyYAML: pip install 'torchbricks[yaml]' (or use a .json config)"
        ) from error

    class PlainDataLoader(yaml.SafeLoader):
        """SafeLoader without aliases, with a depth limit."""

        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise ConfigError(
                    f"Config file '{path}' uses a YAML alias (line {mark.line + 1}); aliases are not allowed in configs"
                )
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ConfigError(f"Config file '{path}' nests too deeply (at most {MAX_DEPTH} levels)")
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    try:
        return yaml.load(text, Loader=PlainDataLoader)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        reason = getattr(error, "problem", None) or str(error)
        raise ConfigError(
            f"Config file '{path}' is not valid YAML of plain data{line}: {' '.join(str(reason).split())}"
        ) from error
    except RecursionError as error:
        raise ConfigError(f"Config file '{path}' nests too deeply (at most {MAX_DEPTH} levels)") from error


def _check_depth(data: Any, path: Path) -> None:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigError(f"Config file '{path}' nests too deeply (at most {MAX_DEPTH} levels)")
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
