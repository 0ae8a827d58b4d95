"""What the registries hold: brick entries, declared feature interfaces and the status of each pack.

Example:
    >>> spec = FeatureSpec(names=("c4", "c5"), channels=(256, 512), strides=(16, 32))
    >>> FeatureSpec.from_dict(spec.to_dict()) == spec
    True
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torchbricks.registry.kinds import canonical_pack_name

LOCAL_PACK = "local"
"""The pack name of bricks registered in the running program with ``register``."""


@dataclass(frozen=True)
class FeatureSpec:
    """The declared outputs of a backbone or neck: one name, channel count and stride per feature map."""

    names: tuple[str, ...]
    channels: tuple[int, ...]
    strides: tuple[int, ...]

    def __post_init__(self) -> None:
        if not len(self.names) == len(self.channels) == len(self.strides):
            raise ValueError(
                f"FeatureSpec needs one channel count and stride per name, got names={self.names}, "
                f"channels={self.channels}, strides={self.strides}"
            )

    def to_dict(self) -> dict[str, list[Any]]:
        return {"names": list(self.names), "channels": list(self.channels), "strides": list(self.strides)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        return cls(
            tuple(data["names"]), tuple(int(c) for c in data["channels"]), tuple(int(s) for s in data["strides"])
        )


def declare_features(names: tuple[str, ...], channels: tuple[int, ...], strides: tuple[int, ...]) -> Callable:
    """Decorator declaring the feature interface of a backbone/neck factory (read without building it).

    Example:
        >>> @declare_features(names=("features",), channels=(512,), strides=(32,))
        ... def my_backbone():
        ...     ...
        >>> my_backbone.feature_spec.channels
        (512,)
    """
    spec = FeatureSpec(tuple(names), tuple(channels), tuple(strides))

    def attach(factory: Callable) -> Callable:
        factory.feature_spec = spec  # type: ignore[attr-defined]
        return factory

    return attach


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
        }


@dataclass
class PackStatus:
    """What one installed distribution contributes, and whether it loaded."""

    name: str
    version: str
    entry_points: int = 0
    plugins: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    bricks: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "error" if self.errors else "ok"

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
        }
