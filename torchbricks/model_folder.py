"""Deprecated place of names that moved in the 0.5 re-layout; importing them here warns (``FutureWarning``).

Moved: ``save_model``, ``load_model``.
This module goes in the next release.
"""

from torchbricks._deprecation import moved_module_getattr

__getattr__ = moved_module_getattr(
    "torchbricks.model_folder",
    {
        "save_model": "torchbricks.assembly",
        "load_model": "torchbricks.assembly",
    },
)
