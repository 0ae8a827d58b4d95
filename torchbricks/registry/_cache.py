"""A cache of what hook plugins registered, keyed by the installed distributions.

Listing bricks from a plugin that registers them dynamically (e.g. every timm architecture) means
importing the plugin and its dependencies. The first listing stores the result; later listings read
it instead, until anything is installed or uninstalled (the key covers the name, version and
modification time of every distribution on ``sys.path``).

Set ``TORCHBRICKS_NO_CACHE=1`` to disable it, ``TORCHBRICKS_CACHE_DIR`` to move it.

Example:
    >>> len(environment_fingerprint()) == 64
    True
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from torchbricks._environment import CACHE_DIR, NO_CACHE, flag
from torchbricks._files import atomic_write_bytes

CACHE_FORMAT = 1
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
    """The cached plugin registrations for this environment, or ``{}``."""
    if not cache_enabled():
        return {}
    path = _cache_file(fingerprint)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or data.get("fingerprint") != fingerprint:
        return {}
    plugins = data.get("plugins")
    return plugins if isinstance(plugins, dict) else {}


def write_cache(fingerprint: str, plugins: dict[str, Any]) -> None:
    """Store plugin registrations atomically; a cache that cannot be written is silently skipped."""
    if not cache_enabled():
        return
    path = _cache_file(fingerprint)
    payload = json.dumps({"format": CACHE_FORMAT, "fingerprint": fingerprint, "plugins": plugins}, sort_keys=True)
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
