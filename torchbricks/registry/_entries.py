"""What the registries hold: brick entries and the status of each pack.

Example:
    >>> entry = BrickEntry("heads", "tiny", pack="my-pack", version="1.0", target="my_pack:tiny", source="entry point")
    >>> entry.qualified_name
    'my-pack:tiny'
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torchbricks.features import FeatureSpec
from torchbricks.registry._kinds import canonical_pack_name

LOCAL_PACK = "local"
"""The pack name of bricks registered in the running program with ``register``."""


@dataclass
class BrickEntry:
    """One registered brick factory and where it comes from.

    ``summary``, ``signature`` and ``interface`` are known without importing the factory when they
    could be read from source or a cache; :meth:`load` imports it.
    """

    kind: str
    name: str
    pack: str
    version: str
    target: str
    source: str
    summary: str = ""
    signature: str = ""
    interface: FeatureSpec | None = None
    extras: tuple[str, ...] = ()
    shadowed_by: str | None = None
    """The qualified name a bare ``name`` resolves to instead of this entry (the core pack's brick)."""
    clashes_with: tuple[str, ...] = ()
    """Other packs' entries with the same bare name, when no precedence decides (use ``pack:name``)."""
    loader: Callable[[], Any] | None = field(default=None, repr=False, compare=False)
    _factory: Any = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def qualified_name(self) -> str:
        """``pack:name`` — always unambiguous."""
        return f"{self.pack}:{self.name}"

    @property
    def pack_key(self) -> str:
        return canonical_pack_name(self.pack)

    @property
    def is_loaded(self) -> bool:
        return self._factory is not None

    def load(self) -> Any:
        """Import (once) and return the factory."""
        if self._factory is None:
            with self._lock:
                if self._factory is None:
                    if self.loader is None:
                        raise RuntimeError(f"Brick entry '{self.qualified_name}' has no loader")
                    factory = self.loader()
                    spec = getattr(factory, "feature_spec", None)
                    if self.interface is None and isinstance(spec, FeatureSpec):
                        self.interface = spec
                    self._factory = factory
        return self._factory

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (what ``torchbricks list --json`` prints)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "qualified_name": self.qualified_name,
            "pack": self.pack,
            "version": self.version,
            "source": self.source,
            "target": self.target,
            "summary": self.summary,
            "signature": self.signature,
            "interface": self.interface.to_dict() if self.interface else None,
            "extras": list(self.extras),
            "shadowed_by": self.shadowed_by,
            "clashes_with": list(self.clashes_with),
        }


@dataclass
class PackStatus:
    """What one installed distribution contributes, and whether it loaded.

    Example:
        >>> status = PackStatus("my-pack", "1.0", bricks={"heads": 2})
        >>> status.bricks["heads"], status.status
        (2, 'unchecked')
    """

    name: str
    version: str
    entry_points: int = 0
    plugins: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    bricks: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    clashes: list[str] = field(default_factory=list)
    """Bare names this pack shares with another pack, none of them the core pack (bare lookups fail)."""
    checked: bool = False
    """Whether ``check`` imported every brick and ran every hook of the pack (listing imports no brick)."""

    @property
    def status(self) -> str:
        """``error`` when something failed, ``clash`` when a bare name is ambiguous, ``ok`` when ``check``
        imported every brick, else ``unchecked`` (listed from metadata and source; nothing failed so far).

        Example:
            >>> PackStatus("my-pack", "1.0").status
            'unchecked'
            >>> PackStatus("my-pack", "1.0", checked=True).status
            'ok'
        """
        return "error" if self.errors else "clash" if self.clashes else "ok" if self.checked else "unchecked"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "status": self.status,
            "entry_points": self.entry_points,
            "plugins": list(self.plugins),
            "hooks": list(self.hooks),
            "bricks": dict(sorted(self.bricks.items())),
            "errors": list(self.errors),
            "clashes": list(self.clashes),
            "checked": self.checked,
        }
