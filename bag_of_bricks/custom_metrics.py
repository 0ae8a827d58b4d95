"""Seed-compatible import path (torchbricks 0.3): the metric lives in :mod:`bag_of_bricks.metrics`.

Example:
    >>> from bag_of_bricks.metrics import ConcatenatePredictionAndTarget as Moved
    >>> ConcatenatePredictionAndTarget is Moved
    True
"""

from bag_of_bricks.metrics import ConcatenatePredictionAndTarget

__all__ = ["ConcatenatePredictionAndTarget"]
