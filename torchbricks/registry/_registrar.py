"""BrickRegistrar: what a plugin's ``torchbricks_register_bricks`` hook registers bricks with.

Example:
    >>> registrar = BrickRegistrar(pack="my-pack", version="1.0", plugin="my-pack:plugin")
    >>> def tiny_head(num_classes: int = 2):
    ...     '''A tiny head.'''
    >>> registrar.add("heads", "tiny", tiny_head)
    >>> [(entry.qualified_name, entry.summary, entry.signature) for entry in registrar.entries]
    [('my-pack:tiny', 'A tiny head.', '(num_classes: int = 2)')]
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from torchbricks.errors import DuplicateBrickError, MissingDependencyError, PluginLoadError, RegistryError
from torchbricks.features import FeatureSpec
from torchbricks.registry._entries import BrickEntry
from torchbricks.registry._kinds import normalize_kind
from torchbricks.registry._source_inspection import describe_target


class BrickRegistrar:
    """Collects one pack's registrations; they are kept only if the whole hook succeeds."""

    def __init__(self, pack: str, version: str, plugin: str, source: str = "hook") -> None:
        self.pack = pack
        self.version = version
        self.plugin = plugin
        self.source = source
        self.entries: list[BrickEntry] = []
        self._names: set[tuple[str, str]] = set()

    def add(
        self,
        kind: str,
        name: str,
        factory: Callable[..., Any] | str,
        *,
        summary: str | None = None,
        interface: FeatureSpec | None = None,
        signature: str | None = None,
        requires: Iterable[str] = (),
    ) -> None:
        """Register ``factory`` (a callable, or ``"module:attr"`` imported on first use) as ``kind``/``name``.

        ``requires`` names modules the factory needs; when one is missing the brick still lists and
        ``create`` says what to install.
        """
        kind = normalize_kind(kind)
        check_brick_name(name, self.pack)
        if (kind, name) in self._names:
            raise DuplicateBrickError(f"Pack '{self.pack}' registers {kind} '{name}' twice")
        self._names.add((kind, name))
        requirements = tuple(requires)
        what = f"{kind} '{self.pack}:{name}'"
        if isinstance(factory, str):
            target = factory

            def loader() -> Any:
                _check_requirements(requirements, self.pack, name)
                return load_target(target, self.pack, f"{what} ({target})")

        else:
            target = f"{getattr(factory, '__module__', '?')}:{getattr(factory, '__qualname__', type(factory).__name__)}"

            def loader() -> Any:
                _check_requirements(requirements, self.pack, name)
                return factory

        if isinstance(factory, str) and None in (summary, signature, interface):  # from source: nothing imported
            source_summary, source_signature, source_interface = describe_target(factory)
            summary = source_summary if summary is None else summary
            signature = source_signature if signature is None else signature
            interface = source_interface if interface is None else interface
        elif interface is None:
            spec = getattr(factory, "feature_spec", None)
            interface = spec if isinstance(spec, FeatureSpec) else None
        self.entries.append(
            BrickEntry(
                kind=kind,
                name=name,
                pack=self.pack,
                version=self.version,
                target=target,
                source=self.source,
                summary=summary if summary is not None else first_docstring_line(factory),
                signature=signature if signature is not None else signature_text(factory),
                interface=interface,
                loader=loader,
            )
        )


def check_brick_name(name: Any, pack: str) -> None:
    """Brick names are non-empty strings without ``:`` (which separates the pack) or whitespace."""
    if not isinstance(name, str) or not name or ":" in name or any(character.isspace() for character in name):
        raise RegistryError(f"Pack '{pack}' registers an invalid brick name {name!r} (no ':' or spaces allowed)")


def first_docstring_line(factory: Any) -> str:
    """The first line of the factory's docstring (of the wrapped function for ``functools.partial``)."""
    if isinstance(factory, str):
        return ""
    target = getattr(factory, "func", factory)
    doc = inspect.getdoc(target) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def signature_text(factory: Any) -> str:
    """``str(inspect.signature(factory))``, or ``""`` when it has none.

    String annotations (``from __future__ import annotations``) print unquoted, as in the source.
    """
    if isinstance(factory, str):
        return ""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return ""
    parameters = [
        parameter.replace(annotation=_SourceText(parameter.annotation))
        if isinstance(parameter.annotation, str)
        else parameter
        for parameter in signature.parameters.values()
    ]
    returns = signature.return_annotation
    return str(
        signature.replace(
            parameters=parameters, return_annotation=_SourceText(returns) if isinstance(returns, str) else returns
        )
    )


class _SourceText:
    """An annotation that prints as its source text (``int``, not ``'int'``)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def import_target(target: str) -> Any:
    """Import ``"module:attr.sub"`` and return the attribute."""
    module_name, _, attribute = target.partition(":")
    value: Any = importlib.import_module(module_name)
    for part in filter(None, attribute.split(".")):
        value = getattr(value, part)
    return value


def load_target(target: str, pack: str, what: str, extras: tuple[str, ...] = ()) -> Any:
    """Import ``"module:attr"`` for the brick described by ``what``, with errors that say what to do.

    A module missing outside the pack's own package raises :class:`MissingDependencyError` naming what
    to install (``pip install 'pack[extra]'`` when the entry point declares extras); any other
    failure raises :class:`PluginLoadError`.

    Example:
        >>> load_target("torchbricks.registry._kinds:normalize_kind", "torchbricks", "doc example")("neck")
        'necks'
    """
    try:
        return import_target(target)
    except ModuleNotFoundError as error:
        missing = (error.name or "").split(".")[0]
        own = target.partition(":")[0].split(".")[0]
        if missing and missing != own:
            install = f"'{pack}[{','.join(extras)}]'" if extras else missing
            raise MissingDependencyError(
                f"Brick {what} needs the module '{error.name}', which is not installed; "
                f"install it with: pip install {install}"
            ) from error
        raise PluginLoadError(f"Brick {what} failed to import: {type(error).__name__}: {error}") from error
    except Exception as error:
        raise PluginLoadError(f"Brick {what} failed to import: {type(error).__name__}: {error}") from error


def _check_requirements(requirements: tuple[str, ...], pack: str, name: str) -> None:
    missing = [module for module in requirements if importlib.util.find_spec(module.split(".")[0]) is None]
    if missing:
        raise MissingDependencyError(
            f"Brick '{pack}:{name}' needs {', '.join(repr(module) for module in missing)}, which is not installed; "
            f"install it with: pip install {' '.join(missing)}"
        )
