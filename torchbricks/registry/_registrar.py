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
import operator
import reprlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from torchbricks.errors import (
    DuplicateBrickError,
    InvalidBrickError,
    MissingDependencyError,
    PluginLoadError,
    UnknownKindError,
)
from torchbricks.features import FEATURE_KINDS, GLOBAL, FeatureSpec, TaskInterface
from torchbricks.registry._entries import TASKS, BrickEntry
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
        interface: FeatureSpec | TaskInterface | Mapping[str, Any] | None = None,
        signature: str | None = None,
        requires: Iterable[str] | str = (),
        optional: bool = False,
    ) -> None:
        """Register ``factory`` (a callable, or ``"module:attr"`` imported on first use) as ``kind``/``name``.

        ``summary`` and ``signature`` are strings; ``interface`` a task's :class:`TaskInterface` (or a dict
        with its ``feature_kind`` and ``max_stride``), another brick's :class:`FeatureSpec` (or a dict with
        its ``names``, ``channels`` and ``strides``); left out, it is read from the factory's
        ``@task_kind`` / ``@declare_features`` (from source for a string). ``requires`` names modules the
        factory needs; when one is missing the brick still lists and ``create`` says what to install;
        ``torchbricks packs --check`` reports it as a ``missing dependency`` unless ``optional=True`` marks
        that dependency optional.

        Anything else raises :class:`InvalidBrickError` naming the pack, the brick and the field, and
        registers nothing; raised in a hook, it drops the hook's other registrations too (a hook's
        bricks are kept only if the whole hook succeeds).

        Example:
            >>> registrar = BrickRegistrar(pack="my-pack", version="1.0", plugin="my-pack:plugin")
            >>> try:
            ...     registrar.add("heads", "tiny", lambda: None, summary=42)
            ... except InvalidBrickError as error:
            ...     print(error)
            Pack 'my-pack' registers heads 'tiny' with an invalid summary: expected a string or None, got int 42
        """
        if not isinstance(kind, str):
            raise InvalidBrickError(f"Pack '{self.pack}' registers {name!r} with an invalid kind {_describe(kind)}")
        try:
            kind = normalize_kind(kind)
        except UnknownKindError as error:
            raise UnknownKindError(f"Pack '{self.pack}' registers {name!r}: {error}") from error
        check_brick_name(name, self.pack)
        what = f"Pack '{self.pack}' registers {kind} '{name}'"
        _check_factory(factory, what)
        summary = _optional_text(summary, "summary", what)
        signature = _optional_text(signature, "signature", what)
        interface = _interface(interface, kind, "interface", what)
        requirements = _requirements(requires, what)
        if not isinstance(optional, bool):
            raise InvalidBrickError(
                f"{what} with an invalid optional: expected True or False, got {_describe(optional)}"
            )
        if (kind, name) in self._names:
            raise DuplicateBrickError(f"Pack '{self.pack}' registers {kind} '{name}' twice")
        brick = f"{kind} '{self.pack}:{name}'"
        if isinstance(factory, str):
            target = factory

            def loader() -> Any:
                _check_requirements(requirements, brick)
                return load_target(target, self.pack, f"{brick} ({target})")

        else:
            target = _target_of(factory)

            def loader() -> Any:
                _check_requirements(requirements, brick)
                return factory

        if isinstance(factory, str) and None in (summary, signature, interface):  # from source: nothing imported
            source_summary, source_signature, source_interface = describe_target(factory, kind)
            summary = source_summary if summary is None else summary
            signature = source_signature if signature is None else signature
            interface = source_interface if interface is None else interface
        elif interface is None and kind == TASKS:  # what @task_kind set; a task that declares nothing reads "global"
            declared = {"feature_kind": _attribute(factory, "feature_kind") or GLOBAL}
            declared["max_stride"] = _attribute(factory, "max_stride")
            interface = _task_interface(declared, "task_kind declaration", what)
        elif interface is None:
            spec = _attribute(factory, "feature_spec")
            interface = _feature_spec(spec, "feature_spec", what) if isinstance(spec, FeatureSpec) else None
        entry = BrickEntry(
            kind=kind,
            name=name,
            pack=self.pack,
            version=self.version,
            target=target,
            source=self.source,
            summary=_optional_text(summary if summary is not None else first_docstring_line(factory), "summary", what),
            signature=_optional_text(
                signature if signature is not None else signature_text(factory), "signature", what
            ),
            interface=interface,
            optional=optional,
            loader=loader,
        )
        self._names.add((kind, name))
        self.entries.append(entry)


def check_brick_name(name: Any, pack: str) -> None:
    """Brick names are non-empty strings without ``:`` (which separates the pack) or whitespace."""
    if (
        not isinstance(name, str)
        or not name
        or ":" in name
        or any(character.isspace() for character in name)
        or not _encodable(name)
    ):
        raise InvalidBrickError(
            f"Pack '{pack}' registers an invalid brick name {_describe(name)} (no ':' or spaces allowed)"
        )


def _describe(value: Any) -> str:
    """``type value`` for messages, short, and safe for objects whose ``repr`` fails."""
    try:
        shown = reprlib.repr(value)
    except Exception:
        shown = "<unprintable>"
    return shown if isinstance(value, str) else f"{type(value).__name__} {shown}"


def _encodable(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (the cache, the terminal): no lone surrogates."""
    try:
        text.encode("utf-8")
    except UnicodeError:
        return False
    return True


def _optional_text(value: Any, field: str, what: str) -> Any:
    if value is None or (type(value) is str and _encodable(value)):
        return value
    expected = "a string or None" if not isinstance(value, str) else "text that can be written as UTF-8"
    raise InvalidBrickError(f"{what} with an invalid {field}: expected {expected}, got {_describe(value)}")


def _interface(value: Any, kind: str, field: str, what: str) -> FeatureSpec | TaskInterface | None:
    """A task's :class:`TaskInterface`, any other brick's :class:`FeatureSpec`, from ``value`` (or its dict)."""
    return _task_interface(value, field, what) if kind == TASKS else _feature_spec(value, field, what)


def _task_interface(value: Any, field: str, what: str) -> TaskInterface | None:
    """A plain :class:`TaskInterface` from ``value`` (one, or a dict of its fields), or ``None`` for ``None``."""
    if value is None:
        return None
    if isinstance(value, TaskInterface):
        feature_kind, max_stride = _attribute(value, "feature_kind"), _attribute(value, "max_stride")
    elif isinstance(value, Mapping):
        feature_kind, max_stride = value.get("feature_kind"), value.get("max_stride")
    else:
        raise InvalidBrickError(
            f"{what} with an invalid {field}: expected a torchbricks.features.TaskInterface (or a dict of its "
            f"feature_kind and max_stride) or None, got {_describe(value)}"
        )
    if type(feature_kind) is not str or feature_kind not in FEATURE_KINDS:
        kinds = ", ".join(repr(kind) for kind in FEATURE_KINDS)
        raise InvalidBrickError(
            f"{what} with an invalid {field}: feature_kind must be one of {kinds}, got {_describe(feature_kind)}"
        )
    if max_stride is not None:
        try:
            stride = None if isinstance(max_stride, bool) else operator.index(max_stride)  # numpy integers too
        except TypeError:
            stride = None
        if stride is None or stride < 1:
            raise InvalidBrickError(
                f"{what} with an invalid {field}: max_stride must be a positive integer or None, "
                f"got {_describe(max_stride)}"
            )
        max_stride = stride
    return TaskInterface(feature_kind, max_stride)


def _feature_spec(value: Any, field: str, what: str) -> FeatureSpec | None:
    """A plain, JSON-ready :class:`FeatureSpec` from ``value`` (a spec or a dict), or ``None`` for ``None``."""
    if value is None:
        return None
    if isinstance(value, FeatureSpec):
        names, channels, strides = (_attribute(value, key) for key in ("names", "channels", "strides"))
    elif isinstance(value, Mapping):
        names, channels, strides = (value.get(key) for key in ("names", "channels", "strides"))
    else:
        raise InvalidBrickError(
            f"{what} with an invalid {field}: expected a torchbricks.features.FeatureSpec (or a dict of its names, "
            f"channels and strides) or None, got {_describe(value)}"
        )
    try:
        spec = FeatureSpec(_items(names, str), _items(channels, int), _items(strides, int))
    except (TypeError, ValueError) as error:
        raise InvalidBrickError(f"{what} with an invalid {field}: {error}") from error
    if not all(_encodable(name) for name in spec.names):
        raise InvalidBrickError(f"{what} with an invalid {field}: a name cannot be written as UTF-8")
    return spec


def _items(values: Any, item_type: type) -> tuple[Any, ...]:
    """``values`` (a list or tuple) as a tuple of ``item_type``; integers may be any integral type but ``bool``."""
    if not isinstance(values, (list, tuple)):
        raise TypeError(f"expected a list or tuple of {item_type.__name__}, got {_describe(values)}")
    items = []
    for value in values:
        try:
            if isinstance(value, bool) or (item_type is str and not isinstance(value, str)):
                raise TypeError
            items.append(value if item_type is str else operator.index(value))
        except TypeError:
            raise TypeError(
                f"expected a list or tuple of {item_type.__name__}, got an item {_describe(value)}"
            ) from None
    return tuple(items)


def _check_factory(factory: Any, what: str) -> None:
    """A factory is a callable or a ``"module:attr.sub"`` string."""
    if isinstance(factory, str):
        module, _, attribute = factory.partition(":")
        parts = [*module.split("."), *(attribute.split(".") if attribute else [])]
        if all(part.isidentifier() for part in parts):
            return
        raise InvalidBrickError(f"{what} with an invalid factory {factory!r}: expected 'module:attribute'")
    if not callable(factory):
        raise InvalidBrickError(
            f"{what} with an invalid factory: expected a callable or a 'module:attribute' string, "
            f"got {_describe(factory)}"
        )


def _requirements(requires: Any, what: str) -> tuple[str, ...]:
    """Module names from ``requires`` (one name or an iterable of names)."""
    if isinstance(requires, str):
        requires = (requires,)
    try:
        requirements = tuple(requires)
    except TypeError:
        requirements = None
    if requirements is None or not all(isinstance(module, str) and module for module in requirements):
        raise InvalidBrickError(
            f"{what} with invalid requires: expected module names (strings), got {_describe(requires)}"
        )
    return requirements


def _attribute(value: Any, name: str) -> Any:
    """``getattr(value, name, None)``, also ``None`` when the attribute itself raises."""
    try:
        return getattr(value, name, None)
    except Exception:
        return None


def _target_of(factory: Any) -> str:
    module, qualified_name = _attribute(factory, "__module__"), _attribute(factory, "__qualname__")
    module = module if isinstance(module, str) else "?"
    qualified_name = qualified_name if isinstance(qualified_name, str) else type(factory).__name__
    return f"{module}:{qualified_name}"


def first_docstring_line(factory: Any) -> str:
    """The first line of the factory's docstring (of the wrapped function for ``functools.partial``)."""
    if isinstance(factory, str):
        return ""
    try:
        target = getattr(factory, "func", factory)
        doc = inspect.getdoc(target) or ""
    except Exception:  # a factory whose attributes raise has no summary
        return ""
    if not isinstance(doc, str):
        return ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def signature_text(factory: Any) -> str:
    """``str(inspect.signature(factory))``, or ``""`` when it has none.

    String annotations (``from __future__ import annotations``) print unquoted, as in the source.

    Example:
        >>> def head(num_classes: int = 10) -> None: ...
        >>> signature_text(head)
        '(num_classes: int = 10) -> None'
        >>> signature_text("not a callable")
        ''
    """
    if isinstance(factory, str):
        return ""
    try:
        signature = inspect.signature(factory)
        parameters = [
            parameter.replace(annotation=_SourceText(parameter.annotation))
            if isinstance(parameter.annotation, str)
            else parameter
            for parameter in signature.parameters.values()
        ]
        returns = signature.return_annotation
        if isinstance(factory, type):  # the signature of __init__: the factory returns an instance, not None
            returns = factory.__name__
        return str(
            signature.replace(
                parameters=parameters, return_annotation=_SourceText(returns) if isinstance(returns, str) else returns
            )
        )
    except Exception:  # no signature (builtins), or a factory whose attributes or annotations raise
        return ""


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


def _check_requirements(requirements: tuple[str, ...], brick: str) -> None:
    missing = [module for module in requirements if importlib.util.find_spec(module.split(".")[0]) is None]
    if missing:
        modules = ", ".join(repr(module) for module in missing)
        raise MissingDependencyError(
            f"Brick {brick} needs the module{'s' if len(missing) > 1 else ''} {modules}, which "
            f"{'are' if len(missing) > 1 else 'is'} not installed; install it with: pip install {' '.join(missing)}"
        )
