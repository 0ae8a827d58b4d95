"""Checking keyword arguments against a factory's signature, before the factory is called.

One checker serves ``registry.create`` (raise on the first call) and model configs (collect every
problem with its config path): unknown names (with a close match), values that clearly do not fit a
simple annotation (``int``, ``float``, ``str``, ``bool``, optionally ``None``), and missing required
arguments. Arguments the caller supplies itself (``supplied``) are neither suggested nor required.

:func:`convert_arguments` turns values into the type a parameter takes where that is unambiguous (a
number written as text, such as the ``3e-4`` that PyYAML reads as a string, for a ``float`` parameter);
the train config runs it before checking. A string where only numbers fit is a problem even when the
annotation also names other classes (``lr: float | Tensor``).

Example:
    >>> def head(num_classes: int, hidden: int = 64):
    ...     ...
    >>> for problem in argument_problems(head, {"num_clases": 3}):
    ...     print(problem)
    ('num_clases', "unknown argument. Did you mean 'num_classes'? Accepted: num_classes, hidden")
    ('num_classes', 'missing required argument')
    >>> argument_problems(head, {"num_classes": "three"})
    [('num_classes', "expected int, got str 'three'")]
    >>> def optimizer(params, lr: "float | None" = 1e-3, betas=(0.9, 0.999), steps=10):
    ...     ...
    >>> convert_arguments(optimizer, {"lr": "3e-4", "betas": ["9e-1", 0.99], "steps": "1e3"})
    {'lr': 0.0003, 'betas': [0.9, 0.99], 'steps': 1000}
"""

from __future__ import annotations

import functools
import inspect
import json
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from torchbricks.suggestions import did_you_mean

UNKNOWN = "unknown argument"
MISSING = "missing required argument"
_SIMPLE_TYPES: dict[Any, tuple[type, ...]] = {int: (int,), float: (int, float), str: (str,), bool: (bool,)}


def cached_per_factory(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Memoise a function of a factory (factories are registered once and live as long as the process).

    Unhashable callables are computed each time.
    """
    cached = functools.lru_cache(maxsize=4096)(function)

    def lookup(factory: Any) -> Any:
        try:
            return cached(factory)
        except TypeError:  # unhashable
            return function(factory)

    lookup.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return lookup


@cached_per_factory
def parameter_names(factory: Callable[..., Any]) -> tuple[tuple[str, ...], tuple[str, ...], bool] | None:
    """``(accepted keyword names, required names, takes **kwargs)`` of a factory; ``None`` without a signature."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    keyword_kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    accepted = tuple(parameter.name for parameter in parameters if parameter.kind in keyword_kinds)
    required = tuple(
        parameter.name
        for parameter in parameters
        if parameter.kind in keyword_kinds and parameter.default is inspect.Parameter.empty
    )
    takes_any = any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters)
    return accepted, required, takes_any


def argument_problems(
    factory: Callable[..., Any], arguments: Mapping[str, Any], supplied: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """``(argument, problem)`` pairs for ``arguments`` given to ``factory``; empty when they fit.

    ``supplied`` names arguments the caller fills in itself: they count as given and are not offered
    as suggestions.
    """
    names = parameter_names(factory)
    if names is None:
        return []
    accepted, required, takes_any = names
    supplied = tuple(supplied)
    choices = [name for name in accepted if name not in supplied]
    problems: list[tuple[str, str]] = []
    for key, value in arguments.items():
        if key not in accepted:
            if not takes_any:
                problems.append((key, f"{UNKNOWN}.{did_you_mean(key, choices)} Accepted: {', '.join(choices)}"))
            continue
        problem = type_problem(factory, key, value)
        if problem:
            problems.append((key, problem))
    for key in required:
        if key not in arguments and key not in supplied:
            problems.append((key, MISSING))
    return problems


def check_arguments(
    factory: Callable[..., Any], arguments: Mapping[str, Any], what: str, error: type[Exception]
) -> None:
    """Raise ``error`` naming ``what`` and every problem of ``arguments`` (see :func:`argument_problems`)."""
    problems = argument_problems(factory, arguments)
    if not problems:
        return
    missing = [key for key, problem in problems if problem == MISSING]
    texts = [
        problem.replace(UNKNOWN, f"{UNKNOWN} '{key}'", 1) if problem.startswith(UNKNOWN) else f"'{key}': {problem}"
        for key, problem in problems
        if problem != MISSING
    ]
    if missing:
        texts.append(f"{MISSING}(s) {', '.join(repr(key) for key in missing)}")
    raise error(f"{what}: " + "; ".join(texts))


def json_defaults(factory: Callable[..., Any], exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The factory's keyword defaults that JSON can hold (tuples as lists), except ``exclude``."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return {}
    excluded = set(exclude)
    defaults = {}
    for parameter in parameters:
        if parameter.name in excluded or parameter.default is parameter.empty:
            continue
        if parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            continue
        value = list(parameter.default) if isinstance(parameter.default, tuple) else parameter.default
        if _json_safe(value):
            defaults[parameter.name] = value
    return defaults


def convert_arguments(factory: Callable[..., Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """``arguments`` with each value converted to the type its parameter takes, where that is unambiguous.

    The type is the parameter's annotation, else its default's type. Text that spells a number becomes
    an ``int`` or ``float`` when the parameter takes numbers and no string (``"3e-4"`` → ``0.0003``;
    ``"1e3"`` → ``1000`` for an ``int``), a whole ``float`` becomes an ``int`` where only integers fit,
    and lists and tuples are converted item by item. Anything else is left as it is (for
    :func:`argument_problems` to report).
    """
    return {key: convert_value(factory, key, value) for key, value in arguments.items()}


def convert_value(factory: Callable[..., Any], key: str, value: Any) -> Any:
    """One value of :func:`convert_arguments`."""
    annotation = _type_hints(factory).get(key)
    if annotation is None:
        default = _defaults(factory).get(key, inspect.Parameter.empty)
        if isinstance(default, bool) or not isinstance(default, int | float | tuple):
            return value
        annotation = _annotation_of(default)
    return _converted(annotation, value)


def _annotation_of(default: Any) -> Any:
    """The annotation a default value implies: ``float`` for ``0.1``, ``tuple[float, ...]`` for ``(0.9, 0.999)``."""
    if isinstance(default, tuple):
        kinds = {type(item) for item in default}
        if len(kinds) == 1 and kinds <= {int, float}:
            return tuple[kinds.pop(), ...]  # type: ignore[misc]
        return None
    return float if isinstance(default, float) else int


def _converted(annotation: Any, value: Any) -> Any:
    options = _options(annotation)
    if isinstance(value, str) and not any(_may_take_string(option) for option in options):
        return _number(value, options)
    if isinstance(value, float) and int in options and float not in options and value.is_integer():
        return int(value)
    if isinstance(value, list | tuple):
        for option in options:
            origin, items = typing.get_origin(option), typing.get_args(option)
            if origin in (list, tuple) and len(items) == 2 and items[1] is Ellipsis:
                items = items[:1]
            if origin in (list, tuple) and len(items) == 1:
                return type(value)(_converted(items[0], item) for item in value)
            if origin is tuple and len(items) == len(value):
                return type(value)(_converted(item_type, item) for item_type, item in zip(items, value, strict=True))
    return value


def _number(text: str, options: tuple[Any, ...]) -> Any:
    """``text`` as the number ``options`` take (``int`` first when it is whole); ``text`` when it is no number."""
    if int not in options and float not in options:
        return text
    try:
        number = float(text.strip())
    except ValueError:
        return text
    if int in options and (float not in options or _spells_int(text)) and number.is_integer():
        return int(number)
    return number if float in options else text


def _spells_int(text: str) -> bool:
    try:
        int(text.strip())
    except ValueError:
        return False
    return True


def _options(annotation: Any) -> tuple[Any, ...]:
    """The members of a union annotation (the annotation itself otherwise)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _may_take_string(option: Any) -> bool:
    """Whether a string might fit ``option`` (unknown kinds of annotation might take one)."""
    if option is Any or option is None:
        return option is Any
    origin = typing.get_origin(option)
    if origin is typing.Literal:
        return any(isinstance(member, str) for member in typing.get_args(option))
    if origin in (typing.Union, types.UnionType):
        return any(_may_take_string(member) for member in typing.get_args(option))
    target = origin if origin is not None else option
    if isinstance(target, type):
        return issubclass(str, target)
    return True  # a TypeVar, a forward reference, ...: cannot tell


@cached_per_factory
def _defaults(factory: Callable[..., Any]) -> dict[str, Any]:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {parameter.name: parameter.default for parameter in parameters if parameter.default is not parameter.empty}


def type_problem(factory: Callable[..., Any], key: str, value: Any) -> str | None:
    """A message when ``value`` clearly does not fit the parameter's annotation.

    Simple types only (``int``, ``float``, ``str``, ``bool``, optionally ``None``), and a string where
    only numbers and classes that are no strings fit (``lr: float | Tensor``).
    """
    annotation = _type_hints(factory).get(key)
    if annotation is None:
        return None
    options = _options(annotation)
    numbers = any(option in (int, float) for option in options)
    if isinstance(value, str) and numbers and not any(_may_take_string(option) for option in options):
        return f"expected {_describe(options)}, got str {value!r}"
    allowed: list[type] = []
    for option in options:
        if option is type(None):
            if value is None:
                return None
            continue
        simple = _SIMPLE_TYPES.get(option)
        if simple is None:
            return None  # not a simple type: accept
        allowed.extend(simple)
    if isinstance(value, bool) and bool not in allowed:
        return f"expected {_describe(options)}, got {value!r}"
    if allowed and not isinstance(value, tuple(allowed)):
        return f"expected {_describe(options)}, got {type(value).__name__} {value!r}"
    return None


@cached_per_factory
def _type_hints(factory: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(getattr(factory, "__init__", factory) if isinstance(factory, type) else factory)
    except Exception:  # unresolvable annotations: accept anything
        return {}


def _json_safe(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _describe(options: tuple[Any, ...]) -> str:
    return " or ".join(
        "None" if option is type(None) else getattr(option, "__name__", str(option)) for option in options
    )
