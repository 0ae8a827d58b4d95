"""The registries: list, look up and create bricks of every kind by name.

Names are unique per pack. ``pack:name`` always works; a bare ``name`` works when one pack registers
it. Bricks from installed packs are discovered lazily on first use (see
:mod:`torchbricks.registry._discovery`); bricks of the running program are added with :func:`register`.

Example:
    >>> @register("heads", name="doc_example_head")
    ... def doc_example_head(num_classes: int = 2):
    ...     '''A head for the docs.'''
    ...     return num_classes
    >>> create("heads", "doc_example_head", num_classes=3)
    3
    >>> get_entry("heads", "local:doc_example_head").summary
    'A head for the docs.'
    >>> unregister("heads", "doc_example_head")
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.metadata
import re
import threading
from collections.abc import Callable
from typing import Any

from torchbricks._arguments import check_arguments
from torchbricks._environment import STRICT_PACKS, flag
from torchbricks.errors import (
    AmbiguousBrickNameError,
    BrickArgumentError,
    DuplicateBrickError,
    MissingDependencyError,
    NotABrickError,
    PluginLoadError,
    RegistryError,
    UnknownBrickError,
)
from torchbricks.features import FeatureSpec, TaskInterface
from torchbricks.registry import _source_inspection as source_inspection
from torchbricks.registry._discovery import Discovery, discover, in_plugin_code
from torchbricks.registry._entries import LOCAL_PACK, BrickEntry, PackStatus
from torchbricks.registry._kinds import KINDS, WEIGHTS, canonical_pack_name, normalize_kind
from torchbricks.registry._registrar import BrickRegistrar
from torchbricks.suggestions import close_matches, did_you_mean

CORE_PACK = "torchbricks"
"""The core distribution. Its own pack (``bag_of_bricks``) wins a bare name that other packs also register."""


class _Index:
    """Entries of one kind by qualified name (canonical pack) and by bare name.

    A bare name resolves by precedence: the only entry with that name; else the core pack's entry
    (the others are *shadowed*: reachable as ``pack:name``); else it is a *clash* and lookups must
    use ``pack:name``. Installing a pack therefore never changes what a bare name of the core pack means.
    """

    def __init__(self) -> None:
        self.qualified: dict[str, BrickEntry] = {}
        self.bare: dict[str, list[BrickEntry]] = {}

    def add(self, entry: BrickEntry) -> None:
        self.qualified[f"{entry.pack_key}:{entry.name}"] = entry
        candidates = self.bare.setdefault(entry.name, [])
        candidates.append(entry)
        candidates.sort(key=lambda item: item.pack_key)
        self._mark(entry.name)

    def remove(self, entry: BrickEntry) -> None:
        self.qualified.pop(f"{entry.pack_key}:{entry.name}", None)
        candidates = self.bare.get(entry.name, [])
        if entry in candidates:
            candidates.remove(entry)
            entry.shadowed_by, entry.clashes_with = None, ()
        if not candidates:
            self.bare.pop(entry.name, None)
        self._mark(entry.name)

    def resolve(self, name: str) -> BrickEntry | None:
        """The entry a bare name means, or ``None`` when it is unknown or a clash."""
        candidates = self.bare.get(name)
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        return _core_entry(candidates)

    def _mark(self, name: str) -> None:
        candidates = self.bare.get(name, [])
        winner = self.resolve(name)
        for entry in candidates:
            others = tuple(other.qualified_name for other in candidates if other is not entry)
            entry.shadowed_by = winner.qualified_name if winner is not None and winner is not entry else None
            entry.clashes_with = others if winner is None else ()


def _core_entry(candidates: list[BrickEntry]) -> BrickEntry | None:
    return next((entry for entry in candidates if entry.pack_key == CORE_PACK), None)


class _Registries:
    """Process-wide state: discovered packs, local registrations and the per-kind indexes."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        """Guards ``discovery``, ``local`` and ``indexes``; not held while packs run (their threads may register)."""
        self.discovering = threading.Lock()
        """One discovery at a time."""
        self.discovery: Discovery | None = None
        self.local: dict[tuple[str, str], BrickEntry] = {}  # (kind, name) → entry, in registration order
        self.indexes: dict[str, _Index] = {}

    def ready(self, strict: bool | None) -> dict[str, _Index]:
        discovery = self.discovery
        if discovery is None:
            _refuse_in_plugin_code()
            with self.discovering:
                if self.discovery is None:
                    found = discover()
                    with self.lock:
                        self.discovery = found
                        self._rebuild()
                discovery = self.discovery
        if strict_mode(strict):
            broken = [pack for pack in discovery.packs.values() if pack.errors]
            if broken:
                details = "; ".join(f"{pack.name} {pack.version}: {' | '.join(pack.errors)}" for pack in broken)
                raise PluginLoadError(f"{len(broken)} brick pack(s) failed to load (strict mode): {details}")
            clashes = _clashes(self.indexes)
            if clashes:
                raise AmbiguousBrickNameError(
                    f"{len(clashes)} bare name(s) are registered by several packs (strict mode): {'; '.join(clashes)}"
                )
        return self.indexes

    def _rebuild(self) -> None:
        indexes = {kind: _Index() for kind in KINDS}
        for entry in [*(self.discovery.entries if self.discovery else []), *self.local.values()]:
            indexes[entry.kind].add(entry)
        self.indexes = indexes


_REGISTRIES = _Registries()


def _refuse_in_plugin_code() -> None:
    """Plugin code runs while packs are discovered: it would wait for the discovery it is part of."""
    if in_plugin_code():
        raise RegistryError(
            "The brick registry cannot be used while installed packs are being discovered "
            "(from a plugin's module or hook); look bricks up when your bricks are built instead"
        )


def strict_mode(strict: bool | None = None) -> bool:
    """``strict`` when given, else whether ``TORCHBRICKS_STRICT_PLUGINS`` is set to a true value (``1``, ``true``).

    Example:
        >>> strict_mode(True)
        True
    """
    if strict is not None:
        return strict
    return flag(STRICT_PACKS)


def reload(use_cache: bool = True) -> None:
    """Discover installed packs again (after ``pip install`` in a running process); keeps local bricks.

    ``use_cache=False`` ignores the plugin cache and rebuilds it (``torchbricks list --refresh``).

    Example:
        >>> reload()
        >>> get_entry("backbones", "resnet18").pack
        'torchbricks'
    """
    _refuse_in_plugin_code()
    importlib.invalidate_caches()
    source_inspection.clear_caches()
    with _REGISTRIES.discovering:
        found = discover(use_cache=use_cache)
        with _REGISTRIES.lock:
            _REGISTRIES.discovery = found
            _REGISTRIES._rebuild()


def register(
    kind: str,
    name: str | None = None,
    factory: Callable[..., Any] | None = None,
    *,
    summary: str | None = None,
    interface: FeatureSpec | TaskInterface | None = None,
    replace: bool = False,
) -> Any:
    """Register a factory from your own code (pack ``local``); use as ``@register("heads")`` or a call.

    The name defaults to the factory's ``__name__``. Registering a name twice is an error unless
    ``replace=True``. ``interface`` (a task's :class:`TaskInterface`, another brick's :class:`FeatureSpec`)
    defaults to what the factory declares (``@task_kind``, ``@declare_features``).
    """
    kind = normalize_kind(kind)

    def add(function: Callable[..., Any]) -> Callable[..., Any]:
        brick_name = name or getattr(function, "__name__", None)
        registrar = BrickRegistrar(pack=LOCAL_PACK, version="", plugin=LOCAL_PACK, source="register")
        registrar.add(kind, brick_name, function, summary=summary, interface=interface)  # type: ignore[arg-type]
        entry = registrar.entries[0]
        with _REGISTRIES.lock:
            existing = _REGISTRIES.local.pop((kind, entry.name), None)
            if existing is not None and not replace:
                _REGISTRIES.local[(kind, entry.name)] = existing
                raise DuplicateBrickError(
                    f"{kind} '{entry.name}' is already registered by this program; pass replace=True to replace it"
                )
            if existing is not None and _REGISTRIES.indexes:
                _REGISTRIES.indexes[kind].remove(existing)
            _REGISTRIES.local[(kind, entry.name)] = entry
            if _REGISTRIES.indexes:
                _REGISTRIES.indexes[kind].add(entry)
        return function

    return add if factory is None else add(factory)


def unregister(kind: str, name: str) -> None:
    """Remove a brick registered with :func:`register` (installed packs cannot be unregistered)."""
    kind = normalize_kind(kind)
    with _REGISTRIES.lock:
        entry = _REGISTRIES.local.pop((kind, name), None)
        if entry is not None and _REGISTRIES.indexes:
            _REGISTRIES.indexes[kind].remove(entry)


def list_bricks(
    kind: str | None = None, pattern: str = "*", pack: str | None = None, *, strict: bool | None = None
) -> list[BrickEntry]:
    """Registered bricks, sorted by kind, name and pack; nothing is imported.

    ``pattern`` is a glob matched against the bare and the qualified name (``resnet*``,
    ``torchbricks-timm:*``); ``pack`` keeps one pack's bricks.

    Example:
        >>> [entry.name for entry in list_bricks("backbones", "resnet1*", pack="torchbricks")]
        ['resnet101', 'resnet152', 'resnet18']
    """
    indexes = _REGISTRIES.ready(strict)
    kinds = KINDS if kind is None else (normalize_kind(kind),)
    pack_key = canonical_pack_name(pack) if pack else None
    selected = []
    for kind_name in kinds:
        for entry in indexes[kind_name].qualified.values():
            if pack_key is not None and entry.pack_key != pack_key:
                continue
            if pattern != "*" and not (
                fnmatch.fnmatchcase(entry.name, pattern) or fnmatch.fnmatchcase(entry.qualified_name, pattern)
            ):
                continue
            selected.append(entry)
    order = {kind_name: position for position, kind_name in enumerate(KINDS)}
    return sorted(selected, key=lambda entry: (order[entry.kind], entry.name, entry.pack_key))


def get_entry(kind: str, name: str, *, strict: bool | None = None) -> BrickEntry:
    """The entry registered as ``name`` (bare or ``pack:name``); specific errors when none or several match."""
    kind = normalize_kind(kind)
    index = _REGISTRIES.ready(strict)[kind]
    if ":" in name:
        pack, _, bare = name.partition(":")
        entry = index.qualified.get(f"{canonical_pack_name(pack)}:{bare}")
        if entry is not None:
            return entry
        raise _unknown_error(kind, name, bare, pack)
    entry = index.resolve(name)
    if entry is not None:
        return entry
    candidates = index.bare.get(name)
    if candidates:
        options = ", ".join(f"'{entry.qualified_name}'" for entry in candidates)
        raise AmbiguousBrickNameError(
            f"{kind} '{name}' is registered by {len(candidates)} packs: {options}. Use a qualified name "
            f"(a bare name resolves by itself only when one pack registers it, or one of them is {CORE_PACK})."
        )
    raise _unknown_error(kind, name, name, None)


def get(kind: str, name: str, *, strict: bool | None = None) -> Callable[..., Any]:
    """The factory registered as ``name`` (imports it on first use).

    Raises :class:`MissingDependencyError` when it needs a package that is not installed, and
    :class:`PluginLoadError` when it fails to import (recorded in its pack's :func:`packs` status).

    Example:
        >>> normalize = get("preprocessors", "torchbricks:normalize")
        >>> normalize(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)).mean.flatten().tolist()
        [0.5, 0.5, 0.5]
    """
    return load_entry(get_entry(kind, name, strict=strict))


def create(kind: str, name: str, /, **kwargs: Any) -> Any:
    """Build the brick registered as ``name`` with ``kwargs``, checked against the factory's signature first."""
    entry = get_entry(kind, name)
    if entry.kind == WEIGHTS:
        raise NotABrickError(
            f"weights '{entry.qualified_name}' are pretrained weights, not a brick: name them in a brick's "
            f"`weights:` (or use torchbricks.pretrained.find_weights('{entry.name}'))"
        )
    factory = load_entry(entry)
    check_arguments(factory, kwargs, f"{entry.kind} '{entry.qualified_name}'", BrickArgumentError)
    return factory(**kwargs)


def load_entry(entry: BrickEntry) -> Any:
    """``entry.load()``; an import failure (not a missing optional dependency) is recorded in the pack's status.

    Example:
        >>> load_entry(get_entry("preprocessors", "normalize")).__name__
        'normalize'
    """
    try:
        return entry.load()
    except MissingDependencyError:
        raise
    except Exception as error:
        failure = error
        if not isinstance(error, PluginLoadError):
            failure = PluginLoadError(
                f"Brick {entry.kind} '{entry.qualified_name}' ({entry.target}) failed to load: "
                f"{type(error).__name__}: {error}"
            )
        discovery = _REGISTRIES.discovery
        status = discovery.packs.get(entry.pack) if discovery else None
        if status is not None and str(failure) not in status.errors:
            status.errors.append(str(failure))
        if failure is error:
            raise
        raise failure from error


def check(pack: str | None = None, *, timeout: float | None = None) -> list[PackStatus]:
    """Import every brick and run every hook of each installed pack (or of ``pack``); slow.

    Each pack is checked in its own subprocess, so a pack that raises, calls ``sys.exit`` or
    ``os._exit``, or runs past ``timeout`` seconds (default ``TORCHBRICKS_CHECK_TIMEOUT``, 120; ``0``:
    no limit) is reported in its :class:`PackStatus` ``errors`` while every other pack is still
    checked. A brick that needs a module that is not installed is reported in ``missing_dependencies``
    (status ``missing dependency``), with the ``pip install`` that provides it, unless its pack marks
    that dependency optional (entry-point group ``torchbricks.optional_extras``, or
    ``registrar.add(..., optional=True)``): then it is listed in ``optional_missing`` only. Checked
    packs without problems get the status ``ok`` (``unchecked`` before). Returns :func:`packs` (not strict).

    Example:
        Checking a real pack takes seconds (a subprocess imports its bricks); a pack that is not
        installed checks nothing:

        >>> statuses = check("no-such-pack")
        >>> "torchbricks" in [status.name for status in statuses]
        True
    """
    from torchbricks.registry import _check  # subprocesses: only when checking

    pack_key = canonical_pack_name(pack) if pack else None
    selected = [
        status
        for status in packs(strict=False)
        if status.name != LOCAL_PACK and (pack_key is None or canonical_pack_name(status.name) == pack_key)
    ]
    results = _check.check_packs([status.name for status in selected], timeout)
    with _REGISTRIES.lock:
        for status in selected:
            result = results.get(status.name)
            if result is None:
                continue
            status.errors.extend(error for error in result.errors if error not in status.errors)
            status.missing_dependencies = list(result.missing_dependencies)
            status.optional_missing = list(result.optional_missing)
            status.checked = True
    return packs(strict=False)


def packs(*, strict: bool | None = None) -> list[PackStatus]:
    """Installed brick packs with their version, brick counts per kind, hooks, status, errors and clashes.

    Example:
        >>> core = next(status for status in packs() if status.name == CORE_PACK)
        >>> core.bricks["backbones"] > 0, core.errors
        (True, [])
    """
    indexes = _REGISTRIES.ready(strict)
    discovery = _REGISTRIES.discovery
    if discovery is None:
        return []
    for status in discovery.packs.values():
        status.clashes = []
    for index in indexes.values():
        for entry in index.qualified.values():
            status = discovery.packs.get(entry.pack)
            if entry.clashes_with and status is not None:
                status.clashes.append(f"{entry.kind} '{entry.name}' (also {', '.join(entry.clashes_with)})")
    return sorted(discovery.packs.values(), key=lambda pack: canonical_pack_name(pack.name))


def resolution(kind: str, name: str) -> str:
    """Why a bare ``name`` means what it means: the one pack registering it, the core pack's precedence, or a clash.

    Example:
        >>> resolution("backbones", "resnet18").startswith("'resnet18' resolves to torchbricks:resnet18")
        True
    """
    kind = normalize_kind(kind)
    index = _REGISTRIES.ready(False)[kind]
    bare = name.partition(":")[2] if ":" in name else name
    candidates = index.bare.get(bare, [])
    entry = index.resolve(bare)
    if not candidates:
        return f"no {kind} brick is named '{bare}'"
    if entry is not None and len(candidates) == 1:
        return f"'{bare}' resolves to {entry.qualified_name}: the only pack that registers it"
    others = ", ".join(other.qualified_name for other in candidates if other is not entry)
    if entry is not None:
        return (
            f"'{bare}' resolves to {entry.qualified_name}: the core pack ({CORE_PACK}) comes first; "
            f"shadowed, reachable by qualified name: {others}"
        )
    return f"'{bare}' is ambiguous: registered by {others}; use a qualified name"


def _clashes(indexes: dict[str, _Index]) -> list[str]:
    clashes = []
    for kind, index in indexes.items():
        for name, candidates in sorted(index.bare.items()):
            if len(candidates) > 1 and index.resolve(name) is None:
                clashes.append(f"{kind} '{name}' ({', '.join(entry.qualified_name for entry in candidates)})")
    return clashes


_PACKAGE_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")


def _install_hint(pack: str) -> str:
    """`` 'pack' is not installed; install it with: pip install pack.`` for a valid distribution name that
    is not installed (what ``load_model`` says about a saved model's packs), else ``""``.

    Example:
        >>> _install_hint("tbdoc-not-installed-pack")
        " 'tbdoc-not-installed-pack' is not installed; install it with: pip install tbdoc-not-installed-pack."
        >>> _install_hint("torchbricks"), _install_hint("not a package name")
        ('', '')
    """
    if pack == LOCAL_PACK or not _PACKAGE_NAME.match(pack):
        return ""
    try:
        importlib.metadata.distribution(pack)
    except importlib.metadata.PackageNotFoundError:
        return f" '{pack}' is not installed; install it with: pip install {pack}."
    except Exception:  # unreadable metadata: it is installed, somehow
        return ""
    return ""


def _unknown_error(kind: str, name: str, bare: str, pack: str | None) -> UnknownBrickError:
    indexes = _REGISTRIES.indexes
    index = indexes[kind]
    pack_statuses = packs(strict=False)
    if pack is not None and canonical_pack_name(pack) not in {entry.pack_key for entry in index.qualified.values()}:
        known_packs = sorted({entry.pack for entry in index.qualified.values()})
        suggestion = did_you_mean(pack, known_packs)
        message = (
            f"No pack '{pack}' registers {kind}.{suggestion or _install_hint(pack)} "
            f"Packs with {kind}: {', '.join(known_packs) or 'none'}."
        )
    else:
        if pack is None:
            matches = close_matches(bare, index.bare)
        else:  # suggest names of the pack asked for, qualified as asked
            pack_key = canonical_pack_name(pack)
            names = [entry.name for entry in index.qualified.values() if entry.pack_key == pack_key]
            matches = [f"{pack}:{match}" for match in close_matches(bare, names)]
        hint = " Did you mean " + " or ".join(repr(match) for match in matches) + "?" if matches else ""
        message = f"No {kind} brick named '{name}'.{hint}"
        elsewhere = [other for other in KINDS if other != kind and bare in indexes[other].bare]
        if elsewhere:
            message += f" '{bare}' is registered as {' and '.join(elsewhere)}."
    searched = [f"{status.name} {status.version}" for status in pack_statuses if status.bricks.get(kind)]
    if any(entry.pack == LOCAL_PACK for entry in index.qualified.values()):
        searched.append(LOCAL_PACK)
    message += f" Searched packs: {', '.join(searched) or 'none'}."
    broken = [status for status in pack_statuses if status.errors]
    if broken:
        details = "; ".join(f"{status.name} {status.version} ({status.errors[0]})" for status in broken)
        message += f" Packs that failed to load (the brick may be there): {details}."
    return UnknownBrickError(message)


__all__ = [
    "check",
    "create",
    "get",
    "get_entry",
    "list_bricks",
    "load_entry",
    "packs",
    "register",
    "reload",
    "resolution",
    "strict_mode",
    "unregister",
]
