"""What people look at beyond the metrics: per-class tables, confusion matrices, precision-recall curves.

One accumulator per task, chosen by the task's factory (its kind), fed each batch with what the task's metric
brick reads (the prediction and the target, labelled samples only):

* ``image_classification`` and ``semantic_segmentation``: a confusion matrix (rows: true class, columns:
  predicted; ignored targets — ``-1`` labels, ``255`` pixels — left out) and per class precision, recall, IoU.
* ``multilabel_classification``: per label true/false positives/negatives (a 2 × 2 matrix each), precision,
  recall, IoU.
* ``point_detection`` and ``object_detection``: predictions matched to targets of their class greedily by
  score (within the task metric's ``max_distance`` pixels, or IoU ``>= iou_threshold``), as the task's F1
  metric matches them; per class precision, recall, F1, and the precision-recall curve over the scores with
  its average precision.

Example:
    >>> import torch
    >>> confusion = ConfusionAnalysis(["cat", "dog"])
    >>> confusion.update(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]))
    >>> confusion.matrix.tolist()
    [[1, 1], [0, 1]]
    >>> [(row["class"], row["recall"]) for row in confusion.per_class()]
    [('cat', 0.5), ('dog', 1.0)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

CONFUSION_TASKS = {"image_classification": -1, "semantic_segmentation": 255}
"""Tasks with a confusion matrix, and the target value they ignore."""
DETECTION_TASKS = ("point_detection", "object_detection")
MAX_CURVE_POINTS = 500


def _ratio(numerator: float, denominator: float) -> float:
    return round(float(numerator) / float(denominator), 4) if denominator else 0.0


class ConfusionAnalysis:
    """A confusion matrix of class indices (rows: true, columns: predicted) and its per-class table."""

    kind = "confusion"

    def __init__(self, class_names: Sequence[str], ignore_index: int = -1) -> None:
        self.class_names = list(class_names)
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(len(self.class_names), len(self.class_names), dtype=torch.long)

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        prediction, target = prediction.detach().reshape(-1).cpu().long(), target.detach().reshape(-1).cpu().long()
        count = len(self.class_names)
        keep = (target != self.ignore_index) & (target >= 0) & (target < count)
        pairs = target[keep] * count + prediction[keep].clamp(0, count - 1)
        self.matrix += torch.bincount(pairs, minlength=count * count).reshape(count, count)

    def per_class(self) -> list[dict[str, Any]]:
        rows = []
        for index, name in enumerate(self.class_names):
            hits = int(self.matrix[index, index])
            true, predicted = int(self.matrix[index].sum()), int(self.matrix[:, index].sum())
            rows.append(
                {
                    "class": name,
                    "precision": _ratio(hits, predicted),
                    "recall": _ratio(hits, true),
                    "iou": _ratio(hits, true + predicted - hits),
                    "support": true,
                }
            )
        return rows

    def document(self) -> dict[str, Any]:
        """The confusion matrix as ``confusion_matrix.json`` holds it."""
        return {
            "classes": self.class_names,
            "rows": "true class",
            "columns": "predicted class",
            "matrix": self.matrix.tolist(),
            "total": int(self.matrix.sum()),
        }


class MultilabelAnalysis:
    """Per label: true positives, false positives, false negatives, true negatives (each label a 2 × 2 matrix)."""

    kind = "multilabel"

    def __init__(self, class_names: Sequence[str]) -> None:
        self.class_names = list(class_names)
        self.counts = torch.zeros(len(self.class_names), 4, dtype=torch.long)  # tp, fp, fn, tn

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        prediction, target = prediction.detach().cpu().bool(), target.detach().cpu()
        keep = (target >= 0).all(dim=1)  # rows with an ignored label are left out, as the metrics leave them
        prediction, target = prediction[keep], target[keep].bool()
        self.counts[:, 0] += (prediction & target).sum(dim=0)
        self.counts[:, 1] += (prediction & ~target).sum(dim=0)
        self.counts[:, 2] += (~prediction & target).sum(dim=0)
        self.counts[:, 3] += (~prediction & ~target).sum(dim=0)

    def per_class(self) -> list[dict[str, Any]]:
        rows = []
        for name, (tp, fp, fn, _) in zip(self.class_names, self.counts.tolist(), strict=True):
            rows.append(
                {
                    "class": name,
                    "precision": _ratio(tp, tp + fp),
                    "recall": _ratio(tp, tp + fn),
                    "iou": _ratio(tp, tp + fp + fn),
                    "support": tp + fn,
                }
            )
        return rows

    def document(self) -> dict[str, Any]:
        """Per label ``[[tn, fp], [fn, tp]]`` (rows: true absent/present, columns: predicted absent/present)."""
        return {
            "classes": self.class_names,
            "rows": "true (absent, present)",
            "columns": "predicted (absent, present)",
            "matrices": {
                name: [[tn, fp], [fn, tp]]
                for name, (tp, fp, fn, tn) in zip(self.class_names, self.counts.tolist(), strict=True)
            },
            "total": int(self.counts[0].sum()) if len(self.class_names) else 0,
        }


class DetectionAnalysis:
    """Greedy score-ordered matching of predicted points or boxes to targets; per-class table and PR curves.

    ``close(prediction_row, target_rows) -> bool mask`` says which targets a prediction may match.
    """

    kind = "detection"

    def __init__(self, class_names: Sequence[str], close: Any) -> None:
        self.class_names = list(class_names)
        self.close = close
        self.scored: list[tuple[float, int, bool]] = []  # (score, class, true positive) per prediction
        self.targets = torch.zeros(len(self.class_names), dtype=torch.long)

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        for sample_predictions, sample_targets in zip(
            prediction.detach().float().cpu(), target.detach().float().cpu(), strict=True
        ):
            sample_predictions = sample_predictions[sample_predictions[:, -2] >= 0]
            sample_targets = sample_targets[sample_targets[:, -1] >= 0]
            for label in sample_targets[:, -1].long().tolist():
                if 0 <= label < len(self.class_names):
                    self.targets[label] += 1
            matched = torch.zeros(len(sample_targets), dtype=torch.bool)
            for row in sample_predictions[sample_predictions[:, -1].argsort(descending=True)]:
                candidates = (~matched) & (sample_targets[:, -1] == row[-2])
                if bool(candidates.any()):
                    candidates &= self.close(row, sample_targets)
                hit = bool(candidates.any())
                if hit:
                    matched[candidates.nonzero()[0, 0]] = True
                self.scored.append((float(row[-1]), int(row[-2]), hit))

    def per_class(self) -> list[dict[str, Any]]:
        rows = []
        for index, name in enumerate(self.class_names):
            hits = [hit for _, label, hit in self.scored if label == index]
            tp, fp, fn = sum(hits), len(hits) - sum(hits), int(self.targets[index]) - sum(hits)
            rows.append(
                {
                    "class": name,
                    "precision": _ratio(tp, tp + fp),
                    "recall": _ratio(tp, tp + fn),
                    "f1": _ratio(2 * tp, 2 * tp + fp + fn),
                    "average_precision": self.curve(index)["average_precision"],
                    "support": int(self.targets[index]),
                    "detections": len(hits),
                }
            )
        return rows

    def curve(self, label: int | None = None) -> dict[str, Any]:
        """Precision and recall at each score threshold (of one class, or all), and the average precision."""
        scored = sorted((item for item in self.scored if label is None or item[1] == label), key=lambda item: -item[0])
        total = int(self.targets.sum()) if label is None else int(self.targets[label])
        precision, recall, scores = [], [], []
        hits = 0
        for rank, (score, _, hit) in enumerate(scored, start=1):
            hits += hit
            precision.append(hits / rank)
            recall.append(hits / total if total else 0.0)
            scores.append(score)
        return {
            "precision": _thinned(precision),
            "recall": _thinned(recall),
            "scores": _thinned(scores),
            "average_precision": round(_average_precision(precision, recall), 4),
            "targets": total,
        }

    def document(self) -> dict[str, Any]:
        """The PR curves as ``pr_curve.json`` holds them: every class, and all classes together."""
        return {
            "matching": "greedy by score, one target per prediction, same class (as the task's F1 metric)",
            "classes": {name: self.curve(index) for index, name in enumerate(self.class_names)},
            "all": self.curve(None),
        }


def _average_precision(precision: list[float], recall: list[float]) -> float:
    """The area under the interpolated precision-recall curve (precision made monotone from the right)."""
    if not precision:
        return 0.0
    envelope = list(precision)
    for index in range(len(envelope) - 2, -1, -1):
        envelope[index] = max(envelope[index], envelope[index + 1])
    area, previous = 0.0, 0.0
    for value, reached in zip(envelope, recall, strict=True):
        area += (reached - previous) * value
        previous = reached
    return area


def _thinned(values: list[float]) -> list[float]:
    """At most :data:`MAX_CURVE_POINTS` evenly spaced values (the last one kept), rounded."""
    if len(values) > MAX_CURVE_POINTS:
        step = len(values) / MAX_CURVE_POINTS
        values = [values[int(index * step)] for index in range(MAX_CURVE_POINTS - 1)] + [values[-1]]
    return [round(value, 4) for value in values]


def point_closeness(max_distance: float) -> Any:
    """Targets within ``max_distance`` pixels of a predicted point ``(x, y, class, score)``."""

    def close(prediction: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return (targets[:, :2] - prediction[:2]).norm(dim=1) <= max_distance

    return close


def box_closeness(iou_threshold: float) -> Any:
    """Targets whose box overlaps a predicted box ``(x1, y1, x2, y2, class, score)`` with IoU ``>= iou_threshold``."""

    def close(prediction: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        box, others = prediction[:4], targets[:, :4]
        width = (torch.minimum(box[2], others[:, 2]) - torch.maximum(box[0], others[:, 0])).clamp(min=0)
        height = (torch.minimum(box[3], others[:, 3]) - torch.maximum(box[1], others[:, 1])).clamp(min=0)
        overlap = width * height
        area = (box[2] - box[0]) * (box[3] - box[1])
        areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
        return overlap / (area + areas - overlap).clamp(min=1e-9) >= iou_threshold

    return close


def task_analysis(kind: str, class_names: Sequence[str], metric: Any = None) -> Any:
    """The accumulator of a task kind (``None`` for a kind without one); ``metric`` gives detection thresholds."""
    if kind in CONFUSION_TASKS:
        return ConfusionAnalysis(class_names, CONFUSION_TASKS[kind])
    if kind == "multilabel_classification":
        return MultilabelAnalysis(class_names)
    if kind == "point_detection":
        return DetectionAnalysis(class_names, point_closeness(float(getattr(metric, "max_distance", 4.0))))
    if kind == "object_detection":
        return DetectionAnalysis(class_names, box_closeness(float(getattr(metric, "iou_threshold", 0.5))))
    return None
