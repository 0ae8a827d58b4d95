"""Names that moved: still importable from their old place for one release, with a ``FutureWarning``.

Example:
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     spec_type = moved("torchbricks.registry.FeatureSpec", "torchbricks.features", "FeatureSpec")
    >>> spec_type.__module__, caught[0].category.__name__
    ('torchbricks.features', 'FutureWarning')
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any


def moved(old: str, module: str, name: str, stacklevel: int = 3) -> Any:
    """Warn that ``old`` is now ``module.name`` and return the object from its new place."""
    also = " (or from `torchbricks`)" if module.startswith("torchbricks") else ""
    warnings.warn(
        f"{old} moved to {module}.{name}; import it from there{also}. The old place goes in the next release.",
        FutureWarning,
        stacklevel=stacklevel,
    )
    return getattr(importlib.import_module(module), name)


def moved_module_getattr(old_module: str, new_places: dict[str, str]) -> Any:
    """A module ``__getattr__`` serving each name of ``new_places`` (name → new module) via :func:`moved`."""

    def moved_attribute(name: str) -> Any:
        module = new_places.get(name)
        if module is None:
            raise AttributeError(f"module '{old_module}' has no attribute '{name}'")
        return moved(f"{old_module}.{name}", module, name)

    return moved_attribute
