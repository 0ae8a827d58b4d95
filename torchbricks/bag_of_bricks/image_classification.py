"""Seed-compatible import path: re-exports :mod:`bag_of_bricks.image_classification`."""

from bag_of_bricks.image_classification import *  # noqa: F403
from bag_of_bricks.image_classification import __all__  # noqa: F401
