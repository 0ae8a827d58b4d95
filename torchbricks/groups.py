"""Brick groups and the model stages that select them.

A brick belongs to one or more groups (``MODEL``, ``LOSS``, ``METRIC``, ``VISUALIZATION`` or any
name you choose). ``BrickCollection.forward(named_inputs, groups=...)`` runs only the bricks in the
requested groups. A :class:`Stage` names the usual group sets so you need not spell them.

Example:
    >>> sorted(Stage.TRAIN.groups)
    ['LOSS', 'METRIC', 'MODEL']
    >>> sorted(resolve_groups("inference"))
    ['MODEL']
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import Union

from torchbricks.errors import BrickDefinitionError, InvalidGroupsError

MODEL = "MODEL"
LOSS = "LOSS"
METRIC = "METRIC"
VISUALIZATION = "VISUALIZATION"

STANDARD_GROUPS: frozenset[str] = frozenset({MODEL, LOSS, METRIC, VISUALIZATION})


class Stage(Enum):
    """Model stages, each a preset set of groups.

    ``TRAIN``, ``VALIDATION`` and ``TEST`` run ``MODEL``, ``LOSS`` and ``METRIC`` bricks;
    ``INFERENCE`` and ``EXPORT`` run ``MODEL`` bricks only (no targets needed).
    """

    TRAIN = "train"
    VALIDATION = "validation"
    TEST = "test"
    INFERENCE = "inference"
    EXPORT = "export"

    @property
    def groups(self) -> frozenset[str]:
        """The groups a collection runs in this stage."""
        return _STAGE_GROUPS[self]


_STAGE_GROUPS: dict[Stage, frozenset[str]] = {
    Stage.TRAIN: frozenset({MODEL, LOSS, METRIC}),
    Stage.VALIDATION: frozenset({MODEL, LOSS, METRIC}),
    Stage.TEST: frozenset({MODEL, LOSS, METRIC}),
    Stage.INFERENCE: frozenset({MODEL}),
    Stage.EXPORT: frozenset({MODEL}),
}

_STAGE_BY_NAME: dict[str, Stage] = {stage.value: stage for stage in Stage}

GroupsLike = Union[str, Iterable[str], Stage, None]  # noqa: UP007 - a runtime alias must work on 3.10


def resolve_groups(groups: GroupsLike) -> frozenset[str] | None:
    """Turn what users pass as ``groups`` into a frozenset of group names (``None`` means all bricks).

    Accepts ``None``, a :class:`Stage`, a stage name (``"train"``), a single group name (``"MODEL"``)
    or an iterable of group names.
    """
    if groups is None:
        return None
    if isinstance(groups, Stage):
        return groups.groups
    if isinstance(groups, str):
        stage = _STAGE_BY_NAME.get(groups)
        return stage.groups if stage is not None else frozenset((groups,))
    try:
        resolved = frozenset(groups)
    except TypeError:
        raise InvalidGroupsError(
            f"groups must be a Stage, a stage or group name, or an iterable of group names; got {groups!r}"
        ) from None
    for group in resolved:
        if not isinstance(group, str):
            raise InvalidGroupsError(f"Group names must be strings, got {group!r} in groups={groups!r}")
    return resolved


def brick_groups(group: str | Iterable[str] | None, groups: Iterable[str] | None, default: str) -> set[str]:
    """The group set of a brick from its ``group``/``groups`` arguments (either may be a name or names)."""
    if group is not None and groups is not None:
        raise BrickDefinitionError(f"Pass either group={group!r} or groups={groups!r}, not both")
    chosen = groups if groups is not None else group
    if chosen is None:
        return {default}
    names = {chosen} if isinstance(chosen, str) else set(chosen)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise BrickDefinitionError(f"A brick's groups must be non-empty strings, got {chosen!r}")
    return names
