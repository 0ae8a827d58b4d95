"""Environment-variable switches, parsed in one place.

Example:
    >>> import os
    >>> os.environ["TORCHBRICKS_DOCTEST_FLAG"] = "yes"
    >>> flag("TORCHBRICKS_DOCTEST_FLAG")
    True
    >>> flag("TORCHBRICKS_UNSET_FLAG")
    False
"""

from __future__ import annotations

import os

TRUE_VALUES = frozenset({"1", "true", "yes", "on"})

STRICT_PACKS = "TORCHBRICKS_STRICT_PLUGINS"
"""Set to ``1`` to make a pack that fails to load an error everywhere (``--strict`` on every command)."""

NO_CACHE = "TORCHBRICKS_NO_CACHE"
"""Set to ``1`` to disable the registry cache of hook registrations."""

CACHE_DIR = "TORCHBRICKS_CACHE_DIR"
"""Where the registry cache lives (default ``$XDG_CACHE_HOME/torchbricks``); pretrained weights go to ``weights/``."""

OFFLINE = "TORCHBRICKS_OFFLINE"
"""Set to ``1`` to never download pretrained weights (no socket is opened): only files already on disk are used."""

WEIGHTS_MIRROR = "TORCHBRICKS_WEIGHTS_MIRROR"
"""Folders (separated by ``os.pathsep``) searched for pretrained weights files before the network."""

DOWNLOAD_TIMEOUT = "TORCHBRICKS_DOWNLOAD_TIMEOUT"
"""Seconds a weights download may wait for the server to answer or send more bytes (default 60)."""

HOOK_TIMEOUT = "TORCHBRICKS_HOOK_TIMEOUT"
"""Seconds a pack's plugin may take to import and run its registration hook (default 30; ``0``: no limit)."""

CHECK_TIMEOUT = "TORCHBRICKS_CHECK_TIMEOUT"
"""Seconds ``torchbricks packs --check`` gives each pack to import all its bricks (default 120; ``0``: no limit)."""


def flag(name: str) -> bool:
    """True when the environment variable ``name`` is set to ``1``, ``true``, ``yes`` or ``on``."""
    return os.environ.get(name, "").strip().lower() in TRUE_VALUES


def seconds(name: str, default: float) -> float | None:
    """The environment variable ``name`` as a number of seconds; ``None`` (no limit) for ``0`` or less.

    Unset, empty or not a number: ``default``.

    Example:
        >>> os.environ["TORCHBRICKS_DOCTEST_SECONDS"] = "2.5"
        >>> seconds("TORCHBRICKS_DOCTEST_SECONDS", 10)
        2.5
        >>> seconds("TORCHBRICKS_UNSET_SECONDS", 10)
        10
    """
    text = os.environ.get(name, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        value = default
    if value != value:  # nan
        value = default
    return value if 0 < value < float("inf") else None
