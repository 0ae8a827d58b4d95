"""Seed-compatible import path (torchbricks 0.3): the per-image visualization brick is a core brick now.

It lives in :mod:`torchbricks.visualization` (``from torchbricks import BrickPerImageVisualization``).
"""

from torchbricks.visualization import BrickPerImageVisualization

__all__ = ["BrickPerImageVisualization"]
