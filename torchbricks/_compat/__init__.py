"""The compatibility wing: every old import path of torchbricks and its standard pack, served from one table.

:func:`install` (run once by ``torchbricks/__init__.py``) puts a finder first on ``sys.meta_path``. It
answers only the names of :mod:`torchbricks._compat._table`:

* an old module path (``torchbricks.model_stage``, ``torchbricks.bag_of_bricks.backbones``, ...) is
  built on import from the places the table names — the same objects as the new places;
* a current module that still serves old names (``torchbricks.bricks.Tag``) is loaded as usual and gets a
  module ``__getattr__`` for those names.

The seed README's paths import silently (they are the documented contract); every other old path warns
once, with a ``FutureWarning`` naming the new place and the release that removes it. No module of the
project imports an old path or this package; only ``torchbricks/__init__.py`` installs the finder.

Example:
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     from torchbricks.brick_collection import BrickCollection   # the seed README's path: silent
    >>> import torchbricks
    >>> BrickCollection is torchbricks.BrickCollection, caught
    (True, [])
"""

from __future__ import annotations

import importlib
import importlib.machinery
import operator
import sys
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from torchbricks._compat._table import HELPERS, OLD_ATTRIBUTE_SINCE, OLD_ATTRIBUTES, OLD_PATHS, REMOVED_IN, OldPath

__all__ = ["install", "old_path_warning", "resolve_place"]

_MARK = "__torchbricks_old_names__"


def install() -> None:
    """Put the old-path finder first on ``sys.meta_path`` (once), and serve the old names of loaded modules."""
    if not any(isinstance(finder, OldPathFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, OldPathFinder())
    for name in OLD_ATTRIBUTES:
        module = sys.modules.get(name)
        if module is not None:  # imported before torchbricks was (bag_of_bricks.tasks imports torchbricks itself)
            add_old_names(module)


class OldPathFinder:  # a meta path finder by protocol (importlib.abc costs ~10 ms at start-up)
    """Finds the old module paths of the table; lets every other finder load the current modules."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        old = OLD_PATHS.get(fullname)
        if old is not None:
            return importlib.machinery.ModuleSpec(fullname, OLD_MODULE_LOADER, is_package=old.package)
        if fullname in OLD_ATTRIBUTES:
            spec = self._spec_from_other_finders(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = LoaderAddingOldNames(spec.loader)
            return spec
        return None

    def _spec_from_other_finders(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None
    ) -> importlib.machinery.ModuleSpec | None:
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                return spec
        return None


class OldModuleLoader:  # a loader by protocol: create_module + exec_module
    """Builds an old module: a warning unless it is contract, then the names from their new places."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        old = OLD_PATHS[module.__name__]
        if not old.contract:
            warnings.warn(old_path_warning(module.__name__), FutureWarning, stacklevel=2)
        values: dict[str, Any] = {}
        for name, place in old.names.items():
            if name == "*":
                source = importlib.import_module(place.partition(":")[0])
                values.update({each: getattr(source, each) for each in source.__all__})
            else:
                values[name] = resolve_place(place)
        module.__dict__.update(values)
        module.__all__ = sorted(values)
        module.__doc__ = (
            f"Old import path (torchbricks {old.since}); its names live elsewhere now "
            f"(see torchbricks._compat and the migration guide)."
        )


OLD_MODULE_LOADER = OldModuleLoader()


class LoaderAddingOldNames:  # a loader by protocol, wrapping the module's own
    """Loads a current module with its own loader, after giving it a ``__getattr__`` for its old names."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        add_old_names(module)
        self.loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, ...: the module's own loader
        return getattr(self.loader, name)


def add_old_names(module: ModuleType) -> None:
    """Give ``module`` a ``__getattr__`` serving its old names (:data:`OLD_ATTRIBUTES`) with a warning."""
    if getattr(module, _MARK, False):
        return
    old_names = OLD_ATTRIBUTES[module.__name__]
    own: Callable[[str], Any] | None = module.__dict__.get("__getattr__")

    def old_name(name: str) -> Any:
        place = old_names.get(name)
        if place is None:
            if own is not None:
                return own(name)
            raise AttributeError(f"module '{module.__name__}' has no attribute '{name}'")
        warnings.warn(old_name_warning(module.__name__, name, place), FutureWarning, stacklevel=2)
        return resolve_place(place)

    module.__getattr__ = old_name  # type: ignore[method-assign]  # PEP 562
    setattr(module, _MARK, True)


def resolve_place(place: str) -> Any:
    """The object at ``"module:attribute"`` (the attribute may be dotted: ``"torchbricks.groups:Stage.TRAIN"``).

    Example:
        >>> sorted(resolve_place("torchbricks.groups:Stage.INFERENCE.groups"))
        ['MODEL']
    """
    module, _, attribute = place.partition(":")
    return operator.attrgetter(attribute)(importlib.import_module(module))


def old_path_warning(old_module: str) -> str:
    """The ``FutureWarning`` of an old module path: where each name lives now, and when the path goes.

    Example:
        >>> message = old_path_warning("torchbricks.model_folder")
        >>> message.split(": ")[0]
        'torchbricks.model_folder is an old import path (torchbricks 0.5.dev) and goes in torchbricks 0.6'
        >>> message.split(": ")[1]
        'import save_model, load_model from torchbricks.assembly.'
        >>> print(old_path_warning("torchbricks.brick_tags").split(": ", 1)[1][:61])
        import from torchbricks.groups: ModelStage as Stage, TRAINING
    """
    old: OldPath = OLD_PATHS[old_module]
    by_module: dict[str, list[str]] = {}
    kept: list[str] = []
    for name, place in old.names.items():
        module, _, attribute = place.partition(":")
        if module == HELPERS:
            kept.append(name)
        else:
            by_module.setdefault(module, []).append(
                "everything" if name == "*" else name if attribute == name else f"{name} as {attribute}"
            )
    said = [
        f"import {', '.join(names)} from {module}"
        if all(" as " not in name for name in names)
        else f"import from {module}: {', '.join(names)}"
        for module, names in by_module.items()
    ]
    if kept:
        said.append(f"{', '.join(kept)}: no new place (use {old.instead})")
    return (
        f"{old_module} is an old import path (torchbricks {old.since}) and goes in torchbricks {REMOVED_IN}: "
        f"{'; '.join(said)}."
    )


def old_name_warning(module: str, name: str, place: str) -> str:
    """The ``FutureWarning`` of an old name inside a current module.

    Example:
        >>> print(old_name_warning("bag_of_bricks.tasks", "task_kind", "torchbricks.features:task_kind")[:92])
        bag_of_bricks.tasks.task_kind moved to torchbricks.features.task_kind; import it from there.
    """
    since = OLD_ATTRIBUTE_SINCE.get(module, "0.5.dev")
    if place.startswith(HELPERS + ":"):
        where = "is an old name; use the group names (torchbricks.MODEL, ...) instead"
    else:
        where = f"moved to {place.replace(':', '.')}; import it from there"
    return f"{module}.{name} {where}. The old name (torchbricks {since}) goes in torchbricks {REMOVED_IN}."
