"""Find the bricks of every installed pack: static entry points and pluggy plugins.

Static entry points (group ``torchbricks.<kind>``) are listed from distribution metadata and their
summaries read from source; nothing is imported until a brick is built. Plugins (group
``torchbricks``) are loaded one by one, each with its own plugin manager, so a plugin that fails to
import or whose hook raises is recorded with its error and cannot affect the others. What plugins
register is cached (see :mod:`torchbricks.registry._cache`).

Packs are untrusted neighbours: a plugin that raises anything (``SystemExit`` included; only
``KeyboardInterrupt`` goes through), registers invalid bricks or does not return within
``TORCHBRICKS_HOOK_TIMEOUT`` seconds (default 30; it runs in a daemon thread that is abandoned) is
recorded as an error of its pack, and a distribution with unreadable metadata is listed under the
name of its ``.dist-info`` folder with an error. Nothing a pack does at import time can stop the
listing, except ending the process (``os._exit``): ``torchbricks packs --check`` runs packs in
subprocesses for that (see :mod:`torchbricks.registry._check`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, EntryPoints, entry_points
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from torchbricks._environment import HOOK_TIMEOUT, seconds
from torchbricks.errors import PluginLoadError, PluginTimeoutError, RegistryError
from torchbricks.registry import _cache, _hookspecs
from torchbricks.registry._entries import BrickEntry, PackStatus, interface_from_dict
from torchbricks.registry._kinds import (
    KINDS,
    OPTIONAL_EXTRAS_GROUP,
    PLUGIN_GROUP,
    canonical_pack_name,
    entry_point_group,
)
from torchbricks.registry._registrar import BrickRegistrar, check_brick_name, import_target, load_target
from torchbricks.registry._source_inspection import describe_target, module_problem


@dataclass
class Discovery:
    """Everything found in the installed distributions."""

    entries: list[BrickEntry] = field(default_factory=list)
    packs: dict[str, PackStatus] = field(default_factory=dict)
    broken_targets: set[str] = field(default_factory=set)
    """Entry-point targets already reported as broken while listing (``check`` does not report them twice)."""

    def pack(self, distribution: _Distribution) -> PackStatus:
        status = self.packs.get(distribution.name)
        if status is None:
            status = self.packs[distribution.name] = PackStatus(name=distribution.name, version=distribution.version)
        if distribution.problem and distribution.problem not in status.errors:
            status.errors.append(distribution.problem)
        return status


def discover(use_cache: bool = True, pack: str | None = None) -> Discovery:
    """Read every pack's bricks; failures are recorded in ``Discovery.packs``, never raised.

    ``use_cache=False`` ignores the plugin cache and rewrites it. ``pack`` reads only that pack's
    bricks (nothing of the other packs runs; the cache is neither read nor written).
    """
    found = Discovery()
    installed = entry_points()  # one scan of the installed metadata for every group
    selected = _Selection(installed, pack)
    _discover_entry_points(found, selected)
    _discover_plugins(found, selected, use_cache and pack is None, write=pack is None)
    _drop_duplicates(found)
    for entry in found.entries:
        status = found.packs[entry.pack]
        status.bricks[entry.kind] = status.bricks.get(entry.kind, 0) + 1
    return found


def _drop_duplicates(found: Discovery) -> None:
    """Names are unique per pack and kind: a second registration (entry point and hook alike) is an error."""
    kept: list[BrickEntry] = []
    seen: set[tuple[str, str, str]] = set()
    for entry in found.entries:
        key = (entry.kind, entry.pack_key, entry.name)
        if key in seen:
            found.packs[entry.pack].errors.append(
                f"{entry.kind} '{entry.name}' is registered twice (again by {entry.target}); the first is kept"
            )
            continue
        seen.add(key)
        kept.append(entry)
    found.entries = kept


class _Distribution(NamedTuple):
    """The pack an entry point belongs to; ``problem`` says why its metadata could not be read."""

    name: str
    version: str
    problem: str | None = None


_DISTRIBUTIONS: dict[int, tuple[Any, _Distribution]] = {}


def _distribution(entry_point: EntryPoint) -> _Distribution:
    """The distribution declaring the entry point (metadata read once per distribution).

    A distribution whose metadata is missing or lacks ``Name``/``Version`` is named after its
    ``.dist-info`` folder (else the entry point's top-level module), with a problem to report.
    """
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return _Distribution("unknown", "0")
    known = _DISTRIBUTIONS.get(id(dist))
    if known is None or known[0] is not dist:
        known = _DISTRIBUTIONS[id(dist)] = (dist, _read_distribution(dist, entry_point))
    return known[1]


def _read_distribution(dist: Any, entry_point: EntryPoint) -> _Distribution:
    try:
        metadata = dist.metadata
        name, version = metadata["Name"], metadata["Version"]
        if isinstance(name, str) and name.strip() and isinstance(version, str) and version.strip():
            return _Distribution(name.strip(), version.strip())
        failure = "it has no Name or no Version"
    except Exception as error:  # no METADATA file (TypeError on some Pythons), unreadable or not UTF-8
        failure = f"{type(error).__name__}: {error}"
    folder = getattr(dist, "_path", None)  # importlib.metadata keeps the .dist-info path here
    if folder is not None and not any(Path(str(folder), file).exists() for file in ("METADATA", "PKG-INFO")):
        failure = "it has no METADATA file"
    stem = Path(str(folder)).name if folder is not None else ""
    for suffix in (".dist-info", ".egg-info"):
        stem = stem.removesuffix(suffix)
    folder_name, _, folder_version = stem.partition("-")
    name = folder_name or (entry_point.module or "").split(".")[0] or "unknown"
    version = folder_version or "unknown"
    where = f" ({folder})" if folder is not None else ""
    return _Distribution(
        name,
        version,
        f"the distribution metadata{where} cannot be read ({failure}); listed as '{name}' {version}, "
        f"reinstall the pack",
    )


class _Selection:
    """Entry points of one group, sorted, with their distributions; only one pack's when ``pack`` is given."""

    def __init__(self, installed: EntryPoints, pack: str | None) -> None:
        self.installed = installed
        self.pack_key = canonical_pack_name(pack) if pack is not None else None

    def select(self, group: str) -> list[tuple[EntryPoint, _Distribution]]:
        selected = []
        for entry_point in sorted(self.installed.select(group=group), key=lambda item: (item.name, item.value)):
            distribution = _distribution(entry_point)
            if self.pack_key is None or canonical_pack_name(distribution.name) == self.pack_key:
                selected.append((entry_point, distribution))
        return selected


def _discover_entry_points(found: Discovery, selected: _Selection) -> None:
    optional_extras = _optional_extras(selected)
    for kind in KINDS:
        for entry_point, distribution in selected.select(entry_point_group(kind)):
            pack, version = distribution.name, distribution.version
            status = found.pack(distribution)
            status.entry_points += 1
            try:
                entry = _static_entry(found, status, kind, entry_point, pack, version)
                entry.optional = any(
                    canonical_pack_name(extra) in optional_extras.get(canonical_pack_name(pack), ())
                    for extra in entry.extras
                )
            except RegistryError as error:
                status.errors.append(str(error))
                continue
            except Exception as error:  # e.g. a value that is not "module:attr" (an edited entry_points.txt)
                status.errors.append(f"{kind} '{entry_point.name}' ({entry_point.value!r}): {failure_text(error)}")
                continue
            found.entries.append(entry)


def _optional_extras(selected: _Selection) -> dict[str, set[str]]:
    """The extras each pack marks optional (group ``torchbricks.optional_extras``), normalized, by canonical pack."""
    marked: dict[str, set[str]] = {}
    for entry_point, distribution in selected.select(OPTIONAL_EXTRAS_GROUP):
        marked.setdefault(canonical_pack_name(distribution.name), set()).add(canonical_pack_name(entry_point.name))
    return marked


def _static_entry(
    found: Discovery, status: PackStatus, kind: str, entry_point: EntryPoint, pack: str, version: str
) -> BrickEntry:
    check_brick_name(entry_point.name, pack)
    # The value may carry extras ("module:attr [extra]"); the target is the clean "module:attr".
    target = f"{entry_point.module}:{entry_point.attr}" if entry_point.attr else entry_point.module
    extras = tuple(entry_point.extras)
    problem = module_problem(entry_point.module)
    if problem is not None:  # still listed: create() raises PluginLoadError with the details
        status.errors.append(f"{kind} '{entry_point.name}' ({target}): {problem}")
        found.broken_targets.add(target)
    summary, signature, interface = describe_target(target, kind)
    return BrickEntry(
        kind=kind,
        name=entry_point.name,
        pack=pack,
        version=version,
        target=target,
        source="entry-point",
        summary=summary,
        signature=signature,
        interface=interface,
        extras=extras,
        loader=functools.partial(load_target, target, pack, f"{kind} '{pack}:{entry_point.name}' ({target})", extras),
    )


_Result = TypeVar("_Result")
_PLUGIN_THREAD = threading.local()
DEFAULT_HOOK_TIMEOUT = 30.0
"""Seconds a plugin may take to import and run its hook, unless ``TORCHBRICKS_HOOK_TIMEOUT`` says otherwise."""


def hook_timeout() -> float | None:
    """``TORCHBRICKS_HOOK_TIMEOUT`` in seconds (default 30); ``None`` (no limit) when set to ``0``.

    Example:
        >>> hook_timeout() is None or hook_timeout() > 0
        True
    """
    return seconds(HOOK_TIMEOUT, DEFAULT_HOOK_TIMEOUT)


def in_plugin_code() -> bool:
    """True in the thread that imports a plugin or runs its hook (the registry cannot be used there)."""
    return getattr(_PLUGIN_THREAD, "active", False)


def run_isolated(function: Callable[[], _Result], timeout: float | None, name: str) -> _Result:
    """``function()`` in a daemon thread; raises what it raised (``SystemExit`` too), or
    :class:`PluginTimeoutError` when it has not returned after ``timeout`` seconds (the thread is abandoned).

    Example:
        >>> run_isolated(lambda: 42, 1.0, "doc example")
        42
        >>> import time
        >>> run_isolated(lambda: time.sleep(5), 0.05, "doc example")
        Traceback (most recent call last):
        ...
        torchbricks.errors.PluginTimeoutError: doc example did not finish within 0.05 s (TORCHBRICKS_HOOK_TIMEOUT)
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        _PLUGIN_THREAD.active = True
        try:
            outcome["value"] = function()
        except BaseException as error:  # SystemExit and all: reported by the caller
            outcome["error"] = error

    thread = threading.Thread(target=target, name=f"torchbricks {name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise PluginTimeoutError(f"{name} did not finish within {timeout:g} s ({HOOK_TIMEOUT})")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def failure_text(error: BaseException) -> str:
    """``Type: message`` of a failure, safe for exceptions whose ``str`` raises; no traceback."""
    try:
        message = str(error)
    except Exception:
        message = "<unprintable message>"
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


class _PluginRunner:
    """Loads one plugin and runs its hook (once), isolated in its own plugin manager and thread."""

    def __init__(self, entry_point: EntryPoint, pack: str, version: str) -> None:
        self.entry_point = entry_point
        self.pack = pack
        self.version = version
        self.key = f"{pack}:{entry_point.name}"
        self._lock = threading.Lock()
        self._result: tuple[list[BrickEntry], list[str]] | None = None
        self._failure: BaseException | None = None

    def run(self) -> tuple[list[BrickEntry], list[str]]:
        """``(entries, hook names)``; raises whatever the plugin raised (``SystemExit`` too), every time.

        Importing the plugin and running its hook must end within :func:`hook_timeout` seconds, else
        :class:`PluginTimeoutError`. ``KeyboardInterrupt`` goes through.
        """
        with self._lock:
            if self._result is None and self._failure is None:
                try:
                    self._result = run_isolated(
                        self._load_and_register, hook_timeout(), f"importing plugin '{self.key}' and running its hook"
                    )
                except KeyboardInterrupt:
                    raise
                except BaseException as error:
                    self._failure = error
            if self._failure is not None:
                raise self._failure
            assert self._result is not None
            return self._result

    def _load_and_register(self) -> tuple[list[BrickEntry], list[str]]:
        import pluggy

        plugin = self.entry_point.load()
        manager = pluggy.PluginManager(_hookspecs.PROJECT_NAME)
        manager.add_hookspecs(_hookspecs)
        manager.register(plugin, name=self.key)
        manager.check_pending()
        hooks = sorted(caller.name for caller in manager.get_hookcallers(plugin) or [])
        if not hooks:
            raise RegistryError(
                "it implements no torchbricks hook (mark `torchbricks_register_bricks` with "
                "@torchbricks.registry.hookimpl)"
            )
        registrar = BrickRegistrar(self.pack, self.version, self.key)
        manager.hook.torchbricks_register_bricks(registrar=registrar)
        return list(registrar.entries), hooks

    def factory(self, kind: str, name: str) -> Any:
        """The factory the plugin registers as ``kind``/``name`` (for entries read from the cache)."""
        try:
            entries, _ = self.run()
        except KeyboardInterrupt:
            raise
        except BaseException as error:
            raise PluginLoadError(f"Plugin '{self.key}' failed to load: {failure_text(error)}") from error
        for entry in entries:
            if entry.kind == kind and entry.name == name:
                return entry.load()
        raise PluginLoadError(
            f"Plugin '{self.key}' no longer registers {kind} '{name}'; the registry cache is stale. "
            f"Run `torchbricks list --refresh`"
        )


def _discover_plugins(found: Discovery, selected: _Selection, use_cache: bool, write: bool = True) -> None:
    plugin_entry_points = selected.select(PLUGIN_GROUP)
    if not plugin_entry_points:
        return
    fingerprint = _cache.environment_fingerprint() if use_cache or write else ""
    cached = _cache.read_cache(fingerprint) if use_cache else {}
    fresh: dict[str, Any] = {}
    for entry_point, distribution in plugin_entry_points:
        status = found.pack(distribution)
        runner = _PluginRunner(entry_point, distribution.name, distribution.version)
        status.plugins.append(entry_point.name)
        record = cached.get(runner.key)
        if record is not None:
            entries = [_entry_from_record(item, runner) for item in record["entries"]]
            status.hooks.extend(record["hooks"])
        else:
            try:
                entries, hooks = runner.run()
            except KeyboardInterrupt:
                raise
            except BaseException as error:  # SystemExit, a timeout, an invalid brick: this plugin only
                status.errors.append(f"plugin '{entry_point.name}' ({entry_point.value}) failed: {failure_text(error)}")
                continue
            status.hooks.extend(hooks)
            record = {"hooks": hooks, "entries": [_record_from_entry(entry) for entry in entries]}
        fresh[runner.key] = record
        found.entries.extend(entries)
    if write and (fresh != cached or not use_cache):  # without the cache: rebuild it (`torchbricks list --refresh`)
        _cache.write_cache(fingerprint, fresh)


def _record_from_entry(entry: BrickEntry) -> dict[str, Any]:
    return {
        "kind": entry.kind,
        "name": entry.name,
        "target": entry.target,
        "summary": entry.summary,
        "signature": entry.signature,
        "interface": entry.interface.to_dict() if entry.interface else None,
        "optional": entry.optional,
    }


def _entry_from_record(record: dict[str, Any], runner: _PluginRunner) -> BrickEntry:
    kind, name = record["kind"], record["name"]
    return BrickEntry(
        kind=kind,
        name=name,
        pack=runner.pack,
        version=runner.version,
        target=record["target"],
        source="hook",
        summary=record["summary"],
        signature=record["signature"],
        interface=interface_from_dict(kind, record["interface"]),
        optional=record.get("optional", False),
        loader=lambda: runner.factory(kind, name),
    )


__all__ = ["Discovery", "discover", "failure_text", "hook_timeout", "import_target", "in_plugin_code", "run_isolated"]
