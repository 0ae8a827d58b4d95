"""Deprecated place of names that moved in the 0.5 re-layout; importing them here warns (``FutureWarning``).

Moved: ``build_model``, ``resolve_config``, ``load_config``.
This module goes in the next release.
"""

from torchbricks._deprecation import moved_module_getattr

__getattr__ = moved_module_getattr(
    "torchbricks.model_config",
    {
        "build_model": "torchbricks.assembly",
        "resolve_config": "torchbricks.assembly",
        "load_config": "torchbricks.assembly",
    },
)
