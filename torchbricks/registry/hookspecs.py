"""Deprecated place of names that moved in the 0.5 re-layout; importing them here warns (``FutureWarning``).

Moved: ``hookimpl``.
This module goes in the next release.
"""

from torchbricks._deprecation import moved_module_getattr

__getattr__ = moved_module_getattr(
    "torchbricks.registry.hookspecs",
    {
        "hookimpl": "torchbricks.registry",
    },
)
