"""Brick groups and the model stages that select them.

A brick belongs to one or more groups (``MODEL``, ``LOSS``, ``METRIC``, ``METRIC_EXTRA``,
``VISUALIZATION`` or any name you choose; torchbricks 0.4.2 called them *tags*).
``BrickCollection.forward(named_inputs, groups=...)`` runs only the bricks in the requested groups.
A :class:`Stage` names the usual group sets so you need not spell them.

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
METRIC_EXTRA = "METRIC_EXTRA"
"""Metrics too costly for every epoch: run in the ``TEST`` stage only."""
VISUALIZATION = "VISUALIZATION"

STANDARD_GROUPS: frozenset[str] = frozenset({MODEL, LOSS, METRIC, METRIC_EXTRA, VISUALIZATION})


class Stage(Enum):
    """Model stages, each a preset set of groups.

    ``TRAIN`` and ``VALIDATION`` run ``MODEL``, ``LOSS`` and ``METRIC`` bricks; ``TEST`` also runs
    ``METRIC_EXTRA``; ``INFERENCE`` and ``EXPORT`` run ``MODEL`` bricks only (no targets needed).
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
    Stage.TEST: frozenset({MODEL, LOSS, METRIC, METRIC_EXTRA}),
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


def brick_groups(
    group: str | Iterable[str] | None,
    groups: Iterable[str] | None,
    default: str,
    tags: str | Iterable[str] | None = None,
) -> set[str]:
    """The group set of a brick from its ``group``/``groups``/``tags`` arguments (each a name or names).

    ``tags`` is the torchbricks 0.4.2 name of ``groups``; only one of the three may be given.
    """
    given = {name: value for name, value in (("group", group), ("groups", groups), ("tags", tags)) if value is not None}
    if len(given) > 1:
        passed = " and ".join(f"{name}={value!r}" for name, value in given.items())
        raise BrickDefinitionError(f"Pass only one of group, groups or tags (the same thing), got {passed}")
    chosen = next(iter(given.values()), None)
    if chosen is None:
        return {default}
    names = {chosen} if isinstance(chosen, str) else set(chosen)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise BrickDefinitionError(f"A brick's groups must be non-empty strings, got {chosen!r}")
    return names


def groups_or_tags(groups: GroupsLike, tags: GroupsLike) -> GroupsLike:
    """``groups``, or ``tags`` (its torchbricks 0.4.2 name) when that is the one given.

    Example:
        >>> sorted(groups_or_tags(None, {"MODEL"}))
        ['MODEL']
    """
    if tags is None:
        return groups
    if groups is not None:
        raise InvalidGroupsError(f"Pass either groups={groups!r} or tags={tags!r} (its 0.4.2 name), not both")
    return tags
