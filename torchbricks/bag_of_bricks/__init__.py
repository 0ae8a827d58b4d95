"""Seed-compatible import path (torchbricks 0.3): ``torchbricks.bag_of_bricks.X`` is ``bag_of_bricks.X``.

Each module here only re-exports; it is loaded only when imported, so the core never loads the pack.
"""
