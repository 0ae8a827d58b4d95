"""Parts of a model (preprocessor, backbone, neck, tasks, loss weighting): looked up and checked once.

A part is a registry name, a ``{"name": ..., **arguments}`` dict (``{"task": ..., ...}`` for tasks),
or an already built module. :func:`resolve_part` looks the name up in its registry and checks the
arguments against the factory's signature, adding every problem (with its config path) to a list
instead of raising, so a config reports all its problems at once. The same :class:`Part` then
builds the module, with the arguments the assembler supplies (channels, strides, feature names).

Example:
    >>> problems = []
    >>> part = resolve_part("datasets", {"name": "shapes", "count": 2}, "data.train[0]", problems)
    >>> isinstance(part, Part), part.entry.qualified_name, problems
    (True, 'torchbricks:shapes', [])
    >>> len(part.build())
    2
    >>> require_part("backbones", "resnet18", "backbone").resolved()["name"]
    'torchbricks:resnet18'
    >>> resolve_part("backbones", {"name": "resnet18", "levls": [5]}, "backbone", problems) is not None
    True
    >>> try:
    ...     raise_problems(problems, "model config")
    ... except ConfigError as error:
    ...     print(str(error).split(" Accepted")[0].split(". Did")[0])
    1 problem(s) in the model config:
      backbone.levls: unknown argument
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torchbricks._arguments import argument_problems, json_defaults, parameter_names
from torchbricks.errors import ConfigError, PartBuildError, RegistryError, TorchBricksError
from torchbricks.features import FEATURE_KINDS
from torchbricks.registry import BrickEntry, get_entry

SUPPLIED_BY_ASSEMBLER: dict[str, tuple[str, ...]] = {
    "necks": ("in_channels", "in_strides"),
    "losses": ("weights", "task_names"),
    "tasks": ("features", "in_channels", "stride", "image", "detail"),
}
"""Arguments the assembler fills in for each kind of part (a config need not, and should not, give them)."""


def name_key(kind: str) -> str:
    """The key naming the registry entry in a part's dict: ``task`` for tasks, ``name`` otherwise."""
    return "task" if kind == "tasks" else "name"


@dataclass(frozen=True)
class Part:
    """A part looked up in its registry, with the arguments the config gives it."""

    kind: str
    path: str
    entry: BrickEntry
    factory: Callable[..., Any]
    arguments: dict[str, Any]
    feature_kind: str | None = None

    def resolved(self) -> dict[str, Any]:
        """The part as a saved config holds it: qualified name, every default, then the given arguments."""
        extra = {"feature_kind": self.feature_kind} if self.feature_kind is not None else {}
        defaults = json_defaults(self.factory, exclude=SUPPLIED_BY_ASSEMBLER.get(self.kind, ()))
        return {name_key(self.kind): self.entry.qualified_name, **extra, **defaults, **self.arguments}

    def build(self, supplied: Mapping[str, Any] | None = None) -> Any:
        """Call the factory with the supplied arguments it accepts and the configured ones (which win)."""
        names = parameter_names(self.factory)
        accepted = names[0] if names else ()
        given = {key: value for key, value in (supplied or {}).items() if key in accepted}
        try:
            return self.factory(**{**given, **self.arguments})
        except TorchBricksError:
            raise
        except Exception as error:  # a pack's factory rejecting its arguments (ValueError, RuntimeError, ...)
            raise PartBuildError(
                f"{self.path} ({self.entry.qualified_name}) cannot be built with {self.arguments}: "
                f"{type(error).__name__}: {error}"
            ) from error


def resolve_part(kind: str, part: Any, path: str, problems: list[str]) -> Part | None:
    """Look up ``part`` and check its arguments; append each problem to ``problems`` as ``path.key: message``."""
    key = name_key(kind)
    if isinstance(part, str):
        part = {key: part}
    if not isinstance(part, Mapping) or key not in part:
        problems.append(f"{path}: must be a name or a mapping with '{key}', got {part!r}")
        return None
    arguments = dict(part)
    name = arguments.pop(key)
    feature_kind = arguments.pop("feature_kind", None) if kind == "tasks" else None
    if feature_kind is not None and feature_kind not in FEATURE_KINDS:
        choices = " or ".join(map(repr, FEATURE_KINDS))
        problems.append(f"{path}.feature_kind: must be {choices}, got {feature_kind!r}")
    if not isinstance(name, str):
        problems.append(f"{path}.{key}: must be a registered name, got {name!r}")
        return None
    try:
        entry = get_entry(kind, name)
        factory = entry.load()
    except RegistryError as error:
        problems.append(f"{path}.{key}: {error}")
        return None
    for argument, problem in argument_problems(factory, arguments, SUPPLIED_BY_ASSEMBLER.get(kind, ())):
        problems.append(f"{path}.{argument}: {problem}")
    return Part(kind, path, entry, factory, arguments, feature_kind)


def require_part(kind: str, part: Any, path: str) -> Part:
    """:func:`resolve_part`, raising :class:`ConfigError` with every problem found."""
    problems: list[str] = []
    resolved = resolve_part(kind, part, path, problems)
    if resolved is None or problems:
        raise_problems(problems or [f"{path}: cannot be resolved"], "model parts")
    return resolved  # type: ignore[return-value]  # resolved is set when there is no problem


def raise_problems(problems: list[str], what: str) -> None:
    """Raise one :class:`ConfigError` listing every problem (nothing when there are none)."""
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in the {what}:\n" + "\n".join(f"  {p}" for p in problems))
