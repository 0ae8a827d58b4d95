"""Seed-compatible import path (torchbricks 0.3): the per-image visualization brick is a core brick now.

It lives in :mod:`torchbricks.visualization` (``from torchbricks import BrickPerImageVisualization``),
with the ``unpack_functions_for_type`` presets ``UNPACK_TENSORS_TO_NDARRAYS`` and ``UNPACK_NO_CONVERSION``.
"""

from torchbricks.visualization import UNPACK_NO_CONVERSION, UNPACK_TENSORS_TO_NDARRAYS, BrickPerImageVisualization

__all__ = ["UNPACK_NO_CONVERSION", "UNPACK_TENSORS_TO_NDARRAYS", "BrickPerImageVisualization"]
