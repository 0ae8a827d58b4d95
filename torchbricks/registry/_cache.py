"""A cache of what hook plugins registered, keyed by the installed distributions.

Listing bricks from a plugin that registers them dynamically (e.g. every timm architecture) means
importing the plugin and its dependencies. The first listing stores the result; later listings read
it instead, until anything is installed or uninstalled (the key covers the name, version and
modification time of every distribution on ``sys.path``).

Set ``TORCHBRICKS_NO_CACHE=1`` to disable it, ``TORCHBRICKS_CACHE_DIR`` to move it.

A cache file is only ever a hint: anything but a regular file (a FIFO, a folder; nothing blocks), a
file that is too large, not JSON, or with any record of the wrong shape, is ignored as a miss and
rewritten.

Example:
    >>> len(environment_fingerprint()) == 64
    True
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from torchbricks._environment import CACHE_DIR, NO_CACHE, flag
from torchbricks._files import atomic_write_bytes
from torchbricks.errors import RegistryError
from torchbricks.features import FeatureSpec, TaskInterface
from torchbricks.registry._entries import TASKS
from torchbricks.registry._kinds import KINDS
from torchbricks.registry._registrar import check_brick_name

CACHE_FORMAT = 2
"""Part of the key: 2 records tasks' interfaces (``feature_kind``, ``max_stride``), which 1 left ``None``."""
MAX_CACHE_BYTES = 64 * 1024 * 1024
"""A larger cache file is ignored (a few thousand bricks take well under a megabyte)."""
_KEPT_PER_ENVIRONMENT = 3
_DISTRIBUTION_SUFFIXES = (".dist-info", ".egg-info", ".egg-link", ".pth")


def cache_enabled() -> bool:
    """False when ``TORCHBRICKS_NO_CACHE`` is set to a true value."""
    return not flag(NO_CACHE)


def cache_directory() -> Path:
    """``$TORCHBRICKS_CACHE_DIR``, else ``$XDG_CACHE_HOME/torchbricks``, else ``~/.cache/torchbricks``."""
    explicit = os.environ.get(CACHE_DIR)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "torchbricks"


def environment_fingerprint() -> str:
    """A hash of the interpreter and every installed distribution (name, version, modification time)."""
    digest = hashlib.sha256()
    digest.update(f"{CACHE_FORMAT}|{sys.prefix}|{sys.version}".encode())
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as items:
                found = sorted(
                    (item.name, item.stat().st_mtime_ns) for item in items if item.name.endswith(_DISTRIBUTION_SUFFIXES)
                )
        except OSError:
            continue
        if not found:
            continue  # e.g. the script's folder: it must not change the key (or caches would thrash)
        digest.update(f"\n{entry}".encode())
        for name, modified in found:
            digest.update(f"|{name}:{modified}".encode())
    return digest.hexdigest()


def read_cache(fingerprint: str) -> dict[str, Any]:
    """The cached plugin registrations for this environment, or ``{}`` when there is no valid cache.

    Example:
        >>> read_cache("no such fingerprint")
        {}
    """
    if not cache_enabled():
        return {}
    data = _read_json(_cache_file(fingerprint))
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or data.get("fingerprint") != fingerprint:
        return {}
    plugins = data.get("plugins")
    return plugins if valid_plugins(plugins) else {}


def _read_json(path: Path) -> Any:
    """The JSON in ``path`` when it is a regular file of a sane size; ``None`` otherwise (never blocks)."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it (no stat/open race).
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except (OSError, ValueError):
        return None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode) or status.st_size > MAX_CACHE_BYTES:
            return None
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            payload = handle.read(MAX_CACHE_BYTES + 1)
        if len(payload) > MAX_CACHE_BYTES:
            return None
        return json.loads(payload.decode("utf-8"))
    except (OSError, ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    finally:
        os.close(descriptor)


def valid_plugins(plugins: Any) -> bool:
    """Whether ``plugins`` has the shape :func:`write_cache` stores: every field of every record checked.

    Example:
        >>> record = {"kind": "heads", "name": "tiny", "target": "m:f", "summary": "", "signature": "()",
        ...           "interface": None}
        >>> valid_plugins({"my-pack:plugin": {"hooks": ["torchbricks_register_bricks"], "entries": [record]}})
        True
        >>> valid_plugins({"my-pack:plugin": {"hooks": [], "entries": [{**record, "summary": 3}]}})
        False
    """
    if not isinstance(plugins, dict):
        return False
    for key, record in plugins.items():
        if not isinstance(key, str) or not isinstance(record, dict) or set(record) != {"hooks", "entries"}:
            return False
        hooks, entries = record["hooks"], record["entries"]
        if not isinstance(hooks, list) or not all(isinstance(hook, str) for hook in hooks):
            return False
        if not isinstance(entries, list) or not all(_valid_entry(entry) for entry in entries):
            return False
    return True


_ENTRY_FIELDS = frozenset({"kind", "name", "target", "summary", "signature", "interface"})
_OPTIONAL_ENTRY_FIELDS = frozenset({"optional"})
"""Fields a record may lack (written by later versions of the cache); ``optional`` defaults to ``False``."""


def _valid_entry(entry: Any) -> bool:
    if not isinstance(entry, dict) or not _ENTRY_FIELDS <= set(entry) <= _ENTRY_FIELDS | _OPTIONAL_ENTRY_FIELDS:
        return False
    if entry["kind"] not in KINDS or not isinstance(entry.get("optional", False), bool):
        return False
    if not all(isinstance(entry[key], str) for key in ("target", "summary", "signature")):
        return False
    try:
        check_brick_name(entry["name"], "cache")
    except RegistryError:
        return False
    interface = entry["interface"]
    if interface is None:
        return True
    if entry["kind"] == TASKS:
        return _valid_task_interface(interface)
    if not isinstance(interface, dict) or set(interface) != {"names", "channels", "strides"}:
        return False
    names, channels, strides = interface["names"], interface["channels"], interface["strides"]
    if not all(isinstance(values, list) for values in (names, channels, strides)):
        return False
    if not all(isinstance(name, str) for name in names):
        return False
    numbers = [*channels, *strides]
    if not all(isinstance(number, int) and not isinstance(number, bool) for number in numbers):
        return False
    try:
        FeatureSpec.from_dict(interface)
    except (TypeError, ValueError):
        return False
    return True


def _valid_task_interface(interface: Any) -> bool:
    """A task's interface as :meth:`TaskInterface.to_dict` writes it (``max_stride`` an integer or ``None``)."""
    if not isinstance(interface, dict) or set(interface) != {"feature_kind", "max_stride"}:
        return False
    try:
        TaskInterface.from_dict(interface)
    except (TypeError, ValueError):
        return False
    return True


def write_cache(fingerprint: str, plugins: dict[str, Any]) -> None:
    """Store plugin registrations atomically; a cache that cannot be written is silently skipped."""
    if not cache_enabled():
        return
    path = _cache_file(fingerprint)
    try:
        payload = json.dumps({"format": CACHE_FORMAT, "fingerprint": fingerprint, "plugins": plugins}, sort_keys=True)
    except (TypeError, ValueError):  # registrations are validated; this is only a safety net
        return
    try:
        atomic_write_bytes(path, payload.encode("utf-8"))
        others = sorted(
            (stale for stale in path.parent.glob(f"plugins-{_environment_id()}-*.json") if stale != path),
            key=lambda stale: stale.stat().st_mtime,
        )
        for stale in others[:-_KEPT_PER_ENVIRONMENT]:  # keep a few: switching between installs stays fast
            stale.unlink(missing_ok=True)
    except OSError:
        return


def _environment_id() -> str:
    """Identifies the Python environment, so environments sharing a cache folder keep their own files."""
    return hashlib.sha256(sys.prefix.encode()).hexdigest()[:12]


def _cache_file(fingerprint: str) -> Path:
    return cache_directory() / f"plugins-{_environment_id()}-{fingerprint[:24]}.json"
