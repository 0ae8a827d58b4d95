"""Seed-compatible import path (torchbricks 0.3): graph text lives in :mod:`torchbricks.graph`."""

from torchbricks.graph import create_mermaid_dag_graph, to_dot, to_mermaid

__all__ = ["create_mermaid_dag_graph", "to_dot", "to_mermaid"]
