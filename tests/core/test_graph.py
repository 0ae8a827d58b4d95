"""Mermaid and DOT graphs of brick collections (torchbricks.graph).

The README's mermaid flowcharts are reproduced byte for byte; graphs are deterministic (also across
``PYTHONHASHSEED`` values), never run the model, and give every node a valid, distinct id.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from tests.helpers.modules import CountCalls, nested_resnet_collection, seed_bricks
from torchbricks import BrickCollection
from torchbricks.bricks import (
    BrickLoss,
    BrickMetricSingle,
    BrickModule,
    BrickNotTrainable,
    BrickTrainable,
)
from torchbricks.graph import create_mermaid_dag_graph, to_dot

# torchvision, torchmetrics and bag_of_bricks are imported where used: the hash-seed test imports this module
# in subprocesses, which should load no more than torch and torchbricks.

REPO = Path(__file__).resolve().parents[2]
SEED_NAME = "002_aeb7765e7c5ea0b3.txt"
SEED_CANDIDATES = (REPO.parent / "shared" / "seeds" / SEED_NAME, REPO / "shared" / "seeds" / SEED_NAME)


# -- the README's mermaid text -----------------------------------------------------------------------------------
# Written without trailing whitespace; ``_readme_mermaid`` restores the README's: blank lines hold four spaces
# and ``classDef`` lines end with a space. ``test_embedded_flowcharts_equal_the_readme`` checks against the seed.

CONCEPT1_MERMAID = """
flowchart LR
    %% Brick definitions
    preprocessor(<strong>'preprocessor': PreprocessorDummy</strong><br><i>BrickNotTrainable</i>):::BrickNotTrainable
    backbone(<strong>'backbone': TinyModel</strong><br><i>BrickTrainable</i>):::BrickTrainable
    head(<strong>'head': ClassifierDummy</strong><br><i>BrickTrainable</i>):::BrickTrainable

    %% Draw input and outputs
    raw_images:::input --> preprocessor

    %% Draw nodes and edges
    preprocessor --> |processed| backbone
    backbone --> |embedding| head
    head --> logits:::output
    head --> softmaxed:::output

    %% Add styling
    classDef arrow stroke-width:0px,fill-opacity:0.0
    classDef input stroke-width:0px,fill-opacity:0.3,fill:#22A699
    classDef output stroke-width:0px,fill-opacity:0.3,fill:#F2BE22
    classDef BrickNotTrainable stroke-width:0px,fill:#B56576
    classDef BrickTrainable stroke-width:0px,fill:#6D597A

    %% Add legends
    subgraph Legends
        input(input):::input
        output(output):::output
    end
"""

CONCEPT2_MERMAID = """
flowchart LR
    %% Brick definitions
    preprocessor(<strong>'preprocessor': PreprocessorDummy</strong><br><i>BrickNotTrainable</i>):::BrickNotTrainable
    backbone(<strong>'backbone': TinyModel</strong><br><i>BrickTrainable</i>):::BrickTrainable
    head(<strong>'head': ClassifierDummy</strong><br><i>BrickTrainable</i>):::BrickTrainable
    loss(<strong>'loss': CrossEntropyLoss</strong><br><i>BrickLoss</i>):::BrickLoss

    %% Draw input and outputs
    raw_images:::input --> preprocessor
    targets:::input --> loss

    %% Draw nodes and edges
    preprocessor --> |processed| backbone
    backbone --> |embedding| head
    head --> |logits| loss
    head --> softmaxed:::output
    loss --> loss_ce:::output

    %% Add styling
    classDef arrow stroke-width:0px,fill-opacity:0.0
    classDef input stroke-width:0px,fill-opacity:0.3,fill:#22A699
    classDef output stroke-width:0px,fill-opacity:0.3,fill:#F2BE22
    classDef BrickNotTrainable stroke-width:0px,fill:#B56576
    classDef BrickTrainable stroke-width:0px,fill:#6D597A
    classDef BrickLoss stroke-width:0px,fill:#5C677D

    %% Add legends
    subgraph Legends
        input(input):::input
        output(output):::output
    end
"""

NESTED_MERMAID = """
flowchart LR
    %% Brick definitions
    preprocessor(<strong>'preprocessor': Preprocessor</strong><br><i>BrickNotTrainable</i>):::BrickNotTrainable
    backbone(<strong>'backbone': BackboneResnet</strong><br><i>BrickTrainable</i>):::BrickTrainable
    head0/classify(<strong>'head0/classify': ImageClassifier</strong><br><i>BrickTrainable</i>):::BrickTrainable
    head0/accuracy(<strong>'head0/accuracy': 'MulticlassAccuracy'</strong><br><i>BrickMetricSingle</i>):::BrickMetricSingle
    head0/loss(<strong>'head0/loss': CrossEntropyLoss</strong><br><i>BrickLoss</i>):::BrickLoss
    head1/classify(<strong>'head1/classify': ImageClassifier</strong><br><i>BrickTrainable</i>):::BrickTrainable
    head1/accuracy(<strong>'head1/accuracy': 'MulticlassAccuracy'</strong><br><i>BrickMetricSingle</i>):::BrickMetricSingle
    head1/loss(<strong>'head1/loss': CrossEntropyLoss</strong><br><i>BrickLoss</i>):::BrickLoss

    %% Draw input and outputs
    raw:::input --> preprocessor
    targets0:::input --> head0/accuracy
    targets0:::input --> head0/loss
    targets1:::input --> head1/accuracy
    targets1:::input --> head1/loss

    %% Draw nodes and edges
    preprocessor --> |normalized| backbone
    backbone --> |features| head0/classify
    backbone --> |features| head1/classify
    subgraph head0
        head0/classify --> |head0/class_prediction| head0/accuracy
        head0/classify --> |head0/logits| head0/loss
        head0/classify --> head0/probabilities:::output
        head0/loss --> head0/loss_ce:::output
    end
    subgraph head1
        head1/classify --> |head1/class_prediction| head1/accuracy
        head1/classify --> |head1/logits| head1/loss
        head1/classify --> head1/probabilities:::output
        head1/loss --> head1/loss_ce:::output
    end

    %% Add styling
    classDef arrow stroke-width:0px,fill-opacity:0.0
    classDef input stroke-width:0px,fill-opacity:0.3,fill:#22A699
    classDef output stroke-width:0px,fill-opacity:0.3,fill:#F2BE22
    classDef BrickNotTrainable stroke-width:0px,fill:#B56576
    classDef BrickTrainable stroke-width:0px,fill:#6D597A
    classDef BrickMetricSingle stroke-width:0px,fill:#1450A3
    classDef BrickLoss stroke-width:0px,fill:#5C677D

    %% Add legends
    subgraph Legends
        input(input):::input
        output(output):::output
    end
"""  # noqa: E501 - the README's lines


def _readme_mermaid(text: str) -> str:
    """The README's exact text: blank lines are four spaces, ``classDef`` lines end with one space."""
    lines = []
    for line in text.strip("\n").splitlines():
        if not line:
            line = "    "
        elif line.lstrip().startswith("classDef "):
            line += " "
        lines.append(line)
    return "\n".join(lines) + "\n"


def _seed_flowcharts() -> list[str]:
    """Every mermaid block of the seed README, from ``flowchart LR`` to the end of its legend."""
    path = next((candidate for candidate in SEED_CANDIDATES if candidate.is_file()), None)
    if path is None:
        pytest.skip(f"seed README {SEED_NAME} is not available here")
    blocks: list[str] = []
    current: list[str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line == "flowchart LR":
            current = [line]
        elif current is not None:
            current.append(line)
            if line == "    end" and current[-2] == "        output(output):::output":
                blocks.append("\n".join(current) + "\n")
                current = None
    return blocks


# -- collections of the README ---------------------------------------------------------------------------------


def concept1_collection() -> BrickCollection:
    return BrickCollection(seed_bricks())


def concept2_collection() -> BrickCollection:
    return BrickCollection(seed_bricks(group_names=True))


# -- a collection with custom brick types, several groups per brick and two levels of nesting ------------------


class Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return sum(tensors) * self.factor


class BrickCustomNeck(BrickModule):
    """A user-defined brick type (not one of torchbricks' own)."""


class BrickAuxiliary(BrickTrainable):
    """Another user-defined brick type, subclassing a built-in one."""


def rich_collection() -> BrickCollection:
    return BrickCollection(
        {
            "stem": BrickNotTrainable(Scale(0.5), input_names=["image"], output_names=["stem_features"]),
            "neck": BrickCustomNeck(
                Scale(2.0),
                input_names=["stem_features"],
                output_names=["neck_features"],
                groups={"MODEL", "AUX", "VIZ"},
            ),
            "tasks": {
                "shared": BrickAuxiliary(
                    Scale(3.0), input_names=["neck_features"], output_names=["./shared"], groups={"MODEL", "AUX"}
                ),
                "head0": {
                    "classify": BrickTrainable(Scale(1.0), input_names=["../shared"], output_names=["./logits"]),
                    "loss": BrickLoss(nn.MSELoss(), input_names=["./logits", "targets0"], output_names=["./loss"]),
                },
                "head1": {
                    "classify": BrickCustomNeck(
                        Scale(1.5), input_names=["../shared", "image"], output_names=["./logits"]
                    ),
                    "draw": BrickAuxiliary(
                        Scale(1.0), input_names=["./logits"], output_names=["./drawing"], groups={"VIZ", "AUX"}
                    ),
                },
            },
        }
    )


def determinism_outputs() -> list[str]:
    """Every graph text of ``rich_collection``; run in subprocesses with different hash seeds."""
    collection = rich_collection()
    return [
        create_mermaid_dag_graph(collection),
        create_mermaid_dag_graph(collection, groups={"MODEL", "AUX"}),
        create_mermaid_dag_graph(collection, add_legends=False, groups={"VIZ", "MODEL"}),
        to_dot(collection),
        to_dot(collection, groups={"AUX", "VIZ", "MODEL"}),
    ]


# -- parsing helpers -----------------------------------------------------------------------------------------------

VALID_MERMAID_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_/.\-]*$")
_BRICK_DEFINITION = re.compile(
    r"^    (?P<id>[^(\s]+)\(<strong>'(?P<path>.*)': .*</strong><br><i>(?P<type>\w+)</i>\):::\w+$"
)
_INPUT_EDGE = re.compile(r"^\s+(?P<data>.+):::input --> (?P<reader>\S+)$")
_OUTPUT_EDGE = re.compile(r"^\s+(?P<writer>\S+) --> (?P<data>.+):::output$")
_BRICK_EDGE = re.compile(r"^\s+(?P<writer>\S+) --> \|(?P<name>.*)\| (?P<reader>\S+)$")


def _data_token(token: str) -> tuple[str, str]:
    """A data node token ``id`` or ``id["label"]`` → (id, label as shown)."""
    match = re.fullmatch(r'(?P<id>[^\[\s]+)(?:\["(?P<label>.*)"\])?', token)
    assert match is not None, f"unparseable data node {token!r}"
    label = match.group("label")
    return match.group("id"), (match.group("id") if label is None else label.replace("#quot;", '"'))


class MermaidGraph:
    """The nodes and edges of a flowchart produced by create_mermaid_dag_graph."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.brick_ids: dict[str, str] = {}  # brick path -> id
        self.inputs: dict[str, str] = {}  # data label -> id
        self.outputs: dict[str, str] = {}
        self.input_edges: list[tuple[str, str]] = []  # (data id, reader id)
        self.output_edges: list[tuple[str, str]] = []  # (writer id, data id)
        self.brick_edges: list[tuple[str, str, str]] = []  # (writer id, data name, reader id)
        self.edge_scopes: dict[str, tuple[str, ...]] = {}  # edge line (stripped) -> enclosing subgraph titles
        body = text.split("%% Add legends")[0]
        scope: list[str] = []
        for line in body.splitlines():
            stripped = line.strip()
            if match := _BRICK_DEFINITION.match(line):
                self.brick_ids[match.group("path").replace("#quot;", '"')] = match.group("id")
            elif stripped.startswith("subgraph "):
                scope.append(stripped.removeprefix("subgraph "))
            elif stripped == "end":
                scope.pop()
            elif match := _INPUT_EDGE.match(line):
                data_id, label = _data_token(match.group("data"))
                self.inputs[label] = data_id
                self.input_edges.append((data_id, match.group("reader")))
            elif match := _OUTPUT_EDGE.match(line):
                data_id, label = _data_token(match.group("data"))
                self.outputs[label] = data_id
                self.output_edges.append((match.group("writer"), data_id))
                self.edge_scopes[stripped] = tuple(scope)
            elif match := _BRICK_EDGE.match(line):
                self.brick_edges.append((match.group("writer"), match.group("name"), match.group("reader")))
                self.edge_scopes[stripped] = tuple(scope)
        assert not scope, "unbalanced subgraph/end"

    def all_ids(self) -> list[str]:
        return [*self.brick_ids.values(), *self.inputs.values(), *self.outputs.values()]

    def subgraph_titles(self) -> list[str]:
        return [line.strip().removeprefix("subgraph ") for line in self.text.splitlines() if "subgraph " in line]


_DOT_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|->|[A-Za-z_][A-Za-z0-9_]*|-?[0-9.]+|[\[\]{}=,;]|\s+')


def _dot_tokens(text: str) -> list[str]:
    """Tokenize DOT text; fails on anything a DOT lexer would not accept (e.g. a broken quoted string)."""
    tokens, position = [], 0
    while position < len(text):
        match = _DOT_TOKEN.match(text, position)
        assert match is not None, f"invalid DOT at {text[position : position + 40]!r}"
        if not match.group().isspace():
            tokens.append(match.group())
        position = match.end()
    return tokens


def _dot_unquote(token: str) -> str:
    """The text a quoted DOT string shows: ``\\"`` is a quote, ``\\n`` a line break, ``\\X`` is ``X``."""
    assert token.startswith('"'), token
    assert token.endswith('"'), token
    return re.sub(r"\\(.)", lambda match: "\n" if match.group(1) == "n" else match.group(1), token[1:-1])


class DotGraph:
    """Node declarations, edges and cluster nesting of text produced by to_dot."""

    def __init__(self, text: str) -> None:
        self.tokens = _dot_tokens(text)
        self.nodes: dict[str, dict[str, str]] = {}
        self.edges: list[tuple[str, str, dict[str, str]]] = []
        self.clusters: dict[str, tuple[str, ...]] = {}  # cluster name -> enclosing cluster names
        self.node_clusters: dict[str, tuple[str, ...]] = {}
        tokens = self.tokens
        assert tokens[:3] == ["digraph", "BrickCollection", "{"]
        assert tokens[-1] == "}"
        depth, stack, index = 0, [], 0
        while index < len(tokens):
            token = tokens[index]
            if token == "{":
                depth += 1
            elif token == "}":
                depth -= 1
                assert depth >= 0, "unbalanced braces"
                if stack and depth == len(stack):
                    stack.pop()
            elif token == "subgraph":
                name = _dot_unquote(tokens[index + 1])
                self.clusters[name] = tuple(stack)
                stack.append(name)
            elif token.startswith('"') and tokens[index - 1] in (";", "{", "}") and index + 1 < len(tokens):
                if tokens[index + 1] == "->":
                    target = _dot_unquote(tokens[index + 2])
                    attributes, index = self._attributes(index + 3)
                    self.edges.append((_dot_unquote(token), target, attributes))
                    continue
                if tokens[index + 1] == "[":
                    name = _dot_unquote(token)
                    attributes, index = self._attributes(index + 1)
                    self.nodes[name] = attributes
                    self.node_clusters[name] = tuple(stack)
                    continue
            index += 1
        assert depth == 0, "unbalanced braces"

    def _attributes(self, index: int) -> tuple[dict[str, str], int]:
        attributes: dict[str, str] = {}
        tokens = self.tokens
        if tokens[index] == "[":
            index += 1
            while tokens[index] != "]":
                key, equals, value = tokens[index : index + 3]
                assert equals == "=", tokens[index : index + 3]
                attributes[key] = _dot_unquote(value) if value.startswith('"') else value
                index += 3
                if tokens[index] == ",":
                    index += 1
            index += 1
        assert tokens[index] == ";", f"statement not terminated: {tokens[index - 3 : index + 1]}"
        return attributes, index + 1


# -- the README's flowcharts ---------------------------------------------------------------------------------------


def test_embedded_flowcharts_equal_the_readme() -> None:
    blocks = _seed_flowcharts()
    assert blocks == [
        _readme_mermaid(CONCEPT1_MERMAID),
        _readme_mermaid(CONCEPT1_MERMAID),  # Concept 2, MODEL group only
        _readme_mermaid(CONCEPT2_MERMAID),
        _readme_mermaid(NESTED_MERMAID),
    ]


def test_concept1_flowchart_matches_readme() -> None:
    assert create_mermaid_dag_graph(concept1_collection()) == _readme_mermaid(CONCEPT1_MERMAID)


def test_concept2_flowchart_with_loss_matches_readme() -> None:
    assert create_mermaid_dag_graph(concept2_collection()) == _readme_mermaid(CONCEPT2_MERMAID)


def test_concept2_model_group_flowchart_matches_readme() -> None:
    collection = concept2_collection()
    assert create_mermaid_dag_graph(collection, groups={"MODEL"}) == _readme_mermaid(CONCEPT1_MERMAID)
    assert create_mermaid_dag_graph(collection, groups="inference") == _readme_mermaid(CONCEPT1_MERMAID)


def test_nested_heads_flowchart_matches_readme() -> None:
    assert create_mermaid_dag_graph(nested_resnet_collection()) == _readme_mermaid(NESTED_MERMAID)


def test_add_legends_false_drops_only_the_legend() -> None:
    with_legend = create_mermaid_dag_graph(concept2_collection())
    without = create_mermaid_dag_graph(concept2_collection(), add_legends=False)
    assert "Legends" not in without
    assert with_legend.startswith(without.rstrip("\n"))
    assert with_legend[len(without) :].lstrip(" \n").startswith("%% Add legends")


# -- determinism -------------------------------------------------------------------------------------------------


def test_graph_text_is_identical_for_rebuilt_collections() -> None:
    first, second = determinism_outputs(), determinism_outputs()
    assert first == second
    assert create_mermaid_dag_graph(nested_resnet_collection()) == create_mermaid_dag_graph(nested_resnet_collection())
    assert to_dot(nested_resnet_collection()) == to_dot(nested_resnet_collection())


@pytest.mark.slow
def test_graph_text_is_identical_across_hash_seeds() -> None:
    script = "\n".join(
        [
            "import json, sys",
            "from tests.core.test_graph import determinism_outputs",
            "print(json.dumps(determinism_outputs()))",
            "assert 'torchvision' not in sys.modules",  # keeps the three interpreters quick to start
        ]
    )
    processes = []
    for seed in ("0", "1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        command = [sys.executable, "-c", script]
        processes.append(
            subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        results.append(json.loads(stdout))
    assert results[0] == results[1] == results[2]
    assert results[0] == determinism_outputs()
    mermaid_all, _, _, dot_all, _ = results[0]
    # The compared text holds what the rich collection has: custom types, groups and nested subgraphs.
    assert ":::BrickCustomNeck" in mermaid_all
    assert ":::BrickAuxiliary" in mermaid_all
    assert "subgraph tasks" in mermaid_all
    assert "cluster_tasks" in dot_all


def test_custom_brick_types_get_class_definitions() -> None:
    text = create_mermaid_dag_graph(rich_collection())
    pattern = r"^    classDef (BrickCustomNeck|BrickAuxiliary) stroke-width:0px,fill:(#[0-9A-F]{6}) $"
    definitions = re.findall(pattern, text, re.MULTILINE)
    assert sorted(name for name, _ in definitions) == ["BrickAuxiliary", "BrickCustomNeck"]


# -- groups ------------------------------------------------------------------------------------------------------


def _with_metric() -> BrickCollection:
    from torchmetrics.classification import MulticlassAccuracy

    collection = concept2_collection()
    collection["accuracy"] = BrickMetricSingle(MulticlassAccuracy(num_classes=3), input_names=["logits", "labels"])
    return collection


def test_model_group_graph_omits_loss_and_metric_bricks_and_their_targets() -> None:
    collection = _with_metric()
    full = MermaidGraph(create_mermaid_dag_graph(collection))
    assert set(full.brick_ids) == {"preprocessor", "backbone", "head", "loss", "accuracy"}
    assert set(full.inputs) == {"raw_images", "targets", "labels"}

    model_only = MermaidGraph(create_mermaid_dag_graph(collection, groups={"MODEL"}))
    assert set(model_only.brick_ids) == {"preprocessor", "backbone", "head"}
    assert set(model_only.inputs) == {"raw_images"} == set(collection.required_inputs({"MODEL"}))
    # logits is read by no MODEL brick, so it becomes an output of the MODEL-only graph
    assert set(model_only.outputs) == {"logits", "softmaxed"}
    for word in ("loss", "accuracy", "targets", "labels", "MulticlassAccuracy", "CrossEntropyLoss"):
        assert word not in model_only.text


def test_dot_graph_for_model_group_omits_loss_and_metric_bricks() -> None:
    graph = DotGraph(to_dot(_with_metric(), groups={"MODEL"}))
    expected = {"input:raw_images", "preprocessor", "backbone", "head", "output:logits", "output:softmaxed"}
    assert set(graph.nodes) == expected


class Explodes(nn.Module):
    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("graph drawing must not run the model")


def test_drawing_does_not_run_the_model() -> None:
    counter = CountCalls()
    collection = BrickCollection(
        {
            "counter": BrickTrainable(counter, input_names=["x"], output_names=["y"]),
            "explodes": BrickTrainable(Explodes(), input_names=["y"], output_names=["z"]),
            "loss": BrickLoss(Explodes(), input_names=["z", "target"], output_names=["loss"]),
        }
    )
    texts = [
        create_mermaid_dag_graph(collection),
        create_mermaid_dag_graph(collection, groups={"MODEL"}),
        to_dot(collection),
        to_dot(collection, groups="train"),
    ]
    assert counter.calls == 0
    assert all("explodes" in text for text in texts)


# -- structure: nesting, inputs, outputs -------------------------------------------------------------------------


def test_nested_collections_become_nested_subgraphs() -> None:
    graph = MermaidGraph(create_mermaid_dag_graph(rich_collection()))
    ids = graph.brick_ids
    shared_edge = f"{ids['tasks/shared']} --> |tasks/shared| {ids['tasks/head0/classify']}"
    head0_edge = f"{ids['tasks/head0/classify']} --> |tasks/head0/logits| {ids['tasks/head0/loss']}"
    head1_edge = f"{ids['tasks/head1/classify']} --> |tasks/head1/logits| {ids['tasks/head1/draw']}"
    top_edge = f"{ids['stem']} --> |stem_features| {ids['neck']}"
    assert graph.edge_scopes[top_edge] == ()
    (outer,) = graph.edge_scopes[shared_edge]
    assert "tasks" in outer
    head0_scope = graph.edge_scopes[head0_edge]
    head1_scope = graph.edge_scopes[head1_edge]
    assert len(head0_scope) == len(head1_scope) == 2
    assert head0_scope[0] == head1_scope[0] == outer
    assert "head0" in head0_scope[1]
    assert "head1" in head1_scope[1]
    # every edge written inside a nested collection sits in that collection's subgraph
    for writer_path, writer_id in ids.items():
        depth = writer_path.count("/")
        for line, scope in graph.edge_scopes.items():
            if line.startswith(f"{writer_id} --> "):
                assert len(scope) == depth, line


def test_nested_collections_become_nested_dot_clusters() -> None:
    graph = DotGraph(to_dot(rich_collection()))
    clusters = {name: parents for name, parents in graph.clusters.items()}
    tasks = next(name for name, parents in clusters.items() if parents == () and "tasks" in name)
    head0 = next(name for name in clusters if "head0" in name)
    assert clusters[head0] == (tasks,)
    assert graph.node_clusters["tasks/head0/loss"] == (tasks, head0)
    assert graph.node_clusters["tasks/shared"] == (tasks,)
    assert graph.node_clusters["stem"] == ()


def _written_names(collection: BrickCollection, groups: Any = None) -> tuple[set[str], set[str]]:
    written = {name for node in collection.nodes(groups) for name in node.outputs}
    read = {name for node in collection.nodes(groups) for name in node.inputs}
    return written, read


@pytest.mark.parametrize("groups", [None, {"MODEL"}, {"MODEL", "AUX"}, {"VIZ", "MODEL"}])
def test_outputs_and_inputs_are_styled_nodes(groups: Any) -> None:
    collection = rich_collection()
    graph = MermaidGraph(create_mermaid_dag_graph(collection, groups=groups))
    written, read = _written_names(collection, groups)
    assert set(graph.outputs) == written - read
    assert set(graph.inputs) == set(collection.required_inputs(groups))
    assert {name for _, name, _ in graph.brick_edges} == written & read
    for data_id, reader in graph.input_edges:
        assert data_id in graph.inputs.values()
        assert reader in graph.brick_ids.values()
    for writer, data_id in graph.output_edges:
        assert writer in graph.brick_ids.values()
        assert data_id in graph.outputs.values()


def test_an_input_read_by_two_bricks_gets_one_node_and_two_edges() -> None:
    graph = MermaidGraph(create_mermaid_dag_graph(rich_collection()))
    image_edges = [reader for data_id, reader in graph.input_edges if data_id == graph.inputs["image"]]
    assert sorted(image_edges) == sorted([graph.brick_ids["stem"], graph.brick_ids["tasks/head1/classify"]])


# -- ids: distinct and valid ---------------------------------------------------------------------------------------


def _identity(inputs: list[str], outputs: list[str], group: str = "MODEL") -> BrickTrainable:
    return BrickTrainable(nn.Identity(), input_names=inputs, output_names=outputs, group=group)


def _assert_ids_valid_and_distinct(graph: MermaidGraph) -> None:
    ids = graph.all_ids()
    for node_id in ids:
        assert VALID_MERMAID_ID.match(node_id), f"invalid mermaid id {node_id!r}"
        assert node_id != "end", "'end' is a mermaid keyword and breaks the flowchart"
    nodes = {("brick", path): node_id for path, node_id in graph.brick_ids.items()}
    nodes.update({("input", name): node_id for name, node_id in graph.inputs.items()})
    nodes.update({("output", name): node_id for name, node_id in graph.outputs.items()})
    by_id: dict[str, list[tuple[str, str]]] = {}
    for key, node_id in nodes.items():
        by_id.setdefault(node_id, []).append(key)
    clashes = {node_id: keys for node_id, keys in by_id.items() if len(keys) > 1}
    assert not clashes, f"different nodes share an id: {clashes}"
    subgraphs = set(graph.subgraph_titles()) - {"Legends"}
    assert not subgraphs & set(ids), f"a node id equals a subgraph id: {subgraphs & set(ids)}"


def test_data_name_equal_to_a_brick_name_is_a_separate_node() -> None:
    collection = BrickCollection(
        {
            "raw": _identity(["raw"], ["features"]),  # input named like the brick reading it
            "logits": _identity(["features"], ["logits"]),  # output named like the brick writing it
        }
    )
    graph = MermaidGraph(create_mermaid_dag_graph(collection))
    assert set(graph.inputs) == {"raw"}
    assert set(graph.outputs) == {"logits"}
    assert graph.inputs["raw"] != graph.brick_ids["raw"]
    assert graph.outputs["logits"] != graph.brick_ids["logits"]
    _assert_ids_valid_and_distinct(graph)
    dot = DotGraph(to_dot(collection))
    assert {"raw", "logits", "input:raw", "output:logits"} <= set(dot.nodes)
    assert ("input:raw", "raw", {}) in dot.edges
    assert ("logits", "output:logits", {}) in dot.edges


def test_data_name_equal_to_a_nested_collection_name_is_not_merged_with_its_subgraph() -> None:
    collection = BrickCollection(
        {
            "stem": _identity(["image"], ["features"]),
            "head0": {"classify": _identity(["features", "head0"], ["./logits"])},  # input named like its collection
        }
    )
    graph = MermaidGraph(create_mermaid_dag_graph(collection))
    assert "head0" in graph.subgraph_titles()
    assert set(graph.inputs) == {"image", "head0"}
    _assert_ids_valid_and_distinct(graph)


@pytest.mark.parametrize(
    "data_name",
    ["my data", 'the "quoted" input', "it's", "semi;colon", "pipe|name", "arrow-->name", "[bracket]", "x y", "x_y"],
)
def test_data_names_with_special_characters_give_valid_ids_and_readable_labels(data_name: str) -> None:
    collection = BrickCollection(
        {"first": _identity([data_name], ["middle"]), "second": _identity(["middle"], [f"result of {data_name}"])}
    )
    text = create_mermaid_dag_graph(collection)
    graph = MermaidGraph(text)
    assert set(graph.inputs) == {data_name}
    assert set(graph.outputs) == {f"result of {data_name}"}
    _assert_ids_valid_and_distinct(graph)
    for line in text.splitlines():
        if ":::input" in line or ":::output" in line:
            assert line.count('"') in (0, 2), f"unescaped quote in {line!r}"


def test_data_names_that_sanitize_alike_stay_distinct_nodes() -> None:
    bricks = {
        "first": _identity(["x y"], ["x_y"]),
        "second": _identity(["x_y"], ["data_x_y"]),
        "third": _identity(["y"], ["z"]),
    }
    graph = MermaidGraph(create_mermaid_dag_graph(BrickCollection(bricks)))
    assert set(graph.inputs) == {"x y", "y"}
    assert set(graph.outputs) == {"data_x_y", "z"}
    _assert_ids_valid_and_distinct(graph)


@pytest.mark.parametrize("brick_names", [("my brick", "other"), ("a b", "a_b"), ("it's", 'say "hi"'), ("end", "x")])
def test_brick_names_with_special_characters_give_valid_distinct_ids(brick_names: tuple[str, str]) -> None:
    first, second = brick_names
    collection = BrickCollection({first: _identity(["x"], ["y"]), second: _identity(["y"], ["z"])})
    graph = MermaidGraph(create_mermaid_dag_graph(collection))
    assert set(graph.brick_ids) == {first, second}
    _assert_ids_valid_and_distinct(graph)
    assert graph.brick_edges == [(graph.brick_ids[first], "y", graph.brick_ids[second])]


# -- DOT -----------------------------------------------------------------------------------------------------------


def _assert_valid_dot(text: str) -> DotGraph:
    graph = DotGraph(text)
    for source, target, _ in graph.edges:
        assert source in graph.nodes, f"edge from undeclared node {source!r}"
        assert target in graph.nodes, f"edge to undeclared node {target!r}"
    return graph


@pytest.mark.parametrize(
    "factory", [concept1_collection, concept2_collection, rich_collection, nested_resnet_collection]
)
def test_dot_is_structurally_valid(factory: Any) -> None:
    collection = factory()
    text = to_dot(collection)
    assert text.count("{") == text.count("}")
    graph = _assert_valid_dot(text)
    written, read = _written_names(collection)
    brick_paths = {node.path for node in collection.nodes()}
    assert {name for name in graph.nodes if not name.startswith(("input:", "output:"))} == brick_paths
    assert {name.removeprefix("output:") for name in graph.nodes if name.startswith("output:")} == written - read
    assert {name.removeprefix("input:") for name in graph.nodes if name.startswith("input:")} == set(
        collection.external_inputs
    )
    labels = sorted(attributes["label"] for _, _, attributes in graph.edges if "label" in attributes)
    assert labels == sorted(name for node in collection.nodes() for name in node.inputs if name in written)


def test_dot_brick_labels_name_path_model_and_type() -> None:
    graph = _assert_valid_dot(to_dot(nested_resnet_collection()))
    assert graph.nodes["head0/accuracy"]["label"] == "'head0/accuracy': 'MulticlassAccuracy'\nBrickMetricSingle"
    assert graph.nodes["backbone"]["label"] == "'backbone': BackboneResnet\nBrickTrainable"
    assert graph.nodes["backbone"]["fillcolor"] == "#6D597A"


@pytest.mark.parametrize("name", ['say "hi"', "back\\slash", 'trailing\\"quote', "brace{}", "semi;colon"])
def test_dot_escapes_quotes_and_backslashes(name: str) -> None:
    collection = BrickCollection(
        {
            name: _identity([f"image of {name}"], [f"{name}/features"]),
            "reader": _identity([f"{name}/features"], [f"result {name}"]),
        }
    )
    graph = _assert_valid_dot(to_dot(collection))
    assert {name, "reader", f"input:image of {name}", f"output:result {name}"} == set(graph.nodes)
    assert graph.nodes[name]["label"] == f"'{name}': Identity\nBrickTrainable"
    assert (name, "reader", {"label": f"{name}/features"}) in graph.edges


def test_dot_renders_with_graphviz_when_available(tmp_path: Path) -> None:
    dot = shutil.which("dot")
    if dot is None:
        pytest.skip("graphviz 'dot' is not installed")
    for index, collection in enumerate((rich_collection(), nested_resnet_collection())):
        source = tmp_path / f"graph{index}.dot"
        source.write_text(to_dot(collection), encoding="utf-8")
        result = subprocess.run([dot, "-Tsvg", str(source)], capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        assert "<svg" in result.stdout


def test_data_named_like_a_legend_node_is_not_the_legend_node() -> None:
    collection = BrickCollection(
        {"first": _identity(["input"], ["middle"]), "second": _identity(["middle"], ["output"])}
    )
    text = create_mermaid_dag_graph(collection)
    graph = MermaidGraph(text)
    assert set(graph.inputs) == {"input"}
    assert set(graph.outputs) == {"output"}
    legend_ids = {"input", "output"}  # the legend's nodes: input(input):::input and output(output):::output
    assert "        input(input):::input" in text
    assert graph.inputs["input"] not in legend_ids
    assert graph.outputs["output"] not in legend_ids
