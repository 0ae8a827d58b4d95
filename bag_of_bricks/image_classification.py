"""Seed-compatible import path (torchbricks 0.3): the classification heads live in :mod:`bag_of_bricks.heads`.

Example:
    >>> from bag_of_bricks.heads import ImageClassifier as Moved
    >>> ImageClassifier is Moved
    True
"""

from bag_of_bricks.heads import ImageClassifier, MultiLabelClassifier

__all__ = ["ImageClassifier", "MultiLabelClassifier"]
