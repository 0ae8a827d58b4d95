"""BrickCollection: a dict of bricks (nested dicts allowed) run as one validated DAG.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from torchbricks.bricks import BrickLoss, BrickTrainable
    >>> collection = BrickCollection({
    ...     "head": BrickTrainable(nn.Linear(4, 2), input_names=["features"], output_names=["logits"]),
    ...     "loss": BrickLoss(nn.CrossEntropyLoss(), input_names=["logits", "targets"], output_names=["loss_ce"]),
    ... })
    >>> collection.external_inputs
    ('features', 'targets')
    >>> sorted(collection({"features": torch.zeros(3, 4)}, groups={"MODEL"}))
    ['features', 'logits']
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from torchbricks._execution_plan import ExecutionPlan
from torchbricks._structure import STRUCTURE, structure_changed
from torchbricks.bricks import BrickInterface
from torchbricks.errors import CollectionBuildError, NamedInputsError
from torchbricks.graph._dependencies import BrickGraph, BrickNode, brick_node, summary_keys
from torchbricks.groups import GroupsLike, Stage, groups_or_tags, resolve_groups
from torchbricks.names import PATH_SEPARATOR

MAX_NESTING = 64
"""The deepest nesting of collections (a guard against runaway recursion, far beyond real models)."""

BrickTree = Mapping[str, "BrickInterface | BrickCollection | BrickTree"]


class BrickCollection(nn.ModuleDict):
    """A dictionary of bricks executed as a DAG of named data.

    Nested dicts become nested collections; relative names (``./logits``) resolve against the
    nested path (``head0/logits``). The graph is validated when the collection is built: two bricks
    writing one name and cycles are errors; names no brick writes are external inputs. Bricks run
    in a topological order of their data dependencies.

    Args:
        bricks: brick name → brick, nested dict of bricks, or ``BrickCollection``.
    """

    def __init__(self, bricks: BrickTree | None = None, *, _path: tuple[str, ...] = (), _validate: bool = True) -> None:
        super().__init__()
        object.__setattr__(self, "_path", tuple(_path))
        object.__setattr__(self, "_graph", None)
        object.__setattr__(self, "_graph_version", -1)
        object.__setattr__(self, "_root_ref", None)  # set on nested collections: changes revalidate the whole model
        for key, value in (bricks or {}).items():
            self._add(key, value)
        if _validate:
            self._refresh_graph()

    # -- running -------------------------------------------------------------------------------------

    def forward(
        self,
        named_inputs: Mapping[str, Any],
        groups: GroupsLike = None,
        outputs: Sequence[str] | None = None,
        *,
        return_inputs: bool = True,
        tags: GroupsLike = None,
    ) -> dict[str, Any]:
        """Run the bricks of ``groups`` (default: all) and return all named data, inputs included.

        ``groups`` may be a set of group names, one group name, a :class:`Stage` or a stage name
        (``"train"``, ``"inference"``, ...); ``tags`` is its torchbricks 0.4.2 name. ``outputs`` returns
        only those names: intermediates then need not be kept, which lets ``torch.compile`` reuse their
        memory. ``return_inputs=False`` leaves out the named inputs that no brick wrote.
        """
        if tags is not None:
            groups = groups_or_tags(groups, tags)
        graph = self._graph
        if graph is None or self._graph_version != STRUCTURE.value:
            graph = self._refresh_graph()
        plan = graph.plan(None if groups is None else _groups_key(groups))
        if type(named_inputs) is not dict and not isinstance(named_inputs, Mapping):
            raise NamedInputsError(
                f"{type(self).__name__} takes a dict of named inputs {{name: value}}, got {type(named_inputs).__name__}"
                f"; it needs {list(plan.required_inputs)}"
            )
        for name in plan.required_inputs:
            if name not in named_inputs:
                raise plan.missing_inputs_error(named_inputs)
        data = dict(named_inputs)
        for step in plan.steps:
            step(data)
        if outputs is None:
            if return_inputs:
                return data
            return {name: value for name, value in data.items() if name not in named_inputs or name in plan.produced}
        for name in outputs:
            if name not in data:
                raise plan.unknown_output_error(name, data)
        return {name: data[name] for name in outputs}

    def extract_losses(self, named_outputs: Mapping[str, Any]) -> dict[str, Any]:
        """The loss outputs (of ``BrickLoss`` bricks and ``loss_output_names``) found in ``named_outputs``."""
        return {name: named_outputs[name] for name in self.graph.loss_names if name in named_outputs}

    def summarize(self, reset: bool = False) -> dict[str, Any]:
        """Computed metrics of every metric brick, keyed ``<collection path>/<metric>`` (``head0/MulticlassAccuracy``;
        the bare metric name at the top level).

        When two metric bricks would produce the same key, both are keyed by their brick path instead
        (``head0/accuracy/MulticlassAccuracy``), so no result is ever overwritten.
        """
        computed = [
            (node, metric_name, value)
            for node in self.graph.metric_nodes
            for metric_name, value in node.brick.summarize(reset=reset).items()
        ]
        keys = summary_keys([(node, metric_name) for node, metric_name, _ in computed])
        return {key: value for key, (_, _, value) in zip(keys, computed, strict=True)}

    def reset_metrics(self) -> None:
        """Reset the accumulated state of every metric brick."""
        for node in self.graph.metric_nodes:
            node.brick.reset_metrics()

    # -- inspecting ------------------------------------------------------------------------------------

    @property
    def graph(self) -> BrickGraph:
        """The validated dependency graph (rebuilt after any structural change)."""
        graph = self._graph
        if graph is None or self._graph_version != STRUCTURE.value:
            graph = self._refresh_graph()
        return graph

    @property
    def path(self) -> str:
        """Where this collection sits in its top-level collection (``""`` for the top level)."""
        return PATH_SEPARATOR.join(self._path)

    @property
    def external_inputs(self) -> tuple[str, ...]:
        """Names read by some brick and written by none: what ``forward`` needs for all groups."""
        return self.graph.external_inputs

    def required_inputs(self, groups: GroupsLike = None) -> tuple[str, ...]:
        """The named inputs ``forward`` needs when running ``groups`` (in order of first use)."""
        return self._plan(groups).required_inputs

    def output_names(self, groups: GroupsLike = None) -> tuple[str, ...]:
        """The names written by the bricks of ``groups``, in execution order."""
        return tuple(name for node in self._plan(groups).nodes for name in node.outputs)

    def execution_order(self, groups: GroupsLike = None) -> list[str]:
        """Brick paths in the order ``forward`` runs them for ``groups``."""
        return [node.path for node in self._plan(groups).nodes]

    def nodes(self, groups: GroupsLike = None) -> tuple[BrickNode, ...]:
        """The bricks of ``groups`` with their resolved names, in execution order."""
        return self._plan(groups).nodes

    @property
    def groups(self) -> frozenset[str]:
        """Every group some brick of the collection belongs to."""
        return self.graph.groups_used

    def named_bricks(self) -> Iterator[tuple[str, BrickInterface]]:
        """``(path, brick)`` for every brick, depth first in insertion order."""
        for key, value in self.items():
            if isinstance(value, BrickCollection):
                yield from value.named_bricks()
            else:
                yield PATH_SEPARATOR.join((*self._path, key)), value

    def to_dict(self) -> dict[str, Any]:
        """The bricks as a nested dict (the form the collection was built from)."""
        return {key: value.to_dict() if isinstance(value, BrickCollection) else value for key, value in self.items()}

    def sub_collection(self, groups: GroupsLike = None, *, tags: GroupsLike = None) -> BrickCollection:
        """A new collection with only the bricks of ``groups`` (default: every brick), sharing the brick objects.

        ``tags`` is the torchbricks 0.4.2 name of ``groups``.
        """
        groups = groups_or_tags(groups, tags)
        selected = resolve_groups(groups)
        if selected is not None:
            self._plan(groups)  # validates the group names
        return BrickCollection(_filter_tree(self.to_dict(), selected), _path=self._path)

    # -- saving and loading ------------------------------------------------------------------------------

    def save_bricks(self, path_model_folder: str | Path, exist_ok: bool = False) -> list[Path]:
        """Save one safetensors file per brick with state, in folders mirroring the nesting.

        See :func:`torchbricks.weights.save_bricks`.
        """
        from torchbricks.weights import save_bricks

        return save_bricks(self, path_model_folder, exist_ok=exist_ok)

    def load_bricks(self, path_model_folder: str | Path, strict: bool = False) -> None:
        """Load weights saved by :meth:`save_bricks`. See :func:`torchbricks.weights.load_bricks`.

        ``strict=False`` by default (bricks without a file keep their weights, with a warning), unlike
        :func:`torchbricks.assembly.load_model`, which loads a saved folder as a whole (``strict=True``).
        """
        from torchbricks.weights import load_bricks

        load_bricks(self, path_model_folder, strict=strict)

    # -- dict behaviour: every structural change revalidates -----------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        structure_changed()

    def update(self, bricks: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:  # type: ignore[override]
        """Add or replace bricks; the collection is revalidated once, and left unchanged on error."""
        items = list(bricks.items() if isinstance(bricks, Mapping) else bricks)
        previous = dict(self._modules)
        try:
            for key, value in items:
                self._add(key, value)
            structure_changed()
            self._root()._refresh_graph()  # a nested change is checked against the whole model
        except Exception:
            self._modules.clear()
            self._modules.update(previous)
            structure_changed()
            raise

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, nn.Module):
            if name.startswith("_"):
                raise CollectionBuildError(
                    f"Cannot set '{name}' on a BrickCollection: a brick name cannot start with '_' (it would be "
                    f"saved but never run); use collection[{name.lstrip('_')!r}] = brick"
                )
            self.update({name: value})  # `collection.head = brick` behaves like `collection["head"] = brick`
        else:
            super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if name in self._modules:
            del self[name]
        else:
            super().__delattr__(name)

    def clear(self) -> None:
        super().clear()
        structure_changed()

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        state["_graph"] = None  # holds closures over this object's bricks; rebuilt after copy/unpickle
        state["_graph_version"] = -1
        state["_root_ref"] = None  # weak references are not copied; the root links its nested collections again
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        _link_nested(self, weakref.ref(self))  # the root's state is set last: it wins

    # -- internals ----------------------------------------------------------------------------------------------

    def _add(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key or PATH_SEPARATOR in key or "." in key:
            raise CollectionBuildError(
                f"Brick names must be non-empty strings without '/' or '.', got {key!r}"
                + (f" in '{self.path}'" if self._path else "")
            )
        path = (*self._path, key)
        if len(path) > MAX_NESTING:
            raise CollectionBuildError(
                f"Collections nest deeper than {MAX_NESTING} levels at '{PATH_SEPARATOR.join(path[:3])}/...'; "
                f"flatten the bricks"
            )
        if key not in self._modules and (hasattr(type(self), key) or key in self.__dict__):
            raise CollectionBuildError(
                f"Brick name '{PATH_SEPARATOR.join(path)}' clashes with the BrickCollection attribute '{key}'; "
                f"rename the brick (e.g. '{key}_brick')"
            )
        if isinstance(value, BrickCollection):
            if value._path != path:
                value = BrickCollection(value.to_dict(), _path=path, _validate=False)
        elif isinstance(value, Mapping):
            value = BrickCollection(value, _path=path, _validate=False)
        elif not isinstance(value, BrickInterface):
            kind = type(value).__name__
            hint = (
                f"; wrap it, e.g. BrickTrainable({kind}(...), input_names=[...], output_names=[...])"
                if isinstance(value, nn.Module)
                else ""
            )
            raise CollectionBuildError(f"'{PATH_SEPARATOR.join(path)}' is a {kind}, not a brick{hint}")
        nn.Module.add_module(self, key, value)

    def _root(self) -> BrickCollection:
        """The top-level collection this one is nested in (itself when it is the top level)."""
        reference = self._root_ref
        root = reference() if reference is not None else None
        return root if root is not None else self

    def _refresh_graph(self) -> BrickGraph:
        nodes: list[BrickNode] = []
        _collect_nodes(self, nodes, weakref.ref(self._root()))
        graph = BrickGraph(nodes)
        object.__setattr__(self, "_graph", graph)
        object.__setattr__(self, "_graph_version", STRUCTURE.value)
        return graph

    def _plan(self, groups: GroupsLike) -> ExecutionPlan:
        return self.graph.plan(resolve_groups(groups))


def _link_nested(collection: BrickCollection, root: weakref.ReferenceType[BrickCollection]) -> None:
    for value in collection.values():
        if isinstance(value, BrickCollection):
            object.__setattr__(value, "_root_ref", root)
            _link_nested(value, root)


def _collect_nodes(
    collection: BrickCollection, nodes: list[BrickNode], root: weakref.ReferenceType[BrickCollection]
) -> None:
    for key, value in collection.items():
        if isinstance(value, BrickCollection):
            object.__setattr__(value, "_root_ref", root)
            _collect_nodes(value, nodes, root)
        else:
            nodes.append(brick_node(value, collection._path, key, len(nodes)))


def _groups_key(groups: GroupsLike) -> frozenset[str] | None:
    if isinstance(groups, frozenset):
        return groups
    return resolve_groups(groups)


def _filter_tree(tree: Mapping[str, Any], groups: frozenset[str] | None) -> dict[str, Any]:
    filtered: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            child = _filter_tree(value, groups)
            if child:
                filtered[key] = child
        elif groups is None or value.groups & groups:
            filtered[key] = value
    return filtered


__all__ = ["BrickCollection", "Stage"]
