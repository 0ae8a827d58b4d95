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
from dataclasses import dataclass
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
    global_feature = FeatureSource(
        backbone_outputs[-1], backbone_spec.channels[-1], backbone_spec.strides[-1], "the backbone's coarsest map"
    )
    dense_origin = f"the neck {_part_name(neck)!r}" if neck is not None else "the backbone's finest map"
    dense_feature = FeatureSource(dense_names[0], dense_spec.channels[0], dense_spec.strides[0], dense_origin)
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
    for task_name in loss_names:
        _check_loss_name(collection, task_name, tasks[task_name])
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


@dataclass(frozen=True)
class FeatureSource:
    """A feature a task can read: its data name, channels and stride, and where it comes from (for messages)."""

    name: str
    channels: int
    stride: int
    origin: str


def build_task(
    task_name: str,
    task: Any,
    global_feature: FeatureSource,
    dense_feature: FeatureSource,
    image: str,
    normalized: str,
) -> Any:
    """Build one task from ``{"task": name, **arguments}`` (or return a ready dict of bricks unchanged)."""
    if not (isinstance(task, Mapping) and "task" in task):
        return task
    part = require_part("tasks", task, f"tasks.{task_name}")
    kind = part.feature_kind or feature_kind_of(part.factory)
    feature = dense_feature if kind == DENSE else global_feature
    where = f"Task '{task_name}' ({part.entry.qualified_name})"
    _check_feature(where, kind, feature, max_stride_of(part.factory), dense_feature)
    for key, actual in (("in_channels", feature.channels), ("stride", feature.stride)):
        if key in part.arguments and part.arguments[key] != actual:
            raise InterfaceMismatchError(
                f"{where} is configured with {key}={part.arguments[key]}, but '{feature.name}' has {key}={actual}; "
                f"leave {key} out (the assembler supplies it)"
            )
    supplied = {
        "features": feature.name,
        "in_channels": feature.channels,
        "stride": feature.stride,
        "image": image,
        "detail": normalized,
    }
    return part.build(supplied)


def _check_feature(
    where: str, kind: str, feature: FeatureSource, max_stride: int | None, dense_feature: FeatureSource
) -> None:
    """The feature fits the task; otherwise an error with advice for the config at hand."""
    if kind == DENSE and feature.stride == 0:
        raise InterfaceMismatchError(
            f"{where} reads dense feature maps, but {feature.origin} gives a pooled vector ('{feature.name}', "
            f"stride 0); use a neck that keeps feature maps (e.g. neck: upsampling) or none"
        )
    if max_stride is None or feature.stride <= max_stride:
        return
    needs = f"{where} needs features at stride <= {max_stride}, but '{feature.name}' ({feature.origin}) has stride"
    if kind != DENSE:
        fix = (
            f"set feature_kind: dense for this task (the dense map has stride {dense_feature.stride})"
            if 0 < dense_feature.stride <= max_stride
            else "set feature_kind: dense and add a neck that fuses levels to a fine stride (e.g. neck: upsampling)"
        )
        raise InterfaceMismatchError(f"{needs} {feature.stride} (feature_kind 'global' reads the coarsest map); {fix}")
    if feature.origin.startswith("the neck"):
        fix = "give the backbone finer levels (e.g. levels: [2, 3, 4, 5]) so the neck's finest map is finer"
    else:
        fix = "add a neck that fuses levels to a fine stride (e.g. neck: upsampling) or give the backbone finer levels"
    raise InterfaceMismatchError(f"{needs} {feature.stride}; {fix}")


def _check_loss_name(collection: BrickCollection, task_name: str, task: Any) -> None:
    """The loss weighting sums ``<task>/loss``: a task with a loss brick must write ``./loss``."""
    expected = f"{task_name}/loss"
    if expected in collection.graph.producers:
        return
    written = [
        name
        for node in collection.nodes()
        if node.path.startswith(f"{task_name}/") and isinstance(node.brick, BrickLoss)
        for name in node.outputs
    ]
    factory = task.get("task") if isinstance(task, Mapping) else "its bricks"
    raise InterfaceMismatchError(
        f"Task '{task_name}' ({factory}) has a loss brick but writes no '{expected}' (its losses write {written}); "
        f"a task's loss must write './loss': the loss weighting sums '<task>/loss' of every task"
    )


def _part_name(part: Any) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, Mapping):
        return str(part.get("name", "?"))
    return type(part).__name__


def _bricks_of(task: Any) -> list[Any]:
    if isinstance(task, BrickCollection):
        return [brick for _, brick in task.named_bricks()]
    if isinstance(task, Mapping):
        return [brick for value in task.values() for brick in _bricks_of(value)]
    return [task]
