"""Task factories: each returns a dict of bricks (head, loss, metrics, visualizer) with relative names.

A task reads one feature map (``features``, with ``in_channels`` channels at ``stride``) and its
targets, and writes ``./<output>`` names, so the same factory can be nested under any task name::

    {"shapes": multilabel_classification(num_classes=3, features="backbone/c5", in_channels=512,
                                          targets="shape_present")}

gives ``shapes/logits``, ``shapes/present``, ``shapes/loss``, ... ``feature_kind`` on each factory says
which features the assembler should give it: ``"global"`` (the coarsest map) or ``"dense"`` (the
finest, e.g. a neck's stride-4 map; ``max_stride`` caps it).

Partial labels: pass ``labelled="<name>"``, a boolean ``[B]`` input marking the samples labelled for
this task; the others are left out of its loss and metrics. Ignore values work too (class ``-1``,
pixel ``255``).

Example:
    >>> import torch
    >>> from torchbricks import BrickCollection
    >>> task = image_classification(num_classes=3, features="features", in_channels=8, targets="label")
    >>> sorted(task)
    ['head', 'loss', 'metrics', 'visualizer']
    >>> model = BrickCollection({"animal": task})
    >>> outputs = model({"features": torch.rand(2, 8, 4, 4), "label": torch.tensor([0, 2])}, groups="train")
    >>> outputs["animal/logits"].shape, outputs["animal/loss"].ndim
    (torch.Size([2, 3]), 0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from bag_of_bricks.heads import (
    BoxDetectionHead,
    ImageClassifier,
    MultiLabelClassifier,
    PointDetectionHead,
    SegmentationHead,
)
from bag_of_bricks.losses import (
    BoxDetectionLoss,
    ClassificationLoss,
    MultiLabelLoss,
    PointDetectionLoss,
    SegmentationLoss,
)
from bag_of_bricks.metrics import BoxDetectionF1, BoxMeanAveragePrecision, PointDetectionF1, map_backend
from bag_of_bricks.visualizers import BoxesDrawer, ClassLabelDrawer, PointsDrawer, SegmentationOverlay
from torchbricks import BrickInterface, BrickLoss, BrickMetrics, BrickPerImageVisualization, BrickTrainable, task_kind
from torchbricks.groups import LOSS, METRIC

__all__ = [
    "Bricks",
    "SelectLabelled",
    "SelectLabelledRows",
    "image_classification",
    "multilabel_classification",
    "object_detection",
    "point_detection",
    "semantic_segmentation",
]

Bricks = dict[str, BrickInterface]


class SelectLabelled(nn.Module):
    """Keeps the samples whose ``labelled`` flag is true in every tensor (for losses and metrics)."""

    def forward(self, labelled: torch.Tensor, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        keep = labelled.to(torch.bool)
        return tuple(tensor[keep] for tensor in tensors)


class SelectLabelledRows(nn.Module):
    """Keeps the samples whose targets (the last input) have no ignore value (``-1``) in any label."""

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        keep = (tensors[-1] >= 0).all(dim=1)
        return tuple(tensor[keep] for tensor in tensors)


def _task(
    head: nn.Module,
    head_inputs: list[str],
    head_outputs: list[str],
    *,
    loss: nn.Module,
    loss_reads: list[str],
    metrics: Mapping[str, Any],
    prediction: str,
    targets: str,
    labelled: str | None,
    drawer: Any,
    image: str,
    select_rows: bool = False,
) -> Bricks:
    """The bricks every task has: ``head`` → (``select``) → ``loss``, ``metrics``; ``visualizer``.

    The loss reads the head outputs ``loss_reads`` and the target; the metrics and the visualizer read
    ``prediction`` (and the target; the visualizer the image). With ``labelled``, a ``select`` brick
    first keeps the labelled samples of what the loss and metrics read, as ``./labelled/<name>``;
    with ``select_rows``, a ``select_rows`` brick then keeps the samples with no ignore value in their
    target rows, as ``./rows/<name>``.
    """
    bricks: Bricks = {"head": BrickTrainable(head, head_inputs, head_outputs)}
    reads = [*loss_reads, prediction, targets]
    names = [*(name.removeprefix("./") for name in [*loss_reads, prediction]), "target"]
    if labelled is not None:
        selected = [f"./labelled/{name}" for name in names]
        bricks["select"] = BrickTrainable(SelectLabelled(), [labelled, *reads], selected, groups={LOSS, METRIC})
        reads = selected
    if select_rows:
        selected = [f"./rows/{name}" for name in names]
        bricks["select_rows"] = BrickTrainable(SelectLabelledRows(), reads, selected, groups={LOSS, METRIC})
        reads = selected
    *loss_inputs, prediction_read, target = reads
    bricks["loss"] = BrickLoss(loss, [*loss_inputs, target], ["./loss"])
    bricks["metrics"] = BrickMetrics(metrics, [prediction_read, target])
    bricks["visualizer"] = BrickPerImageVisualization(
        drawer, input_names=[image, prediction], output_names=["./visualization"]
    )
    return bricks


def _class_names(class_names: Sequence[str] | None, num_classes: int) -> list[str]:
    """``class_names``, or the class indices as text."""
    return list(class_names) if class_names else [str(index) for index in range(num_classes)]


@task_kind("global")
def image_classification(
    num_classes: int,
    *,
    features: str = "features",
    in_channels: int,
    targets: str = "targets",
    labelled: str | None = None,
    image: str = "images",
    class_names: Sequence[str] | None = None,
    label_smoothing: float = 0.0,
) -> Bricks:
    """Single-label classification: softmax head, cross-entropy, accuracy and F1, class-name drawing."""
    from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

    return _task(
        ImageClassifier(num_classes=num_classes, n_features=in_channels),
        [features],
        ["./logits", "./probabilities", "./class_prediction"],
        loss=ClassificationLoss(label_smoothing=label_smoothing),
        loss_reads=["./logits"],
        metrics={
            "accuracy": MulticlassAccuracy(num_classes=num_classes, ignore_index=-1, average="micro"),
            "f1": MulticlassF1Score(num_classes=num_classes, ignore_index=-1, average="macro"),
        },
        prediction="./class_prediction",
        targets=targets,
        labelled=labelled,
        drawer=ClassLabelDrawer(_class_names(class_names, num_classes)),
        image=image,
    )


@task_kind("global")
def multilabel_classification(
    num_classes: int,
    *,
    features: str = "features",
    in_channels: int,
    targets: str = "targets",
    labelled: str | None = None,
    image: str = "images",
    class_names: Sequence[str] | None = None,
    hidden: int = 128,
    threshold: float = 0.5,
    focal_gamma: float = 0.0,
) -> Bricks:
    """Which labels are present: sigmoid head, BCE (or focal), exact-match accuracy and F1."""
    from torchmetrics.classification import MultilabelExactMatch, MultilabelF1Score

    return _task(
        MultiLabelClassifier(num_classes=num_classes, n_features=in_channels, hidden=hidden, threshold=threshold),
        [features],
        ["./logits", "./probabilities", "./present"],
        loss=MultiLabelLoss(gamma=focal_gamma),
        loss_reads=["./logits"],
        metrics={
            "exact_match": MultilabelExactMatch(num_labels=num_classes, ignore_index=-1),
            "f1": MultilabelF1Score(num_labels=num_classes, ignore_index=-1, average="macro"),
        },
        prediction="./present",
        targets=targets,
        labelled=labelled,
        drawer=ClassLabelDrawer(_class_names(class_names, num_classes)),
        image=image,
        select_rows=True,
    )


@task_kind("dense", max_stride=16)
def semantic_segmentation(
    num_classes: int,
    *,
    features: str = "features",
    in_channels: int,
    stride: int = 4,
    targets: str = "segmentation",
    labelled: str | None = None,
    image: str = "images",
    detail: str | None = None,
    detail_channels: int = 3,
    hidden: int = 64,
    dice_weight: float = 1.0,
    class_names: Sequence[str] | None = None,
) -> Bricks:
    """Per-pixel classes at input resolution: cross-entropy + Dice, mean IoU over all classes (background included).

    ``class_names`` (class 0 first, usually the background) is recorded in the saved config for the people and
    tools that read the predictions; a train run fills it from the data (a segmentation folder's ``labels``).
    ``detail`` names a full-resolution input (e.g. the normalised image, ``detail_channels`` channels) that
    refines the upsampled features for sharper boundaries.
    """
    from torchmetrics.classification import MulticlassJaccardIndex

    head = SegmentationHead(
        in_channels=in_channels,
        num_classes=num_classes,
        stride=stride,
        hidden=hidden,
        detail_channels=detail_channels if detail else 0,
    )
    return _task(
        head,
        [features, detail] if detail else [features],
        ["./logits", "./class_map"],
        loss=SegmentationLoss(dice_weight=dice_weight),
        loss_reads=["./logits"],
        metrics={"mean_iou": MulticlassJaccardIndex(num_classes=num_classes, ignore_index=255, average="macro")},
        prediction="./class_map",
        targets=targets,
        labelled=labelled,
        drawer=SegmentationOverlay(num_classes=num_classes),
        image=image,
    )


@task_kind("dense", max_stride=8)
def point_detection(
    num_classes: int,
    *,
    features: str = "features",
    in_channels: int,
    stride: int = 4,
    targets: str = "points",
    labelled: str | None = None,
    image: str = "images",
    class_names: Sequence[str] | None = None,
    hidden: int = 64,
    sigma: float = 1.0,
    max_points: int = 20,
    score_threshold: float = 0.3,
    max_distance: float = 4.0,
) -> Bricks:
    """Keypoints/centres as per-class heatmaps with offsets; F1 with class match within ``max_distance`` px."""
    head = PointDetectionHead(
        in_channels, num_classes, stride=stride, hidden=hidden, max_points=max_points, score_threshold=score_threshold
    )
    return _task(
        head,
        [features],
        ["./heatmap", "./offsets", "./points"],
        loss=PointDetectionLoss(num_classes, stride=stride, sigma=sigma),
        loss_reads=["./heatmap", "./offsets"],
        metrics={"detection": PointDetectionF1(max_distance=max_distance)},
        prediction="./points",
        targets=targets,
        labelled=labelled,
        drawer=PointsDrawer(_class_names(class_names, num_classes)),
        image=image,
    )


@task_kind("dense", max_stride=16)
def object_detection(
    num_classes: int,
    *,
    features: str = "features",
    in_channels: int,
    stride: int = 4,
    targets: str = "boxes",
    labelled: str | None = None,
    image: str = "images",
    class_names: Sequence[str] | None = None,
    hidden: int = 64,
    max_boxes: int = 20,
    score_threshold: float = 0.3,
    iou_threshold: float = 0.5,
    mean_average_precision: bool | None = None,
) -> Bricks:
    """Anchor-free boxes (centre heatmaps + sizes), torchvision NMS; F1 at IoU ``>= 0.5`` with class match.

    ``mean_average_precision`` adds COCO mAP (``map``, ``map_50``, ``map_75``, ``mar_100``) to the
    metrics; ``None`` (default) adds it when pycocotools or faster-coco-eval is installed (the
    ``train`` extra). True without either raises ``MissingDependencyError``.
    """
    head = BoxDetectionHead(
        in_channels,
        num_classes,
        stride=stride,
        hidden=hidden,
        max_boxes=max_boxes,
        score_threshold=score_threshold,
        iou_threshold=iou_threshold,
    )
    return _task(
        head,
        [features],
        ["./heatmap", "./regression", "./boxes"],
        loss=BoxDetectionLoss(num_classes, stride=stride),
        loss_reads=["./heatmap", "./regression"],
        metrics=_box_metrics(mean_average_precision),
        prediction="./boxes",
        targets=targets,
        labelled=labelled,
        drawer=BoxesDrawer(_class_names(class_names, num_classes)),
        image=image,
    )


def _box_metrics(mean_average_precision: bool | None) -> dict[str, Any]:
    metrics: dict[str, Any] = {"detection": BoxDetectionF1()}
    if mean_average_precision or (mean_average_precision is None and map_backend() is not None):
        metrics["mean_average_precision"] = BoxMeanAveragePrecision()
    return metrics


# ``task_kind`` moved to the core; its old name here is served (with a warning) by the core's old-paths table.
del task_kind
