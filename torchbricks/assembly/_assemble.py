"""Assemble a multi-task model: preprocessor → backbone → optional neck → one brick dict per task.

Parts are registry names (from any installed pack), ``{"name": ..., **arguments}`` dicts, or built
modules. Interfaces are checked before the neck and the tasks are built: each task gets the feature
map it needs with its channels and stride (``feature_kind``: ``"global"`` → the backbone's coarsest map,
``"dense"`` → the neck's or backbone's finest map, at most the task's ``max_stride``) and, if it takes
``detail``, the full-resolution normalised image. A task's ``feature_kind`` key overrides the factory's
choice (e.g. multi-label presence of small objects read from dense features).

The collection's bricks are ``preprocessor`` (``images`` → ``normalized``), ``backbone``
(→ ``backbone/c2`` ...), ``neck`` (→ ``neck/features`` ...), one sub-collection per task and, when
there are losses to weight, ``total_loss`` writing ``loss`` — the one loss ``extract_losses`` returns.

Example:
    >>> import torch
    >>> model = assemble_model(
    ...     backbone={"name": "resnet18", "levels": [2, 3, 4, 5]},
    ...     neck="upsampling",
    ...     tasks={"kind": {"task": "image_classification", "num_classes": 3, "targets": "label"}},
    ... )
    >>> outputs = model({"images": torch.rand(2, 3, 64, 64), "label": torch.tensor([0, 1])}, groups="train")
    >>> sorted(model.extract_losses(outputs)), outputs["kind/logits"].shape
    (['loss'], torch.Size([2, 3]))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from torchbricks.assembly._parts import require_part
from torchbricks.bricks import BrickLoss, BrickNotTrainable, BrickTrainable
from torchbricks.collection import BrickCollection
from torchbricks.errors import InterfaceMismatchError
from torchbricks.features import DENSE, FeatureSpec, feature_kind_of, max_stride_of

RESERVED_NAMES = ("preprocessor", "backbone", "neck", "total_loss")


def assemble_model(
    tasks: Mapping[str, Any],
    backbone: Any = "resnet18",
    neck: Any = None,
    preprocessor: Any = "normalize",
    image: str = "images",
    loss_weighting: Any = "fixed_weighting",
) -> BrickCollection:
    """Build one multi-task collection. See the module docstring for the parts and names."""
    backbone_module = build_part("backbones", backbone, {}, "backbone")
    backbone_spec = feature_spec_of(backbone_module, "backbone")
    bricks: dict[str, Any] = {}
    normalized = image
    if preprocessor is not None:
        normalized = "normalized"
        bricks["preprocessor"] = BrickNotTrainable(
            build_part("preprocessors", preprocessor, {}, "preprocessor"), [image], [normalized]
        )
    backbone_outputs = [f"backbone/{name}" for name in backbone_spec.names]
    bricks["backbone"] = BrickTrainable(backbone_module, [normalized], backbone_outputs)
    dense_names, dense_spec = backbone_outputs, backbone_spec
    if neck is not None:
        neck_module = build_part(
            "necks", neck, {"in_channels": backbone_spec.channels, "in_strides": backbone_spec.strides}, "neck"
        )
        check_neck_inputs(neck_module, backbone_spec)
        dense_spec = feature_spec_of(neck_module, "neck")
        dense_names = [f"neck/{name}" for name in dense_spec.names]
        bricks["neck"] = BrickTrainable(neck_module, backbone_outputs, dense_names)
    global_feature = (backbone_outputs[-1], backbone_spec.channels[-1], backbone_spec.strides[-1])
    dense_feature = (dense_names[0], dense_spec.channels[0], dense_spec.strides[0])
    loss_names = []
    for task_name, task in tasks.items():
        if task_name in RESERVED_NAMES:
            raise InterfaceMismatchError(
                f"Task name '{task_name}' is reserved for the model's {task_name}; rename the task"
            )
        bricks[task_name] = build_task(task_name, task, global_feature, dense_feature, image, normalized)
        if any(isinstance(brick, BrickLoss) for brick in _bricks_of(bricks[task_name])):
            loss_names.append(task_name)
    collection = BrickCollection(bricks)
    if loss_weighting is not None and loss_names:
        weighting = build_part(
            "losses",
            loss_weighting,
            {"weights": dict.fromkeys(loss_names, 1.0), "task_names": loss_names},
            "loss_weighting",
        )
        weighted = list(getattr(weighting, "task_names", loss_names))
        if sorted(weighted) != sorted(loss_names):
            raise InterfaceMismatchError(
                f"The loss weighting {type(weighting).__name__} weighs tasks {sorted(weighted)}, "
                f"but the tasks with losses are {sorted(loss_names)}"
            )
        for task_name in loss_names:
            for _, brick in collection[task_name].named_bricks():
                if isinstance(brick, BrickLoss):
                    brick.loss_output_names = []
        collection["total_loss"] = BrickLoss(weighting, [f"{name}/loss" for name in weighted], ["loss"])
    return collection


def build_part(kind: str, part: Any, supplied: Mapping[str, Any], path: str) -> Any:
    """A module from a registry name, a ``{"name": ..., **arguments}`` dict, or an already built module."""
    if isinstance(part, nn.Module) or (callable(part) and not isinstance(part, (str, Mapping))):
        return part
    return require_part(kind, part, path).build(supplied)


def feature_spec_of(module: Any, role: str) -> FeatureSpec:
    """The module's declared :class:`FeatureSpec`; an error naming the part when it has none."""
    spec = getattr(module, "feature_spec", None)
    if not isinstance(spec, FeatureSpec):
        raise InterfaceMismatchError(
            f"The {role} {type(module).__name__} declares no feature_spec (names, channels, strides); "
            f"set `module.feature_spec = FeatureSpec(...)` so tasks can be connected to it"
        )
    return spec


def check_neck_inputs(neck: Any, backbone_spec: FeatureSpec) -> None:
    """A built neck that declares ``in_channels``/``in_strides`` must match the backbone's outputs."""
    for attribute, given in (("in_channels", backbone_spec.channels), ("in_strides", backbone_spec.strides)):
        expected = getattr(neck, attribute, None)
        if expected is not None and tuple(expected) != tuple(given):
            raise InterfaceMismatchError(
                f"The neck {type(neck).__name__} expects {attribute}={tuple(expected)} but the backbone gives "
                f"{tuple(given)} (features {backbone_spec.names})"
            )


def build_task(
    task_name: str,
    task: Any,
    global_feature: tuple[str, int, int],
    dense_feature: tuple[str, int, int],
    image: str,
    normalized: str,
) -> Any:
    """Build one task from ``{"task": name, **arguments}`` (or return a ready dict of bricks unchanged)."""
    if not (isinstance(task, Mapping) and "task" in task):
        return task
    part = require_part("tasks", task, f"tasks.{task_name}")
    kind = part.feature_kind or feature_kind_of(part.factory)
    feature, channels, stride = dense_feature if kind == DENSE else global_feature
    max_stride = max_stride_of(part.factory)
    where = f"Task '{task_name}' ({part.entry.qualified_name})"
    if max_stride is not None and stride > max_stride:
        raise InterfaceMismatchError(
            f"{where} needs features at stride <= {max_stride}, but '{feature}' has stride {stride}; "
            f"add a neck (e.g. neck='upsampling') or a backbone level with a finer stride"
        )
    for key, actual in (("in_channels", channels), ("stride", stride)):
        if key in part.arguments and part.arguments[key] != actual:
            raise InterfaceMismatchError(
                f"{where} is configured with {key}={part.arguments[key]}, but '{feature}' has {key}={actual}"
            )
    supplied = {"features": feature, "in_channels": channels, "stride": stride, "image": image, "detail": normalized}
    return part.build(supplied)


def _bricks_of(task: Any) -> list[Any]:
    if isinstance(task, BrickCollection):
        return [brick for _, brick in task.named_bricks()]
    if isinstance(task, Mapping):
        return [brick for value in task.values() for brick in _bricks_of(value)]
    return [task]
