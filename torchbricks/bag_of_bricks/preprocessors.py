"""Seed-compatible import path: re-exports :mod:`bag_of_bricks.preprocessors`."""

from bag_of_bricks.preprocessors import *  # noqa: F403
from bag_of_bricks.preprocessors import __all__  # noqa: F401
