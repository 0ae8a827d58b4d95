"""Data names and brick paths.

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

from torchbricks.errors import RelativeNameError

ALL_INPUTS = "__all__"
"""Put ``"__all__"`` in ``input_names`` to pass a brick every named data item as one dict."""

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
