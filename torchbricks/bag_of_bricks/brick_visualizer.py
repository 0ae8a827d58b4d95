"""Seed-compatible import path: re-exports :mod:`bag_of_bricks.brick_visualizer`."""

from bag_of_bricks.brick_visualizer import *  # noqa: F403
from bag_of_bricks.brick_visualizer import __all__  # noqa: F401
