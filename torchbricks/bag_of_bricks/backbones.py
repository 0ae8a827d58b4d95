"""Seed-compatible import path: re-exports :mod:`bag_of_bricks.backbones`."""

from bag_of_bricks.backbones import *  # noqa: F403
from bag_of_bricks.backbones import __all__  # noqa: F401
