"""Hook specifications for brick packs that register bricks dynamically (pluggy).

A pack lists a plugin under the entry-point group ``torchbricks``; the plugin (a module or object)
implements the hooks below, marked with :data:`hookimpl`. Static packs need no hooks: they list each
brick under ``torchbricks.<kind>`` entry points instead.

Example plugin module::

    from torchbricks.registry._hookspecs import hookimpl

    @hookimpl
    def torchbricks_register_bricks(registrar):
        for name in ("tiny", "small"):
            registrar.add("backbones", f"mynet_{name}", factory=make_mynet, summary=f"MyNet {name}")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from torchbricks.registry._registrar import BrickRegistrar

PROJECT_NAME = "torchbricks"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks a hook specification (used by torchbricks only)."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a hook implementation in a brick pack: ``@hookimpl def torchbricks_register_bricks(registrar): ...``."""


@hookspec
def torchbricks_register_bricks(registrar: BrickRegistrar) -> None:
    """Register this pack's bricks.

    Called once per process, for each plugin separately, the first time the registries are read and
    no valid cache of this plugin's bricks exists (the cache is keyed by the installed distributions;
    any install or uninstall invalidates it), and again before a cached brick of the plugin is built.
    Must be deterministic and cheap: register factories, do not build models.

    Args:
        registrar: call ``registrar.add(kind, name, factory, summary=..., interface=..., requires=...)``
            once per brick. The pack is the plugin's distribution; names must be unique per kind within
            the pack. If the hook raises, none of its registrations are kept and the error is reported
            by ``torchbricks plugins``.
    """
