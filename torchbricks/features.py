"""Feature contracts that packs implement: what a backbone or neck outputs, and what a task reads.

A backbone or neck declares its outputs with a :class:`FeatureSpec` (one name, channel count and
stride per feature map), either on the built module (``module.feature_spec``) or on its factory with
:func:`declare_features` (readable without building anything). A task factory declares which
features it reads with :func:`task_kind`: ``"global"`` (the backbone's coarsest map) or ``"dense"``
(the neck's or backbone's finest map, at most ``max_stride``), which the registry records as a
:class:`TaskInterface`. The assembler connects parts through these declarations and checks them before
anything is built.

What a task's head writes for people to read is named by a fixed last part: ``<task>/class_prediction``
(single-label classification), ``<task>/present`` (multi-label), ``<task>/class_map`` (segmentation),
``<task>/points`` and ``<task>/boxes`` (detection); see :data:`PREDICTION_OUTPUTS`. Tools that read
predictions (``torchbricks predict``) find each task's by :func:`task_predictions`.

This module imports nothing heavy: listing bricks reads these declarations without importing torch.

Example:
    >>> spec = FeatureSpec(names=("c4", "c5"), channels=(256, 512), strides=(16, 32))
    >>> FeatureSpec.from_dict(spec.to_dict()) == spec
    True
    >>> @task_kind("dense", max_stride=8)
    ... def my_task(num_classes: int, *, features: str, in_channels: int, stride: int = 4):
    ...     return {}
    >>> feature_kind_of(my_task), max_stride_of(my_task)
    ('dense', 8)
    >>> TaskInterface.of(my_task).to_dict()
    {'feature_kind': 'dense', 'max_stride': 8}
    >>> task_predictions(["normalized", "animal/logits", "animal/class_prediction", "cells/class_map"])
    {'animal': ('classification', 'animal/class_prediction'), 'cells': ('segmentation', 'cells/class_map')}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

GLOBAL = "global"
DENSE = "dense"
FEATURE_KINDS: tuple[str, ...] = (GLOBAL, DENSE)
"""What a task can read: ``"global"`` (the coarsest backbone map) or ``"dense"`` (the finest map)."""

Factory = TypeVar("Factory", bound=Callable[..., Any])


@dataclass(frozen=True)
class FeatureSpec:
    """The declared outputs of a backbone or neck: one name, channel count and stride per feature map.

    A stride of 0 marks a global (pooled) feature vector rather than a feature map.
    """

    names: tuple[str, ...]
    channels: tuple[int, ...]
    strides: tuple[int, ...]

    def __post_init__(self) -> None:
        if not len(self.names) == len(self.channels) == len(self.strides):
            raise ValueError(
                f"FeatureSpec needs one channel count and stride per name, got names={self.names}, "
                f"channels={self.channels}, strides={self.strides}"
            )

    def to_dict(self) -> dict[str, list[Any]]:
        """A JSON-ready dict (``names``, ``channels``, ``strides``)."""
        return {"names": list(self.names), "channels": list(self.channels), "strides": list(self.strides)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        """The inverse of :meth:`to_dict`."""
        return cls(
            tuple(data["names"]), tuple(int(c) for c in data["channels"]), tuple(int(s) for s in data["strides"])
        )


@dataclass(frozen=True)
class TaskInterface:
    """The declared input of a task factory: which features it reads (``"global"`` or ``"dense"``) and
    the largest stride it accepts (``None``: any). What :func:`task_kind` declares, as registry entries hold it.

    Example:
        >>> interface = TaskInterface("dense", max_stride=16)
        >>> interface.to_dict()
        {'feature_kind': 'dense', 'max_stride': 16}
        >>> TaskInterface.from_dict(interface.to_dict()) == interface
        True
    """

    feature_kind: str
    max_stride: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.feature_kind, str) or self.feature_kind not in FEATURE_KINDS:
            raise ValueError(f"feature_kind must be one of {FEATURE_KINDS}, got {self.feature_kind!r}")
        stride = self.max_stride
        if stride is not None and (not isinstance(stride, int) or isinstance(stride, bool) or stride < 1):
            raise ValueError(f"max_stride must be a positive integer or None, got {stride!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``feature_kind``, ``max_stride``)."""
        return {"feature_kind": self.feature_kind, "max_stride": self.max_stride}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskInterface:
        """The inverse of :meth:`to_dict` (``max_stride`` may be left out)."""
        return cls(data["feature_kind"], data.get("max_stride"))

    @classmethod
    def of(cls, factory: Any) -> TaskInterface:
        """The interface a task factory declares with :func:`task_kind` (``"global"`` when it declares none).

        Raises ``ValueError`` when the factory's ``feature_kind`` or ``max_stride`` attribute is invalid.
        """
        return cls(feature_kind_of(factory), max_stride_of(factory))


def declare_features(
    names: tuple[str, ...], channels: tuple[int, ...], strides: tuple[int, ...]
) -> Callable[[Factory], Factory]:
    """Decorator declaring the feature interface of a backbone/neck factory (read without building it).

    Example:
        >>> @declare_features(names=("features",), channels=(512,), strides=(32,))
        ... def my_backbone():
        ...     ...
        >>> my_backbone.feature_spec.channels
        (512,)
    """
    spec = FeatureSpec(tuple(names), tuple(channels), tuple(strides))

    def attach(factory: Factory) -> Factory:
        factory.feature_spec = spec  # type: ignore[attr-defined]
        return factory

    return attach


def task_kind(feature_kind: str, max_stride: int | None = None) -> Callable[[Factory], Factory]:
    """Declare which features a task factory reads: ``"global"`` or ``"dense"`` (at most ``max_stride``).

    The registry reads the declaration from the source (keep the decorator's name ``task_kind`` and use
    literal values) and records it as the entry's :class:`TaskInterface`.

    Example:
        >>> @task_kind("global")
        ... def my_classifier(num_classes: int, *, features: str, in_channels: int):
        ...     return {}
        >>> my_classifier.feature_kind
        'global'
    """
    TaskInterface(feature_kind, max_stride)  # raises ValueError naming an invalid value

    def mark(factory: Factory) -> Factory:
        factory.feature_kind = feature_kind  # type: ignore[attr-defined]
        factory.max_stride = max_stride  # type: ignore[attr-defined]
        return factory

    return mark


def feature_kind_of(factory: Any) -> str:
    """The declared feature kind of a task factory (``"global"`` when it declares none)."""
    return getattr(factory, "feature_kind", None) or GLOBAL


def max_stride_of(factory: Any) -> int | None:
    """The declared largest stride a task factory accepts (``None``: any)."""
    return getattr(factory, "max_stride", None)


CLASSIFICATION = "classification"
MULTILABEL = "multilabel"
SEGMENTATION = "segmentation"
POINTS = "points"
BOXES = "boxes"
PREDICTION_OUTPUTS: dict[str, str] = {
    "class_prediction": CLASSIFICATION,  # [B] class index; scores in ./probabilities [B, K]
    "present": MULTILABEL,  # [B, K] 0/1 per class; scores in ./probabilities [B, K]
    "class_map": SEGMENTATION,  # [B, H, W] class index per pixel of the input image
    "points": POINTS,  # [B, N, 4] (x, y, class, score) in input pixels; rows of class -1 pad
    "boxes": BOXES,  # [B, N, 6] (x1, y1, x2, y2, class, score) in input pixels; rows of class -1 pad
}
"""The last part of a head output's name (``<task>/<part>``) → the kind of prediction it holds.

A task factory whose head writes one of these names (and, for the classifications, the scores as
``./probabilities``) gets readable predictions from ``torchbricks predict``: class names, boxes and
points in the original image's pixels, masks."""
SCORES_OUTPUT = "probabilities"
"""The last part of the name of a classification task's per-class scores (``<task>/probabilities``)."""


def task_predictions(output_names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """``{task: (kind, output name)}`` for each output ``<task>/<part>`` with a part of :data:`PREDICTION_OUTPUTS`.

    The task is the name up to its last ``/`` (a nested task keeps its whole path); names without one are
    not predictions (``normalized``, a target). The first prediction output of a task wins.
    """
    found: dict[str, tuple[str, str]] = {}
    for name in output_names:
        task, separator, part = name.rpartition("/")
        if separator and task and part in PREDICTION_OUTPUTS:
            found.setdefault(task, (PREDICTION_OUTPUTS[part], name))
    return found


__all__ = [
    "BOXES",
    "CLASSIFICATION",
    "DENSE",
    "FEATURE_KINDS",
    "GLOBAL",
    "MULTILABEL",
    "POINTS",
    "PREDICTION_OUTPUTS",
    "SCORES_OUTPUT",
    "SEGMENTATION",
    "FeatureSpec",
    "TaskInterface",
    "declare_features",
    "feature_kind_of",
    "max_stride_of",
    "task_kind",
    "task_predictions",
]
