"""The per-group execution plans of a brick collection.

A plan selects the bricks of a group set from the validated dependency graph
(:class:`torchbricks.graph._dependencies.BrickGraph`, which builds and caches one plan per group set),
keeps their execution order, and precomputes their steps and the external inputs they need.

Example:
    >>> from torch import nn
    >>> from torchbricks import BrickCollection, BrickLoss, BrickTrainable
    >>> collection = BrickCollection({
    ...     "head": BrickTrainable(nn.Identity(), ["features"], ["logits"]),
    ...     "loss": BrickLoss(nn.MSELoss(), ["logits", "targets"], ["loss"]),
    ... })
    >>> plan = collection.graph.plan(frozenset({"MODEL"}))
    >>> [node.path for node in plan.nodes], plan.required_inputs
    (['head'], ('features',))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from torchbricks._steps import Step, make_step
from torchbricks.errors import MissingInputsError, UnknownGroupError, UnknownOutputError
from torchbricks.groups import STANDARD_GROUPS
from torchbricks.suggestions import did_you_mean

if TYPE_CHECKING:
    from torchbricks.bricks import BrickInterface


class PlannedNode(Protocol):
    """What a plan reads of a brick node; :class:`torchbricks.graph._dependencies.BrickNode` is one.

    Plans do not import the node type: the dependency graph builds plans, not the other way round.
    """

    @property
    def path(self) -> str: ...
    @property
    def brick(self) -> BrickInterface: ...
    @property
    def inputs(self) -> tuple[str, ...]: ...
    @property
    def arguments(self) -> tuple[str, ...] | None: ...
    @property
    def keywords(self) -> tuple[str, ...] | None: ...
    @property
    def reads_all(self) -> bool: ...
    @property
    def outputs(self) -> tuple[str, ...]: ...
    @property
    def groups(self) -> frozenset[str]: ...


NodeT = TypeVar("NodeT", bound=PlannedNode)


@dataclass(frozen=True)
class ExecutionPlan(Generic[NodeT]):
    """The bricks of one group set in execution order, with their steps and required inputs."""

    groups: frozenset[str] | None
    nodes: tuple[NodeT, ...]
    steps: tuple[Step, ...]
    required_inputs: tuple[str, ...]
    consumers: Mapping[str, tuple[str, ...]] = field(repr=False)
    produced: frozenset[str] = field(repr=False)

    def missing_inputs_error(self, named_inputs: Mapping[str, Any]) -> MissingInputsError:
        """The error listing every required input absent from ``named_inputs`` and who needs it."""
        provided = [name for name in named_inputs if isinstance(name, str)]
        missing = [name for name in self.required_inputs if name not in named_inputs]
        lines = []
        for name in missing:
            needed_by = ", ".join(f"'{path}'" for path in self.consumers[name])
            lines.append(f"  '{name}' needed by {needed_by}.{did_you_mean(name, [*provided, *self.produced])}")
        groups = "all groups" if self.groups is None else "groups " + str(sorted(self.groups))
        return MissingInputsError(
            f"{len(missing)} named input(s) missing for {groups}:\n" + "\n".join(lines) + f"\nGot: {sorted(provided)}"
        )

    def unknown_output_error(self, name: str, named_data: Mapping[str, Any]) -> UnknownOutputError:
        """The error for an ``outputs`` name that is neither an input nor written by the bricks run."""
        available = [key for key in named_data if isinstance(key, str)]
        groups = "all groups" if self.groups is None else "groups " + str(sorted(self.groups))
        return UnknownOutputError(
            f"Output '{name}' was asked for but is not written by the bricks of {groups} nor passed as an input."
            f"{did_you_mean(name, available)}"
        )


def build_plan(
    nodes: tuple[NodeT, ...], groups: frozenset[str] | None, groups_used: frozenset[str]
) -> ExecutionPlan[NodeT]:
    """The plan of the bricks of ``groups`` (``None``: every brick) among ``nodes``, in their order.

    ``groups_used`` are the groups of all ``nodes``; a group neither used nor standard is an error.
    """
    if groups is None:
        selected = nodes
    else:
        _check_groups(groups, groups_used)
        selected = tuple(node for node in nodes if node.groups & groups)
    produced: set[str] = set()
    consumers: dict[str, list[str]] = {}
    for node in selected:
        for name in node.inputs:
            if name not in produced:
                consumers.setdefault(name, []).append(node.path)
        produced.update(node.outputs)
    steps = tuple(
        make_step(
            node.brick.make_runner(),
            node.inputs if node.arguments is None else node.arguments,
            node.keywords,
            node.outputs,
            reads_all=node.reads_all,
            brick_path=node.path,
        )
        for node in selected
    )
    return ExecutionPlan(
        groups=groups,
        nodes=selected,
        steps=steps,
        required_inputs=tuple(consumers),
        consumers={name: tuple(paths) for name, paths in consumers.items()},
        produced=frozenset(produced),
    )


def _check_groups(groups: frozenset[str], groups_used: frozenset[str]) -> None:
    known = groups_used | STANDARD_GROUPS
    unknown = sorted(groups - known)
    if unknown:
        hints = "".join(did_you_mean(name, known) for name in unknown)
        raise UnknownGroupError(
            f"No brick is in group(s) {unknown}, and they are not standard groups.{hints} "
            f"Groups in this collection: {sorted(groups_used)}"
        )
