"""Seed-compatible import path (torchbricks 0.3): ONNX and ``torch.export`` live in :mod:`torchbricks.export`."""

from torchbricks.export import export_bricks, export_bricks_as_onnx, onnx_max_abs_differences

__all__ = ["export_bricks", "export_bricks_as_onnx", "onnx_max_abs_differences"]
