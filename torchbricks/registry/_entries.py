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

from torchbricks.features import FeatureSpec, TaskInterface
from torchbricks.registry._kinds import canonical_pack_name

LOCAL_PACK = "local"
"""The pack name of bricks registered in the running program with ``register``."""

TASKS = "tasks"
"""The kind whose interface is a :class:`TaskInterface`; every other kind's is a :class:`FeatureSpec`."""


@dataclass
class BrickEntry:
    """One registered brick factory and where it comes from.

    ``summary``, ``signature`` and ``interface`` are known without importing the factory when they
    could be read from source or a cache; :meth:`load` imports it. ``interface`` is a task's
    :class:`TaskInterface` (``@task_kind``) or another brick's :class:`FeatureSpec` (``@declare_features``);
    when it could not be read from source, :meth:`load` fills it from the factory (a task that declares
    nothing reads ``"global"`` features).
    """

    kind: str
    name: str
    pack: str
    version: str
    target: str
    source: str
    summary: str = ""
    signature: str = ""
    interface: FeatureSpec | TaskInterface | None = None
    extras: tuple[str, ...] = ()
    optional: bool = False
    """The pack marks this brick's dependency optional: ``packs --check`` skips it when that dependency is missing."""
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
                    if self.interface is None:
                        self.interface = interface_of_factory(self.kind, factory)
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
            "optional": self.optional,
            "shadowed_by": self.shadowed_by,
            "clashes_with": list(self.clashes_with),
        }


def interface_of_factory(kind: str, factory: Any) -> FeatureSpec | TaskInterface | None:
    """What a loaded factory declares: a task's :class:`TaskInterface` (``"global"`` when it declares nothing),
    another brick's ``feature_spec``; ``None`` when that is missing or invalid (never raises).

    Example:
        >>> from torchbricks.features import task_kind
        >>> interface_of_factory("tasks", task_kind("dense", max_stride=8)(lambda: {}))
        TaskInterface(feature_kind='dense', max_stride=8)
        >>> interface_of_factory("heads", lambda: {}) is None
        True
    """
    try:
        if kind == TASKS:
            return TaskInterface.of(factory)
        spec = getattr(factory, "feature_spec", None)
    except Exception:  # an invalid declaration, or a factory whose attributes raise
        return None
    return spec if isinstance(spec, FeatureSpec) else None


def interface_from_dict(kind: str, data: dict[str, Any] | None) -> FeatureSpec | TaskInterface | None:
    """The inverse of ``interface.to_dict()`` for a brick of ``kind`` (as the registry cache stores it).

    Example:
        >>> interface_from_dict("tasks", {"feature_kind": "dense", "max_stride": 16})
        TaskInterface(feature_kind='dense', max_stride=16)
        >>> interface_from_dict("necks", {"names": ["p3"], "channels": [8], "strides": [8]}).channels
        (8,)
    """
    if data is None:
        return None
    return TaskInterface.from_dict(data) if kind == TASKS else FeatureSpec.from_dict(data)


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
    missing_dependencies: list[str] = field(default_factory=list)
    """Found by ``check``: bricks that cannot be imported because a module they need is not installed
    (each message names the brick, the module and the ``pip install`` that provides it)."""
    optional_missing: list[str] = field(default_factory=list)
    """Found by ``check``: the same for bricks whose extra the pack marks optional; not a problem."""

    @property
    def status(self) -> str:
        """``error`` when something failed, ``missing dependency`` when ``check`` found a brick whose
        dependency is not installed (and not marked optional), ``clash`` when a bare name is ambiguous,
        ``ok`` when ``check`` imported every brick, else ``unchecked`` (listed from metadata and source).

        Example:
            >>> PackStatus("my-pack", "1.0").status
            'unchecked'
            >>> PackStatus("my-pack", "1.0", checked=True).status
            'ok'
            >>> PackStatus("my-pack", "1.0", checked=True, missing_dependencies=["Brick ... needs 'onnx'"]).status
            'missing dependency'
        """
        if self.errors:
            return "error"
        if self.missing_dependencies:
            return "missing dependency"
        return "clash" if self.clashes else "ok" if self.checked else "unchecked"

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
            "missing_dependencies": list(self.missing_dependencies),
            "optional_missing": list(self.optional_missing),
        }
