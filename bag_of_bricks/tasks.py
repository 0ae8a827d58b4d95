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

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from bag_of_bricks.image_classification import ImageClassifier, MultiLabelClassifier
from bag_of_bricks.losses import ClassificationLoss, MultiLabelLoss, SegmentationLoss
from bag_of_bricks.metrics import BoxDetectionF1, PointDetectionF1
from bag_of_bricks.object_detection import BoxDetectionHead, BoxDetectionLoss
from bag_of_bricks.point_detection import PointDetectionHead, PointDetectionLoss
from bag_of_bricks.segmentation import SegmentationHead
from bag_of_bricks.visualizers import BoxesDrawer, ClassLabelDrawer, PointsDrawer, SegmentationOverlay
from torchbricks import BrickInterface, BrickLoss, BrickMetrics, BrickPerImageVisualization, BrickTrainable, task_kind
from torchbricks.groups import LOSS, METRIC

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


def _loss_and_metric_inputs(
    bricks: Bricks, labelled: str | None, predictions: Sequence[str], targets: str
) -> tuple[list[str], str]:
    """Add a selection brick when ``labelled`` is given; return the names losses and metrics should read."""
    if labelled is None:
        return list(predictions), targets
    selected = [f"./labelled/{name.removeprefix('./')}" for name in predictions]
    selected_target = "./labelled/target"
    bricks["select"] = BrickTrainable(
        SelectLabelled(), [labelled, *predictions, targets], [*selected, selected_target], groups={LOSS, METRIC}
    )
    return selected, selected_target


def _visualizer(drawer: Any, image: str, prediction: str) -> BrickPerImageVisualization:
    return BrickPerImageVisualization(drawer, input_names=[image, prediction], output_names=["./visualization"])


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

    bricks: Bricks = {
        "head": BrickTrainable(
            ImageClassifier(num_classes=num_classes, n_features=in_channels),
            [features],
            ["./logits", "./probabilities", "./class_prediction"],
        )
    }
    (logits, prediction), target = _loss_and_metric_inputs(
        bricks, labelled, ["./logits", "./class_prediction"], targets
    )
    bricks["loss"] = BrickLoss(ClassificationLoss(label_smoothing=label_smoothing), [logits, target], ["./loss"])
    bricks["metrics"] = BrickMetrics(
        {
            "accuracy": MulticlassAccuracy(num_classes=num_classes, ignore_index=-1, average="micro"),
            "f1": MulticlassF1Score(num_classes=num_classes, ignore_index=-1, average="macro"),
        },
        [prediction, target],
    )
    names = list(class_names) if class_names else [str(index) for index in range(num_classes)]
    bricks["visualizer"] = _visualizer(ClassLabelDrawer(names), image, "./class_prediction")
    return bricks


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

    bricks: Bricks = {
        "head": BrickTrainable(
            MultiLabelClassifier(num_classes=num_classes, n_features=in_channels, hidden=hidden, threshold=threshold),
            [features],
            ["./logits", "./probabilities", "./present"],
        )
    }
    (logits, present), target = _loss_and_metric_inputs(bricks, labelled, ["./logits", "./present"], targets)
    bricks["select_rows"] = BrickTrainable(
        SelectLabelledRows(),
        [logits, present, target],
        ["./rows/logits", "./rows/present", "./rows/target"],
        groups={LOSS, METRIC},
    )
    logits, present, target = "./rows/logits", "./rows/present", "./rows/target"
    bricks["loss"] = BrickLoss(MultiLabelLoss(gamma=focal_gamma), [logits, target], ["./loss"])
    bricks["metrics"] = BrickMetrics(
        {
            "exact_match": MultilabelExactMatch(num_labels=num_classes, ignore_index=-1),
            "f1": MultilabelF1Score(num_labels=num_classes, ignore_index=-1, average="macro"),
        },
        [present, target],
    )
    names = list(class_names) if class_names else [str(index) for index in range(num_classes)]
    bricks["visualizer"] = _visualizer(ClassLabelDrawer(names), image, "./present")
    return bricks


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
) -> Bricks:
    """Per-pixel classes at input resolution: cross-entropy + Dice, mean IoU over all classes (background included).

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
    bricks: Bricks = {
        "head": BrickTrainable(head, [features, detail] if detail else [features], ["./logits", "./class_map"])
    }
    (logits, class_map), target = _loss_and_metric_inputs(bricks, labelled, ["./logits", "./class_map"], targets)
    bricks["loss"] = BrickLoss(SegmentationLoss(dice_weight=dice_weight), [logits, target], ["./loss"])
    bricks["metrics"] = BrickMetrics(
        {"mean_iou": MulticlassJaccardIndex(num_classes=num_classes, ignore_index=255, average="macro")},
        [class_map, target],
    )
    bricks["visualizer"] = _visualizer(SegmentationOverlay(num_classes=num_classes), image, "./class_map")
    return bricks


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
    bricks: Bricks = {
        "head": BrickTrainable(
            PointDetectionHead(
                in_channels,
                num_classes,
                stride=stride,
                hidden=hidden,
                max_points=max_points,
                score_threshold=score_threshold,
            ),
            [features],
            ["./heatmap", "./offsets", "./points"],
        )
    }
    (heatmap, offsets, points), target = _loss_and_metric_inputs(
        bricks, labelled, ["./heatmap", "./offsets", "./points"], targets
    )
    bricks["loss"] = BrickLoss(
        PointDetectionLoss(num_classes, stride=stride, sigma=sigma), [heatmap, offsets, target], ["./loss"]
    )
    bricks["metrics"] = BrickMetrics({"detection": PointDetectionF1(max_distance=max_distance)}, [points, target])
    names = list(class_names) if class_names else [str(index) for index in range(num_classes)]
    bricks["visualizer"] = _visualizer(PointsDrawer(names), image, "./points")
    return bricks


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
) -> Bricks:
    """Anchor-free boxes (centre heatmaps + sizes), torchvision NMS; F1 at IoU ``>= 0.5`` with class match."""
    bricks: Bricks = {
        "head": BrickTrainable(
            BoxDetectionHead(
                in_channels,
                num_classes,
                stride=stride,
                hidden=hidden,
                max_boxes=max_boxes,
                score_threshold=score_threshold,
                iou_threshold=iou_threshold,
            ),
            [features],
            ["./heatmap", "./regression", "./boxes"],
        )
    }
    (heatmap, regression, boxes), target = _loss_and_metric_inputs(
        bricks, labelled, ["./heatmap", "./regression", "./boxes"], targets
    )
    bricks["loss"] = BrickLoss(BoxDetectionLoss(num_classes, stride=stride), [heatmap, regression, target], ["./loss"])
    bricks["metrics"] = BrickMetrics({"detection": BoxDetectionF1()}, [boxes, target])
    names = list(class_names) if class_names else [str(index) for index in range(num_classes)]
    bricks["visualizer"] = _visualizer(BoxesDrawer(names), image, "./boxes")
    return bricks
