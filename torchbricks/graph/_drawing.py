"""Mermaid flowchart and Graphviz DOT text of a brick collection; the public names are in :mod:`torchbricks.graph`.

Example:
    >>> from torch import nn
    >>> from torchbricks import BrickCollection, BrickTrainable
    >>> collection = BrickCollection({"head": BrickTrainable(nn.Identity(), ["features"], ["logits"])})
    >>> [node.path for node in graph_layout(collection).nodes], brick_colour("BrickTrainable")
    (['head'], '#6D597A')
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torchbricks.groups import GroupsLike
from torchbricks.names import PATH_SEPARATOR

if TYPE_CHECKING:  # the collection imports the graph package (for its dependencies): no import back at run time
    from torchbricks.collection import BrickCollection
    from torchbricks.graph._dependencies import BrickNode

INPUT_COLOUR = "#22A699"
OUTPUT_COLOUR = "#F2BE22"
BRICK_COLOURS = {
    "BrickNotTrainable": "#B56576",
    "BrickTrainable": "#6D597A",
    "BrickLoss": "#5C677D",
    "BrickMetricSingle": "#1450A3",
    "BrickMetrics": "#337CCF",
    "BrickPerImageVisualization": "#3C6E71",
}
_PALETTE = ("#355070", "#E56B6F", "#EAAC8B", "#588157", "#7209B7", "#F77F00", "#2A9D8F", "#8D99AE")
_SAFE_ID = re.compile(r"[^A-Za-z0-9_/.\-]")


@dataclass(frozen=True)
class GraphLayout:
    """What to draw: bricks in execution order and the three kinds of edges."""

    nodes: tuple[BrickNode, ...]
    input_edges: tuple[tuple[str, BrickNode], ...]
    brick_edges: tuple[tuple[BrickNode, BrickNode, str], ...]
    output_edges: tuple[tuple[BrickNode, str], ...]


def graph_layout(collection: BrickCollection, groups: GroupsLike = None) -> GraphLayout:
    """Edges of the bricks ``collection`` runs for ``groups``: inputs → bricks → bricks → outputs."""
    nodes = collection.nodes(groups)
    writer: dict[str, BrickNode] = {}
    input_edges: list[tuple[str, BrickNode]] = []
    consumed: set[str] = set()
    incoming: dict[int, list[tuple[BrickNode, str]]] = {}
    for node in nodes:
        for name in node.inputs:
            consumed.add(name)
            producer = writer.get(name)
            if producer is None:
                input_edges.append((name, node))
            else:
                incoming.setdefault(id(producer), []).append((node, name))
        for name in node.outputs:
            writer[name] = node
    first_use = {name: position for position, (name, _) in reversed(list(enumerate(input_edges)))}
    input_edges.sort(key=lambda edge: first_use[edge[0]])
    brick_edges = [(node, reader, name) for node in nodes for reader, name in incoming.get(id(node), [])]
    output_edges = [(node, name) for node in nodes for name in node.outputs if name not in consumed]
    return GraphLayout(nodes, tuple(input_edges), tuple(brick_edges), tuple(output_edges))


def create_mermaid_dag_graph(
    brick_collection: BrickCollection, add_legends: bool = True, groups: GroupsLike = None
) -> str:
    """The seed's name and argument order for :func:`to_mermaid`."""
    return to_mermaid(brick_collection, groups=groups, add_legends=add_legends)


def to_mermaid(brick_collection: BrickCollection, groups: GroupsLike = None, add_legends: bool = True) -> str:
    """Mermaid flowchart text of the collection (only the bricks of ``groups`` when given).

    Example:
        >>> from torch import nn
        >>> from torchbricks import BrickCollection, BrickTrainable
        >>> collection = BrickCollection({"head": BrickTrainable(nn.Identity(), ["features"], ["logits"])})
        >>> to_mermaid(collection, add_legends=False).splitlines()[0]
        'flowchart LR'
    """
    layout = graph_layout(brick_collection, groups)
    ids = _NodeIds(layout)
    lines = ["flowchart LR", "    %% Brick definitions"]
    for node in layout.nodes:
        brick_type = type(node.brick).__name__
        label = f"<strong>'{node.path}': {_model_label(node)}</strong><br><i>{brick_type}</i>"
        lines.append(f"    {ids.brick(node)}({_mermaid_escape(label)}):::{brick_type}")
    lines += ["    ", "    %% Draw input and outputs"]
    for name, node in layout.input_edges:
        lines.append(f"    {ids.data_node(name)}:::input --> {ids.brick(node)}")
    lines += ["    ", "    %% Draw nodes and edges"]
    lines += _mermaid_edges(layout, ids)
    lines += ["    ", "    %% Add styling"]
    lines.append("    classDef arrow stroke-width:0px,fill-opacity:0.0 ")
    lines.append(f"    classDef input stroke-width:0px,fill-opacity:0.3,fill:{INPUT_COLOUR} ")
    lines.append(f"    classDef output stroke-width:0px,fill-opacity:0.3,fill:{OUTPUT_COLOUR} ")
    for brick_type in _brick_types(layout.nodes):
        lines.append(f"    classDef {brick_type} stroke-width:0px,fill:{brick_colour(brick_type)} ")
    if add_legends:
        lines += ["    ", "    %% Add legends", "    subgraph Legends"]
        lines += ["        input(input):::input", "        output(output):::output", "    end"]
    return "\n".join(lines) + "\n"


def to_dot(brick_collection: BrickCollection, groups: GroupsLike = None) -> str:
    """Graphviz DOT text of the collection (render with ``dot -Tsvg``); needs no graphviz to produce.

    Example:
        >>> from torch import nn
        >>> from torchbricks import BrickCollection, BrickTrainable
        >>> collection = BrickCollection({"head": BrickTrainable(nn.Identity(), ["features"], ["logits"])})
        >>> to_dot(collection).splitlines()[0]
        'digraph BrickCollection {'
    """
    layout = graph_layout(brick_collection, groups)
    lines = [
        "digraph BrickCollection {",
        "    rankdir=LR;",
        '    node [shape=box, style="rounded,filled", fontname="Helvetica", fontcolor="white"];',
        '    edge [fontname="Helvetica", fontsize=10];',
    ]
    for name in _unique(name for name, _ in layout.input_edges):
        lines.append(
            f"    {_dot_quote('input:' + name)} [label={_dot_quote(name)}, shape=ellipse, "
            f'fillcolor="{INPUT_COLOUR}", fontcolor="black"];'
        )
    lines += _dot_clusters(layout.nodes)
    for _, name in layout.output_edges:
        lines.append(
            f"    {_dot_quote('output:' + name)} [label={_dot_quote(name)}, shape=ellipse, "
            f'fillcolor="{OUTPUT_COLOUR}", fontcolor="black"];'
        )
    for name, node in layout.input_edges:
        lines.append(f"    {_dot_quote('input:' + name)} -> {_dot_quote(node.path)};")
    for writer, reader, name in layout.brick_edges:
        lines.append(f"    {_dot_quote(writer.path)} -> {_dot_quote(reader.path)} [label={_dot_quote(name)}];")
    for node, name in layout.output_edges:
        lines.append(f"    {_dot_quote(node.path)} -> {_dot_quote('output:' + name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def brick_colour(brick_type: str) -> str:
    """The fill colour of a brick type; unknown types get a stable colour from their name."""
    return BRICK_COLOURS.get(brick_type) or _PALETTE[zlib.crc32(brick_type.encode()) % len(_PALETTE)]


class _NodeIds:
    """Unique Mermaid node ids for bricks and data names.

    Ids keep the brick path or data name where that is valid Mermaid and free; otherwise they are
    sanitised and suffixed (``_2``, ``_3``, ...) so that no two nodes, subgraphs, legend nodes or
    keywords (``end``) share an id.
    """

    _RESERVED = ("end", "graph", "subgraph", "flowchart", "style", "class", "classDef", "click", "direction")

    def __init__(self, layout: GraphLayout) -> None:
        self._taken = {word.lower() for word in self._RESERVED} | {"legends", "input", "output"}
        for node in layout.nodes:
            for depth in range(1, len(node.collection_path) + 1):
                self._taken.add(subgraph_id(node.collection_path[:depth]).lower())
        self._bricks = {node.path: self._claim(_SAFE_ID.sub("_", node.path)) for node in layout.nodes}
        self._data: dict[str, str] = {}

    def brick(self, node: BrickNode) -> str:
        return self._bricks[node.path]

    def data_node(self, name: str) -> str:
        text = self._data.get(name)
        if text is None:
            safe = _SAFE_ID.sub("_", name)
            if safe == name and safe.lower() not in self._taken:
                text = self._claim(name)
            else:
                text = f'{self._claim("data_" + safe)}["{_mermaid_escape(name)}"]'
            self._data[name] = text
        return text

    def _claim(self, candidate: str) -> str:
        chosen, number = candidate, 1
        while chosen.lower() in self._taken:
            number += 1
            chosen = f"{candidate}_{number}"
        self._taken.add(chosen.lower())
        return chosen


def subgraph_id(path: tuple[str, ...]) -> str:
    """The Mermaid id of the subgraph of a nested collection."""
    return _SAFE_ID.sub("_", PATH_SEPARATOR.join(path))


def _mermaid_edges(layout: GraphLayout, ids: _NodeIds) -> list[str]:
    """Edges grouped into (nested) subgraphs by the collection path of the writing brick.

    Within a path, edges follow the writer's execution order; a writer's edges to other bricks come
    before its unconsumed outputs.
    """
    order = {id(node): position for position, node in enumerate(layout.nodes)}
    keyed: dict[tuple[str, ...], list[tuple[int, int, str]]] = {}
    for position, (writer, reader, name) in enumerate(layout.brick_edges):
        text = f"{ids.brick(writer)} --> |{_mermaid_escape(name)}| {ids.brick(reader)}"
        keyed.setdefault(writer.collection_path, []).append((order[id(writer)], position, text))
    offset = len(layout.brick_edges)
    for position, (node, name) in enumerate(layout.output_edges):
        text = f"{ids.brick(node)} --> {ids.data_node(name)}:::output"
        keyed.setdefault(node.collection_path, []).append((order[id(node)], offset + position, text))
    edges_by_path = {path: [text for _, _, text in sorted(entries)] for path, entries in keyed.items()}
    return _mermaid_subgraph((), edges_by_path, depth=1)


def _mermaid_subgraph(path: tuple[str, ...], edges_by_path: dict[tuple[str, ...], list[str]], depth: int) -> list[str]:
    indent = "    " * depth
    lines = [indent + edge for edge in edges_by_path.get(path, [])]
    children = _unique(
        other[: len(path) + 1] for other in edges_by_path if len(other) > len(path) and other[: len(path)] == path
    )
    for child in children:
        lines.append(f"{indent}subgraph {subgraph_id(child)}")
        lines += _mermaid_subgraph(child, edges_by_path, depth + 1)
        lines.append(f"{indent}end")
    return lines


def _dot_clusters(nodes: tuple[BrickNode, ...]) -> list[str]:
    lines: list[str] = []
    open_path: tuple[str, ...] = ()
    for node in sorted(nodes, key=lambda node: node.collection_path):
        while open_path and node.collection_path[: len(open_path)] != open_path:
            lines.append("    " * len(open_path) + "}")
            open_path = open_path[:-1]
        while len(open_path) < len(node.collection_path):
            open_path = node.collection_path[: len(open_path) + 1]
            cluster = _dot_quote("cluster_" + PATH_SEPARATOR.join(open_path))
            lines.append("    " * len(open_path) + f"subgraph {cluster} {{ label={_dot_quote(open_path[-1])};")
        brick_type = type(node.brick).__name__
        title = _dot_escape_label(f"'{node.path}': {_model_label(node)}")
        label = f"{title}\\n{brick_type}"
        lines.append(
            "    " * (len(open_path) + 1) + f'{_dot_quote(node.path)} [label="{label}", '
            f'fillcolor="{brick_colour(brick_type)}"];'
        )
    while open_path:
        lines.append("    " * len(open_path) + "}")
        open_path = open_path[:-1]
    return lines


def _model_label(node: BrickNode) -> str:
    metric_names = node.brick.metric_names()
    if metric_names:
        return ", ".join(f"'{name}'" for name in metric_names)
    return node.brick.model_name


def _brick_types(nodes: tuple[BrickNode, ...]) -> list[str]:
    return _unique(type(node.brick).__name__ for node in nodes)


def _unique(items: Iterator | list) -> list:
    return list(dict.fromkeys(items))


def _mermaid_escape(text: str) -> str:
    return text.replace('"', "#quot;")


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
