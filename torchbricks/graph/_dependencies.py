"""The validated dependency graph of a brick collection.

:class:`BrickGraph` is built once per structure of a collection. It resolves relative names, checks
that no two bricks write one name and that there is no cycle, and orders the bricks topologically
(insertion order breaks ties, so an already valid order is kept). :meth:`BrickGraph.plan` gives the
per-group execution plan of :mod:`torchbricks._execution_plan`, built once per group set.

Example:
    >>> from torch import nn
    >>> from torchbricks.bricks import BrickTrainable
    >>> nodes = [
    ...     brick_node(BrickTrainable(nn.Identity(), ["b"], ["c"]), (), "second", 0),
    ...     brick_node(BrickTrainable(nn.Identity(), ["a"], ["b"]), (), "first", 1),
    ... ]
    >>> graph = BrickGraph(nodes)
    >>> [node.path for node in graph.nodes], graph.external_inputs
    (['first', 'second'], ('a',))
"""

from __future__ import annotations

import heapq
import itertools
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from torchbricks._execution_plan import ExecutionPlan, build_plan
from torchbricks.bricks import BrickInterface
from torchbricks.errors import CyclicDependencyError, DuplicateOutputError, PossibleTypoWarning
from torchbricks.names import ALL_INPUTS, PATH_SEPARATOR, join_path, resolve_name, resolved_inputs
from torchbricks.suggestions import close_matches

_TYPO_CHECK_LIMIT = 2_000_000  # skip the typo heuristic when (external inputs x outputs) is larger
_TYPO_CUTOFF = 0.85


@dataclass(frozen=True)
class BrickNode:
    """One brick of a collection with its path and resolved data names.

    ``inputs`` are the data names read (its dependencies); ``arguments``, when set, are the names passed
    to the brick in order, ``"__all__"`` included where it stands among other names.
    """

    path: str
    collection_path: tuple[str, ...]
    brick: BrickInterface
    inputs: tuple[str, ...]
    keywords: tuple[str, ...] | None
    reads_all: bool
    outputs: tuple[str, ...]
    groups: frozenset[str]
    order: int
    arguments: tuple[str, ...] | None = None


def brick_node(brick: BrickInterface, collection_path: tuple[str, ...], key: str, order: int) -> BrickNode:
    """Resolve a brick's names against the collection path where it is stored under ``key``."""
    path = join_path(collection_path, key)
    arguments, keywords, reads_all = resolved_inputs(brick.input_names, collection_path, path)
    inputs = tuple(name for name in arguments if name != ALL_INPUTS) if reads_all else arguments
    outputs = tuple(resolve_name(name, collection_path, path) for name in brick.output_names)
    return BrickNode(
        path,
        collection_path,
        brick,
        inputs,
        keywords,
        reads_all,
        outputs,
        frozenset(brick.groups),
        order,
        arguments if inputs != arguments else None,
    )


class BrickGraph:
    """Validated dependency graph of bricks; see the module docstring."""

    def __init__(self, nodes: list[BrickNode]) -> None:
        self.producers: dict[str, BrickNode] = _producers(nodes)
        self.nodes: tuple[BrickNode, ...] = _execution_order(nodes, self.producers)
        self.external_inputs: tuple[str, ...] = _external_inputs(self.nodes, self.producers)
        self.groups_used: frozenset[str] = frozenset().union(*(node.groups for node in self.nodes))
        self.loss_names: tuple[str, ...] = tuple(name for node in self.nodes for name in _resolved_loss_names(node))
        self.metric_nodes: tuple[BrickNode, ...] = tuple(node for node in nodes if node.brick.metric_names())
        self._plans: dict[frozenset[str] | None, ExecutionPlan[BrickNode]] = {}
        _warn_possible_typos(self.nodes, self.external_inputs, self.producers)

    def plan(self, groups: frozenset[str] | None) -> ExecutionPlan[BrickNode]:
        """The execution plan for a group set (``None``: every brick); cached."""
        plan = self._plans.get(groups)
        if plan is None:
            plan = self._plans[groups] = build_plan(self.nodes, groups, self.groups_used)
        return plan


def _producers(nodes: list[BrickNode]) -> dict[str, BrickNode]:
    producers: dict[str, BrickNode] = {}
    for node in nodes:
        for name in node.outputs:
            other = producers.get(name)
            if other is not None:
                raise DuplicateOutputError(
                    f"Bricks '{other.path}' and '{node.path}' both write '{name}'; each name must have one "
                    f"writer. Rename one output (relative names like './{name.rsplit(PATH_SEPARATOR, 1)[-1]}' "
                    f"keep nested bricks apart)"
                )
            producers[name] = node
    return producers


def _execution_order(nodes: list[BrickNode], producers: dict[str, BrickNode]) -> tuple[BrickNode, ...]:
    index = {id(node): position for position, node in enumerate(nodes)}
    dependencies: list[set[int]] = [set() for _ in nodes]
    for position, node in enumerate(nodes):
        for name in node.inputs:
            producer = producers.get(name)
            if producer is None:
                continue
            if producer is node:
                raise CyclicDependencyError(
                    f"Brick '{node.path}' reads '{name}' and also writes it; write the result under a new name"
                )
            dependencies[position].add(index[id(producer)])
    _add_all_inputs_dependencies(nodes, dependencies)

    dependents: list[list[int]] = [[] for _ in nodes]
    remaining = [len(deps) for deps in dependencies]
    for position, deps in enumerate(dependencies):
        for dependency in deps:
            dependents[dependency].append(position)
    ready = [(nodes[position].order, position) for position, count in enumerate(remaining) if count == 0]
    heapq.heapify(ready)
    ordered: list[BrickNode] = []
    while ready:
        _, position = heapq.heappop(ready)
        ordered.append(nodes[position])
        for dependent in dependents[position]:
            remaining[dependent] -= 1
            if remaining[dependent] == 0:
                heapq.heappush(ready, (nodes[dependent].order, dependent))
    if len(ordered) != len(nodes):
        raise _cycle_error(nodes, dependencies, remaining)
    return tuple(ordered)


def _add_all_inputs_dependencies(nodes: list[BrickNode], dependencies: list[set[int]]) -> None:
    """A brick reading ``__all__`` runs after every brick that is not downstream of such a brick.

    Bricks reading ``__all__`` run in insertion order among themselves.
    """
    readers = [position for position, node in enumerate(nodes) if node.reads_all]
    if not readers:
        return
    dependents: list[list[int]] = [[] for _ in nodes]
    for position, deps in enumerate(dependencies):
        for dependency in deps:
            dependents[dependency].append(position)
    downstream = set(readers)
    stack = list(readers)
    while stack:
        for dependent in dependents[stack.pop()]:
            if dependent not in downstream:
                downstream.add(dependent)
                stack.append(dependent)
    regular = [position for position in range(len(nodes)) if position not in downstream]
    for number, reader in enumerate(readers):
        dependencies[reader].update(regular)
        dependencies[reader].update(readers[:number])


def _cycle_error(nodes: list[BrickNode], dependencies: list[set[int]], remaining: list[int]) -> CyclicDependencyError:
    blocked = {position for position, count in enumerate(remaining) if count > 0}
    start = min(blocked)
    seen: dict[int, int] = {}
    walk: list[int] = []
    position = start
    while position not in seen:
        seen[position] = len(walk)
        walk.append(position)
        position = min(dependency for dependency in dependencies[position] if dependency in blocked)
    cycle = walk[seen[position] :][::-1]
    cycle.append(cycle[0])
    hops = []
    for writer, reader in itertools.pairwise(cycle):
        names = sorted(set(nodes[writer].outputs) & set(nodes[reader].inputs)) or ["__all__"]
        hops.append(f"'{nodes[writer].path}' --{', '.join(names)}--> ")
    return CyclicDependencyError(
        "Bricks depend on each other in a cycle: " + "".join(hops) + f"'{nodes[cycle[0]].path}'"
    )


def _external_inputs(nodes: tuple[BrickNode, ...], producers: dict[str, BrickNode]) -> tuple[str, ...]:
    external: dict[str, None] = {}
    for node in nodes:
        for name in node.inputs:
            if name not in producers:
                external[name] = None
    return tuple(external)


def _resolved_loss_names(node: BrickNode) -> tuple[str, ...]:
    losses = set(node.brick.loss_output_names)
    return tuple(resolved for raw, resolved in zip(node.brick.output_names, node.outputs, strict=True) if raw in losses)


def summary_keys(metrics: list[tuple[BrickNode, str]]) -> list[str]:
    """The ``summarize`` key of each ``(metric brick, metric name)``: ``<collection path>/<metric>`` (the bare
    metric name at the top level); where two would clash, ``<brick path>/<metric>``.

    A metric's key depends only on where its brick sits, so adding a task never renames another task's
    metrics, and keys never repeat, so no metric overwrites another.
    """
    candidates = [PATH_SEPARATOR.join((*node.collection_path, metric_name)) for node, metric_name in metrics]
    candidate_counts = _counts(candidates)
    return [
        candidate if candidate_counts[candidate] == 1 else f"{node.path}{PATH_SEPARATOR}{metric_name}"
        for (node, metric_name), candidate in zip(metrics, candidates, strict=True)
    ]


def _counts(keys: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return counts


def _warn_possible_typos(
    nodes: tuple[BrickNode, ...], external_inputs: tuple[str, ...], producers: dict[str, BrickNode]
) -> None:
    """Warn when an external input is nearly a written name at the same nesting depth (likely a typo).

    Names at other depths (``shape_present`` vs ``shapes/present``) belong to other tasks, not typos.
    """
    if not external_inputs or len(external_inputs) * len(producers) > _TYPO_CHECK_LIMIT:
        return
    for name in external_inputs:
        depth = name.count(PATH_SEPARATOR)
        same_depth = [produced for produced in producers if produced.count(PATH_SEPARATOR) == depth]
        matches = close_matches(name, same_depth, n=1, cutoff=_TYPO_CUTOFF)
        if matches:
            readers = [node.path for node in nodes if name in node.inputs]
            match = matches[0]
            warnings.warn(
                f"Brick '{readers[0]}' reads '{name}', which no brick writes, so it is an external input; "
                f"did you mean '{match}' (written by '{producers[match].path}')?",
                PossibleTypoWarning,
                stacklevel=4,
            )
