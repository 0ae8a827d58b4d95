"""Seed-compatible import path: re-exports :mod:`bag_of_bricks.custom_metrics`."""

from bag_of_bricks.custom_metrics import *  # noqa: F403
from bag_of_bricks.custom_metrics import __all__  # noqa: F401
