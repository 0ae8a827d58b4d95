"""torchbricks 0.4.2 import path: groups were called *tags* (``Tag.MODEL``, ``forward(..., tags=...)``).

Every ``tags=`` argument of 0.4.2 is accepted as a synonym of ``groups=``; these names are the
project's groups and stages under their 0.4.2 names.

Example:
    >>> from torchbricks.brick_tags import DEFAULT_MODEL_STAGE_TAGS, Tag
    >>> Tag.VISUALIZATION, sorted(DEFAULT_MODEL_STAGE_TAGS["EXPORT"])
    ('VISUALIZATION', ['MODEL'])
"""

from torchbricks.brick_group import BrickGroup
from torchbricks.model_stage import EXPORT, INFERENCE, TEST, TRAINING, VALIDATION, ModelStage

Tag = BrickGroup
"""The standard group names as class attributes (``Tag.MODEL`` is ``"MODEL"``)."""

DEFAULT_MODEL_STAGE_TAGS: dict[str, frozenset[str]] = {stage.name: stage.groups for stage in ModelStage}
"""The groups of each stage, keyed by the stage's name (``"TRAIN"``, ...)."""

__all__ = ["DEFAULT_MODEL_STAGE_TAGS", "EXPORT", "INFERENCE", "TEST", "TRAINING", "VALIDATION", "ModelStage", "Tag"]
