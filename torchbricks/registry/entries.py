"""Deprecated place of names that moved in the 0.5 re-layout; importing them here warns (``FutureWarning``).

Moved: ``FeatureSpec``, ``declare_features``, ``BrickEntry``, ``PackStatus``, ``LOCAL_PACK``.
This module goes in the next release.
"""

from torchbricks._deprecation import moved_module_getattr

__getattr__ = moved_module_getattr(
    "torchbricks.registry.entries",
    {
        "FeatureSpec": "torchbricks.features",
        "declare_features": "torchbricks.features",
        "BrickEntry": "torchbricks.registry",
        "PackStatus": "torchbricks.registry",
        "LOCAL_PACK": "torchbricks.registry",
    },
)
