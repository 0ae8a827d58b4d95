"""Property-based tests: random DAGs of bricks, inserted in random order and partly nested.

Each generated brick reads a random subset of the external inputs and of the names written by
earlier bricks, and writes one or two new names. Names may be written relative to the brick's
nested collection (``./x``, ``../x``). The collection's behaviour is compared with an independent
recursive evaluator over the same per-brick functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import pytest
import torch
from hypothesis import Phase, assume, given, settings
from hypothesis import strategies as st
from torch import nn

from tests.helpers.tensors import assert_tensors_equal
from torchbricks import BrickCollection
from torchbricks.bricks import BrickModule
from torchbricks.errors import CyclicDependencyError, DuplicateOutputError
from torchbricks.groups import STANDARD_GROUPS

# No "explain" phase: its line tracing makes a failing run take minutes instead of seconds.
PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
)

GROUPS = ("MODEL", "LOSS", "METRIC", "AUX")
LOCATIONS: tuple[tuple[str, ...], ...] = ((), ("g0",), ("g1",), ("g0", "h"))


def dag_function(index: int, n_outputs: int, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Brick ``index``'s outputs: depends on the order of the inputs and on the brick (deterministic)."""
    total = torch.full((2,), 0.25 * (index + 1), dtype=torch.float64)
    for position, tensor in enumerate(tensors):
        total = total + (position + 1) * tensor
    scale = 1.0 + 0.01 * index
    return [total * scale / max(len(tensors), 1) + 0.1 * (output + 1) for output in range(n_outputs)]


class DagModule(nn.Module):
    def __init__(self, index: int, n_outputs: int) -> None:
        super().__init__()
        self.index = index
        self.n_outputs = n_outputs

    def forward(self, *tensors: torch.Tensor) -> Any:
        outputs = dag_function(self.index, self.n_outputs, list(tensors))
        return outputs[0] if self.n_outputs == 1 else tuple(outputs)


@dataclass(frozen=True)
class BrickSpec:
    index: int
    location: tuple[str, ...]
    inputs: tuple[str, ...]  # resolved names
    written_inputs: tuple[str, ...]  # as given to the brick (maybe relative)
    outputs: tuple[str, ...]
    written_outputs: tuple[str, ...]
    groups: frozenset[str]

    @property
    def key(self) -> str:
        return f"b{self.index}"

    @property
    def path(self) -> str:
        return "/".join((*self.location, self.key))


@dataclass(frozen=True)
class Dag:
    externals: tuple[str, ...]
    bricks: tuple[BrickSpec, ...]  # in generation order, which is topological
    insertion: tuple[int, ...]  # the order bricks are inserted into the collection


def spellings(name: str, location: tuple[str, ...]) -> list[str]:
    """The absolute name and every relative spelling of it from a collection at ``location``."""
    forms = [name]
    parts = name.split("/")
    for depth in range(len(location) + 1):
        prefix = list(location[:depth])
        if parts[:depth] != prefix or len(parts) <= depth:
            continue
        rest = "/".join(parts[depth:])
        climb = len(location) - depth
        forms.append("./" + rest if climb == 0 else "../" * climb + rest)
    return forms


@st.composite
def dags(draw: st.DrawFn, nest: bool | None = None, shuffle: bool = True) -> Dag:
    n_bricks = draw(st.integers(1, 25))
    externals = tuple(f"in{k}" for k in range(draw(st.integers(1, 3))))
    nested = draw(st.booleans()) if nest is None else nest
    produced: list[str] = []
    bricks = []
    for index in range(n_bricks):
        location = draw(st.sampled_from(LOCATIONS)) if nested else ()
        inputs = tuple(draw(st.lists(st.sampled_from([*externals, *produced]), max_size=3, unique=True)))
        written_inputs = tuple(draw(st.sampled_from(spellings(name, location))) for name in inputs)
        outputs, written_outputs = [], []
        for output in range(draw(st.integers(1, 2))):
            leaf = f"p{index}_{output}"
            if location and draw(st.booleans()):
                outputs.append("/".join((*location, leaf)))
                written_outputs.append("./" + leaf)
            else:
                outputs.append(leaf)
                written_outputs.append(leaf)
        produced.extend(outputs)
        groups = frozenset(draw(st.sets(st.sampled_from(GROUPS), min_size=1, max_size=2)))
        bricks.append(
            BrickSpec(index, location, inputs, written_inputs, tuple(outputs), tuple(written_outputs), groups)
        )
    order = draw(st.permutations(range(n_bricks))) if shuffle else range(n_bricks)
    return Dag(externals, tuple(bricks), tuple(order))


def build_tree(dag: Dag, bricks: tuple[BrickSpec, ...] | None = None) -> dict[str, Any]:
    specs = dag.bricks if bricks is None else bricks
    tree: dict[str, Any] = {}
    for index in dag.insertion:
        spec = specs[index]
        node = tree
        for part in spec.location:
            node = node.setdefault(part, {})
        node[spec.key] = BrickModule(
            DagModule(spec.index, len(spec.outputs)),
            input_names=list(spec.written_inputs),
            output_names=list(spec.written_outputs),
            groups=set(spec.groups),
        )
    return tree


def external_values(dag: Dag) -> dict[str, torch.Tensor]:
    return {name: torch.tensor([k + 1.0, -(k + 2.0)], dtype=torch.float64) for k, name in enumerate(dag.externals)}


def reference_outputs(dag: Dag, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Evaluate every produced name by recursion over producers (no topological sort involved)."""
    producers = {name: spec for spec in dag.bricks for name in spec.outputs}
    values: dict[str, torch.Tensor] = dict(inputs)

    def value(name: str) -> torch.Tensor:
        if name not in values:
            spec = producers[name]
            results = dag_function(spec.index, len(spec.outputs), [value(source) for source in spec.inputs])
            values.update(zip(spec.outputs, results, strict=True))
        return values[name]

    for name in producers:
        value(name)
    return values


def assert_dependencies_respected(order: list[str], bricks: list[BrickSpec]) -> None:
    position = {path: number for number, path in enumerate(order)}
    producer_paths = {name: spec.path for spec in bricks for name in spec.outputs}
    for spec in bricks:
        for name in spec.inputs:
            if name in producer_paths:
                assert position[producer_paths[name]] < position[spec.path], (
                    f"{spec.path} reads {name} but runs before its producer {producer_paths[name]}: {order}"
                )


@PROPERTY_SETTINGS
@given(dag=dags())
def test_random_dag_runs_in_dependency_order_and_matches_reference(dag: Dag) -> None:
    collection = BrickCollection(build_tree(dag))

    order = collection.execution_order()
    assert sorted(order) == sorted(spec.path for spec in dag.bricks)
    assert_dependencies_respected(order, list(dag.bricks))

    read = {name for spec in dag.bricks for name in spec.inputs}
    written = {name for spec in dag.bricks for name in spec.outputs}
    assert len(collection.external_inputs) == len(set(collection.external_inputs))
    assert set(collection.external_inputs) == read - written
    assert set(collection.required_inputs()) == read - written

    inputs = external_values(dag)
    assert_tensors_equal(collection(inputs), reference_outputs(dag, inputs))


@PROPERTY_SETTINGS
@given(dag=dags(), data=st.data())
def test_selecting_groups_runs_exactly_the_bricks_of_those_groups(dag: Dag, data: st.DataObject) -> None:
    collection = BrickCollection(build_tree(dag))
    known = sorted(STANDARD_GROUPS | {group for spec in dag.bricks for group in spec.groups})
    selected = frozenset(data.draw(st.sets(st.sampled_from(known), min_size=1, max_size=3), label="groups"))
    chosen = [spec for spec in dag.bricks if spec.groups & selected]

    order = collection.execution_order(selected)
    assert sorted(order) == sorted(spec.path for spec in chosen)
    assert_dependencies_respected(order, chosen)

    read = {name for spec in chosen for name in spec.inputs}
    written = {name for spec in chosen for name in spec.outputs}
    required = collection.required_inputs(selected)
    assert set(required) == read - written

    reference = reference_outputs(dag, external_values(dag))
    inputs = {name: reference[name] for name in required}
    outputs = collection(inputs, groups=selected)
    assert set(outputs) == set(inputs) | written
    for name in written:
        assert torch.equal(outputs[name], reference[name]), name


@PROPERTY_SETTINGS
@given(dag=dags(nest=False, shuffle=False))
def test_an_already_topological_insertion_order_is_kept(dag: Dag) -> None:
    collection = BrickCollection(build_tree(dag))
    assert collection.execution_order() == [spec.path for spec in dag.bricks]


def descendants(dag: Dag, start: int) -> set[int]:
    """Bricks that (transitively) read an output of brick ``start``, plus ``start`` itself."""
    reached = {start}
    for spec in dag.bricks[start + 1 :]:
        sources = {other.index for other in dag.bricks for name in other.outputs if name in spec.inputs}
        if sources & reached:
            reached.add(spec.index)
    return reached


@PROPERTY_SETTINGS
@given(dag=dags(), data=st.data())
def test_a_back_edge_is_reported_as_a_cycle_through_the_right_bricks(dag: Dag, data: st.DataObject) -> None:
    upstream = data.draw(st.integers(0, len(dag.bricks) - 1), label="upstream")
    downstream = data.draw(st.sampled_from(sorted(descendants(dag, upstream))), label="downstream")
    back_edge = dag.bricks[downstream].outputs[0]
    bricks = list(dag.bricks)
    spec = bricks[upstream]
    bricks[upstream] = replace(spec, inputs=(*spec.inputs, back_edge), written_inputs=(*spec.written_inputs, back_edge))

    with pytest.raises(CyclicDependencyError) as info:
        BrickCollection(build_tree(dag, tuple(bricks)))
    named = set(re.findall(r"'([^']+)'", str(info.value)))
    on_cycle = {
        brick.path
        for brick in dag.bricks
        if brick.index in descendants(dag, upstream) and downstream in descendants(dag, brick.index)
    }
    paths_named = named & {brick.path for brick in dag.bricks}
    # Every cycle runs through the added edge downstream → upstream, and only through bricks between them.
    assert {dag.bricks[upstream].path, dag.bricks[downstream].path} <= paths_named, str(info.value)
    assert paths_named <= on_cycle, str(info.value)


@PROPERTY_SETTINGS
@given(dag=dags(), data=st.data())
def test_a_second_writer_of_a_name_is_reported_with_both_paths(dag: Dag, data: st.DataObject) -> None:
    assume(len(dag.bricks) >= 2)
    first = data.draw(st.integers(0, len(dag.bricks) - 1), label="first")
    second = data.draw(st.sampled_from([index for index in range(len(dag.bricks)) if index != first]), label="second")
    stolen = dag.bricks[first].outputs[0]
    bricks = list(dag.bricks)
    spec = bricks[second]
    bricks[second] = replace(spec, outputs=(*spec.outputs, stolen), written_outputs=(*spec.written_outputs, stolen))

    with pytest.raises(DuplicateOutputError) as info:
        BrickCollection(build_tree(dag, tuple(bricks)))
    message = str(info.value)
    assert f"'{dag.bricks[first].path}'" in message
    assert f"'{dag.bricks[second].path}'" in message
    assert f"'{stolen}'" in message
