"""Find the bricks of every installed pack: static entry points and pluggy plugins.

Static entry points (group ``torchbricks.<kind>``) are listed from distribution metadata and their
summaries read from source; nothing is imported until a brick is built. Plugins (group
``torchbricks``) are loaded one by one, each with its own plugin manager, so a plugin that fails to
import or whose hook raises is recorded with its error and cannot affect the others. What plugins
register is cached (see :mod:`torchbricks.registry._cache`).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, EntryPoints, entry_points
from typing import Any

from torchbricks.errors import PluginLoadError, RegistryError
from torchbricks.features import FeatureSpec
from torchbricks.registry import _cache, _hookspecs
from torchbricks.registry._entries import BrickEntry, PackStatus
from torchbricks.registry._kinds import KINDS, PLUGIN_GROUP, entry_point_group
from torchbricks.registry._registrar import BrickRegistrar, check_brick_name, import_target, load_target
from torchbricks.registry._source_inspection import describe_target, module_problem


@dataclass
class Discovery:
    """Everything found in the installed distributions."""

    entries: list[BrickEntry] = field(default_factory=list)
    packs: dict[str, PackStatus] = field(default_factory=dict)

    def pack(self, name: str, version: str) -> PackStatus:
        status = self.packs.get(name)
        if status is None:
            status = self.packs[name] = PackStatus(name=name, version=version)
        return status


def discover(use_cache: bool = True) -> Discovery:
    """Read every pack's bricks; failures are recorded in ``Discovery.packs``, never raised.

    ``use_cache=False`` ignores the plugin cache and rewrites it.
    """
    found = Discovery()
    installed = entry_points()  # one scan of the installed metadata for every group
    _discover_entry_points(found, installed)
    _discover_plugins(found, installed, use_cache)
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


_DISTRIBUTIONS: dict[int, tuple[Any, tuple[str, str]]] = {}


def _distribution(entry_point: EntryPoint) -> tuple[str, str]:
    """``(name, version)`` of the distribution declaring the entry point (metadata read once per distribution)."""
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return "unknown", "0"
    known = _DISTRIBUTIONS.get(id(dist))
    if known is None or known[0] is not dist:
        known = _DISTRIBUTIONS[id(dist)] = (dist, (dist.metadata["Name"], dist.version))
    return known[1]


def _discover_entry_points(found: Discovery, installed: EntryPoints) -> None:
    for kind in KINDS:
        for entry_point in sorted(
            installed.select(group=entry_point_group(kind)), key=lambda item: (item.name, item.value)
        ):
            pack, version = _distribution(entry_point)
            status = found.pack(pack, version)
            status.entry_points += 1
            try:
                check_brick_name(entry_point.name, pack)
            except RegistryError as error:
                status.errors.append(str(error))
                continue
            # The value may carry extras ("module:attr [extra]"); the target is the clean "module:attr".
            target = f"{entry_point.module}:{entry_point.attr}" if entry_point.attr else entry_point.module
            problem = module_problem(entry_point.module)
            if problem is not None:  # still listed: create() raises PluginLoadError with the details
                status.errors.append(f"{kind} '{entry_point.name}' ({target}): {problem}")
            summary, signature, interface = describe_target(target)
            extras = tuple(entry_point.extras)
            found.entries.append(
                BrickEntry(
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
                    loader=functools.partial(
                        load_target, target, pack, f"{kind} '{pack}:{entry_point.name}' ({target})", extras
                    ),
                )
            )


class _PluginRunner:
    """Loads one plugin and runs its hook (once), isolated in its own plugin manager."""

    def __init__(self, entry_point: EntryPoint, pack: str, version: str) -> None:
        self.entry_point = entry_point
        self.pack = pack
        self.version = version
        self.key = f"{pack}:{entry_point.name}"
        self._lock = threading.Lock()
        self._result: tuple[list[BrickEntry], list[str]] | None = None

    def run(self) -> tuple[list[BrickEntry], list[str]]:
        """``(entries, hook names)``; raises whatever the plugin raised."""
        with self._lock:
            if self._result is None:
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
                self._result = (registrar.entries, hooks)
        return self._result

    def factory(self, kind: str, name: str) -> Any:
        """The factory the plugin registers as ``kind``/``name`` (for entries read from the cache)."""
        try:
            entries, _ = self.run()
        except Exception as error:
            raise PluginLoadError(f"Plugin '{self.key}' failed to load: {type(error).__name__}: {error}") from error
        for entry in entries:
            if entry.kind == kind and entry.name == name:
                return entry.load()
        raise PluginLoadError(
            f"Plugin '{self.key}' no longer registers {kind} '{name}'; the registry cache is stale. "
            f"Run `torchbricks list --refresh`"
        )


def _discover_plugins(found: Discovery, installed: EntryPoints, use_cache: bool) -> None:
    plugin_entry_points = sorted(installed.select(group=PLUGIN_GROUP), key=lambda item: (item.name, item.value))
    if not plugin_entry_points:
        return
    fingerprint = _cache.environment_fingerprint()
    cached = _cache.read_cache(fingerprint) if use_cache else {}
    fresh: dict[str, Any] = {}
    for entry_point in plugin_entry_points:
        pack, version = _distribution(entry_point)
        status = found.pack(pack, version)
        runner = _PluginRunner(entry_point, pack, version)
        status.plugins.append(entry_point.name)
        record = cached.get(runner.key)
        if record is not None:
            entries = [_entry_from_record(item, runner) for item in record["entries"]]
            status.hooks.extend(record["hooks"])
        else:
            try:
                entries, hooks = runner.run()
            except Exception as error:
                status.errors.append(
                    f"plugin '{entry_point.name}' ({entry_point.value}) failed: {type(error).__name__}: {error}"
                )
                continue
            status.hooks.extend(hooks)
            record = {"hooks": hooks, "entries": [_record_from_entry(entry) for entry in entries]}
        fresh[runner.key] = record
        found.entries.extend(entries)
    if fresh != cached or not use_cache:  # without the cache: rebuild it (`torchbricks list --refresh`)
        _cache.write_cache(fingerprint, fresh)


def _record_from_entry(entry: BrickEntry) -> dict[str, Any]:
    return {
        "kind": entry.kind,
        "name": entry.name,
        "target": entry.target,
        "summary": entry.summary,
        "signature": entry.signature,
        "interface": entry.interface.to_dict() if entry.interface else None,
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
        interface=FeatureSpec.from_dict(record["interface"]) if record["interface"] else None,
        loader=lambda: runner.factory(kind, name),
    )


__all__ = ["Discovery", "discover", "import_target"]
