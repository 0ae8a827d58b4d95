"""Data names and brick paths: how bricks name what they read and write, and the checks on those names.

Bricks in nested collections have paths such as ``head0/classify``. Relative data names are resolved
against the path of the collection holding the brick: in ``head0``, ``./logits`` becomes
``head0/logits`` and ``../features`` becomes ``features``. Other names are absolute.

Example:
    >>> resolve_name("./logits", ("head0",))
    'head0/logits'
    >>> resolve_name("../features", ("tasks", "head0"))
    'tasks/features'
    >>> resolve_name("features", ("head0",))
    'features'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from torchbricks.errors import BrickDefinitionError, RelativeNameError

InputNames = list[str] | dict[str, str]
"""A brick's ``input_names``: a list (positional arguments) or a dict ``{parameter: data name}``."""

ALL_INPUTS = "__all__"
"""Put ``"__all__"`` in ``input_names`` to pass a brick every named data item as one dict.

Alone (``["__all__"]``) the dict is the only argument; among other names (``["raw", "__all__"]``,
``{"tensor": "./logits", "named_data": "__all__"}``) it is the argument at its place.
"""

PATH_SEPARATOR = "/"


def is_relative(name: str) -> bool:
    """True for names starting with ``./`` or ``../``."""
    return name.startswith(("./", "../"))


def resolve_name(name: str, collection_path: tuple[str, ...], brick_path: str = "") -> str:
    """Resolve ``name`` against the path of the collection that holds the brick.

    ``brick_path`` only serves the error message when ``../`` climbs above the root.
    """
    if not is_relative(name):
        return name
    parts = list(collection_path)
    segments = name.split(PATH_SEPARATOR)
    index = 0
    while index < len(segments) - 1 and segments[index] in (".", ".."):
        if segments[index] == "..":
            if not parts:
                where = f"brick '{brick_path}'" if brick_path else "a top-level brick"
                raise RelativeNameError(
                    f"The relative name '{name}' of {where} climbs above the top-level collection; "
                    f"use fewer '../' or an absolute name"
                )
            parts.pop()
        index += 1
    remainder = PATH_SEPARATOR.join(segments[index:])
    if not remainder:
        raise RelativeNameError(f"The relative name '{name}' of brick '{brick_path}' names no data")
    return PATH_SEPARATOR.join([*parts, remainder])


def join_path(collection_path: tuple[str, ...], key: str) -> str:
    """The path of the brick stored under ``key`` in the collection at ``collection_path``."""
    return PATH_SEPARATOR.join((*collection_path, key))


def resolved_inputs(
    input_names: InputNames, collection_path: tuple[str, ...], brick_path: str
) -> tuple[tuple[str, ...], tuple[str, ...] | None, bool]:
    """Input names resolved against ``collection_path``: (names, keywords or None, reads_all).

    ``["__all__"]`` alone gives no names and ``reads_all``; ``"__all__"`` among other names stays in
    ``names`` at its place (that argument receives the dict of all named data) and sets ``reads_all``.

    Example:
        >>> resolved_inputs({"tensor": "./logits", "named_data": "__all__"}, ("head",), "head/loss")
        (('head/logits', '__all__'), ('tensor', 'named_data'), True)
    """
    if isinstance(input_names, dict):
        keywords = tuple(input_names)
        names = tuple(resolve_name(name, collection_path, brick_path) for name in input_names.values())
        return names, keywords, ALL_INPUTS in names
    if input_names == [ALL_INPUTS]:
        return (), None, True
    names = tuple(resolve_name(name, collection_path, brick_path) for name in input_names)
    return names, None, ALL_INPUTS in names


def checked_input_names(input_names: Any, brick_type: str) -> InputNames:
    if isinstance(input_names, str):
        raise BrickDefinitionError(
            f"{brick_type} input_names must be a list or dict of names, got the string {input_names!r}; "
            f"did you mean [{input_names!r}]?"
        )
    if isinstance(input_names, Mapping):
        checked: InputNames = dict(input_names)
        names = list(checked.values())
        if not all(isinstance(key, str) and key.isidentifier() for key in checked):
            raise BrickDefinitionError(
                f"{brick_type} input_names given as a dict must map parameter names to data names, got {checked!r}"
            )
    elif isinstance(input_names, Iterable):
        checked = list(input_names)
        names = checked
    else:
        raise BrickDefinitionError(
            f"{brick_type} input_names must be a list or dict of names, got {type(input_names).__name__}"
        )
    _check_names(names, "input_names", brick_type)
    return checked


def checked_output_names(output_names: Any, brick_type: str) -> list[str]:
    if output_names is None:
        return []
    if isinstance(output_names, str):
        raise BrickDefinitionError(
            f"{brick_type} output_names must be a list of names, got the string {output_names!r}; "
            f"did you mean [{output_names!r}]?"
        )
    if isinstance(output_names, Mapping) or not isinstance(output_names, Iterable):
        raise BrickDefinitionError(f"{brick_type} output_names must be a list of names, got {output_names!r}")
    names = list(output_names)
    _check_names(names, "output_names", brick_type)
    if ALL_INPUTS in names:
        raise BrickDefinitionError(f"{brick_type} cannot write '{ALL_INPUTS}'; it is reserved for input_names")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise BrickDefinitionError(f"{brick_type} output_names={names!r} repeats {duplicates}")
    return names


def _check_names(names: list[Any], argument: str, brick_type: str) -> None:
    for name in names:
        if not isinstance(name, str) or not name:
            raise BrickDefinitionError(f"{brick_type} {argument} must be non-empty strings, got {name!r} in {names!r}")


def checked_loss_output_names(loss_output_names: Iterable[str] | str, output_names: list[str]) -> list[str]:
    """``"all"``: every output; ``"none"`` (the original's default): no output; else names among the outputs."""
    if loss_output_names == "all":
        return list(output_names)
    if loss_output_names == "none":
        return []
    names = [loss_output_names] if isinstance(loss_output_names, str) else list(loss_output_names)
    unknown = [name for name in names if name not in output_names]
    if unknown:
        raise BrickDefinitionError(f"loss_output_names {unknown} are not among the brick's output_names {output_names}")
    return names
