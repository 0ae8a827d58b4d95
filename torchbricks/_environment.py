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
"""Where the registry cache lives (default ``$XDG_CACHE_HOME/torchbricks``)."""


def flag(name: str) -> bool:
    """True when the environment variable ``name`` is set to ``1``, ``true``, ``yes`` or ``on``."""
    return os.environ.get(name, "").strip().lower() in TRUE_VALUES
