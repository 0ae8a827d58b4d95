"""Draw a brick collection as a Mermaid flowchart or Graphviz DOT text, without running it.

Bricks are nodes labelled ``'path': ModelClass`` and their brick type; external inputs and outputs
no brick consumes are styled nodes; edges carry the data name; nested collections are subgraphs.
The text is deterministic: the same collection always gives byte-identical text.

Example:
    >>> from torch import nn
    >>> from torchbricks import BrickCollection, BrickTrainable
    >>> collection = BrickCollection({"backbone": BrickTrainable(nn.Identity(), ["images"], ["features"])})
    >>> print(create_mermaid_dag_graph(collection, add_legends=False).splitlines()[2])
        backbone(<strong>'backbone': Identity</strong><br><i>BrickTrainable</i>):::BrickTrainable
"""

# The package holds the dependency graph (_dependencies: BrickNode, BrickGraph) that every collection
# builds, and the drawings of it (_drawing); its public face is the drawing functions.
from torchbricks.graph._drawing import (
    BRICK_COLOURS,
    INPUT_COLOUR,
    OUTPUT_COLOUR,
    GraphLayout,
    brick_colour,
    create_mermaid_dag_graph,
    graph_layout,
    subgraph_id,
    to_dot,
    to_mermaid,
)

__all__ = [
    "BRICK_COLOURS",
    "INPUT_COLOUR",
    "OUTPUT_COLOUR",
    "GraphLayout",
    "brick_colour",
    "create_mermaid_dag_graph",
    "graph_layout",
    "subgraph_id",
    "to_dot",
    "to_mermaid",
]
