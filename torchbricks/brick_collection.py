"""Seed-compatible import path (torchbricks 0.3): ``BrickCollection`` lives in :mod:`torchbricks.collection`."""

from torchbricks.collection import BrickCollection
from torchbricks.groups import Stage

__all__ = ["BrickCollection", "Stage"]
