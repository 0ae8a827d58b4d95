"""torchbricks 0.3 import path of the model stages (``from torchbricks import model_stage``).

``ModelStage`` is :class:`torchbricks.groups.Stage` (same members and values). The module-level sets
are the groups each stage runs; pass one, or the stage itself, as ``groups``.

Example:
    >>> from torchbricks import model_stage
    >>> sorted(model_stage.INFERENCE), model_stage.ModelStage.TRAIN.value
    (['MODEL'], 'train')
    >>> model_stage.DEFAULT_MODEL_STAGE_GROUPS["test"] == model_stage.TEST
    True
"""

from torchbricks.groups import Stage

ModelStage = Stage

TRAINING: frozenset[str] = Stage.TRAIN.groups
VALIDATION: frozenset[str] = Stage.VALIDATION.groups
TEST: frozenset[str] = Stage.TEST.groups
EXPORT: frozenset[str] = Stage.EXPORT.groups
INFERENCE: frozenset[str] = Stage.INFERENCE.groups

DEFAULT_MODEL_STAGE_GROUPS: dict[str, frozenset[str]] = {stage.value: stage.groups for stage in Stage}
"""The groups of each stage, keyed by the stage's value (``"train"``, ...)."""

__all__ = ["DEFAULT_MODEL_STAGE_GROUPS", "EXPORT", "INFERENCE", "TEST", "TRAINING", "VALIDATION", "ModelStage"]
