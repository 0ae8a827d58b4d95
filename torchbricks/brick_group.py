"""torchbricks 0.3 import path of the standard group names (``from torchbricks import brick_group``).

The names live in :mod:`torchbricks.groups`; ``BrickGroup`` holds them as class attributes, like the
``Tag`` class of torchbricks 0.4.2 (:mod:`torchbricks.brick_tags`).

Example:
    >>> from torchbricks import brick_group
    >>> brick_group.MODEL, BrickGroup.LOSS, BrickGroup.METRIC_EXTRA
    ('MODEL', 'LOSS', 'METRIC_EXTRA')
"""

from torchbricks.groups import LOSS, METRIC, METRIC_EXTRA, MODEL, VISUALIZATION


class BrickGroup:
    """The standard group names: ``BrickGroup.MODEL`` is ``"MODEL"``, and so on."""

    MODEL = MODEL
    LOSS = LOSS
    METRIC = METRIC
    METRIC_EXTRA = METRIC_EXTRA
    VISUALIZATION = VISUALIZATION


__all__ = ["LOSS", "METRIC", "METRIC_EXTRA", "MODEL", "VISUALIZATION", "BrickGroup"]
