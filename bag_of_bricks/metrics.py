"""torchmetrics metrics: F1 for point and box detection, box mean average precision, ``ConcatenatePredictionAndTarget``.

A prediction matches a target of the same class within ``max_distance`` pixels (points) or IoU
``>= iou_threshold`` (boxes); matching is greedy by score, one target per prediction. Padding rows
(class ``-1``) are ignored.

Example:
    >>> import torch
    >>> metric = PointDetectionF1(max_distance=4.0)
    >>> predictions = torch.tensor([[[10.0, 10.0, 0.0, 0.9], [30.0, 30.0, 1.0, 0.8]]])
    >>> targets = torch.tensor([[[11.0, 12.0, 0.0], [50.0, 50.0, 1.0]]])
    >>> metric.update(predictions, targets)
    >>> {name: round(float(value), 3) for name, value in metric.compute().items()}
    {'f1': 0.5, 'precision': 0.5, 'recall': 0.5}
"""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.detection import MeanAveragePrecision
from torchmetrics.utilities.data import dim_zero_cat

__all__ = ["BoxDetectionF1", "BoxMeanAveragePrecision", "ConcatenatePredictionAndTarget", "PointDetectionF1"]


class _MatchingF1(Metric):
    """Counts true positives, false positives and false negatives; computes F1, precision and recall."""

    full_state_update = False
    higher_is_better = True

    def __init__(self) -> None:
        super().__init__()
        self.add_state("true_positives", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("false_positives", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("false_negatives", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def _close(self, prediction: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def update(self, predictions: torch.Tensor, targets: torch.Tensor) -> None:
        """``predictions [B, P, D+2]`` (coordinates, class, score); ``targets [B, N, D+1]`` (coordinates, class)."""
        predictions = predictions.detach().float().cpu()
        targets = targets.detach().float().cpu()
        for sample_predictions, sample_targets in zip(predictions, targets, strict=True):
            sample_predictions = sample_predictions[sample_predictions[:, -2] >= 0]
            sample_targets = sample_targets[sample_targets[:, -1] >= 0]
            order = sample_predictions[:, -1].argsort(descending=True)
            matched = torch.zeros(len(sample_targets), dtype=torch.bool)
            hits = 0
            for prediction in sample_predictions[order]:
                candidates = (
                    (~matched) & (sample_targets[:, -1] == prediction[-2]) & self._close(prediction, sample_targets)
                )
                if bool(candidates.any()):
                    matched[candidates.nonzero()[0, 0]] = True
                    hits += 1
            self.true_positives += hits
            self.false_positives += len(sample_predictions) - hits
            self.false_negatives += len(sample_targets) - hits

    def compute(self) -> dict[str, torch.Tensor]:
        true_positives = self.true_positives
        precision = true_positives / (true_positives + self.false_positives).clamp(min=1)
        recall = true_positives / (true_positives + self.false_negatives).clamp(min=1)
        f1 = 2 * true_positives / (2 * true_positives + self.false_positives + self.false_negatives).clamp(min=1)
        return {"f1": f1, "precision": precision, "recall": recall}


class PointDetectionF1(_MatchingF1):
    """F1 of detected points: same class and within ``max_distance`` pixels of a target point."""

    def __init__(self, max_distance: float = 4.0) -> None:
        super().__init__()
        self.max_distance = max_distance

    def _close(self, prediction: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return (targets[:, :2] - prediction[:2]).norm(dim=1) <= self.max_distance


class BoxDetectionF1(_MatchingF1):
    """F1 of detected boxes ``(x1, y1, x2, y2)``: same class and IoU ``>= iou_threshold`` with a target box."""

    def __init__(self, iou_threshold: float = 0.5) -> None:
        super().__init__()
        self.iou_threshold = iou_threshold

    def _close(self, prediction: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        from torchvision.ops import box_iou

        if len(targets) == 0:
            return torch.zeros(0, dtype=torch.bool)
        return box_iou(prediction[None, :4], targets[:, :4])[0] >= self.iou_threshold


MAP_BACKENDS = ("pycocotools", "faster_coco_eval")
MAP_KEYS = ("map", "map_50", "map_75", "mar_100")


def map_backend() -> str | None:
    """The installed COCO evaluation package torchmetrics' ``MeanAveragePrecision`` can use (``None``: none)."""
    import importlib.util

    return next((name for name in MAP_BACKENDS if importlib.util.find_spec(name) is not None), None)


class BoxMeanAveragePrecision(MeanAveragePrecision):
    """COCO mean average precision of detected boxes (torchmetrics ``MeanAveragePrecision``).

    Reads what the other box metrics read: ``predictions [B, P, 6]`` (x1, y1, x2, y2, class, score)
    and ``targets [B, N, 5]`` (x1, y1, x2, y2, class), padding rows with class ``-1``. ``compute``
    gives ``map`` (IoU 0.50:0.95), ``map_50``, ``map_75`` and ``mar_100``. Needs ``pycocotools`` or
    ``faster-coco-eval`` (``pip install 'torchbricks[train]'``).

    Example:
        >>> metric = BoxMeanAveragePrecision()
        >>> boxes = torch.tensor([[[2.0, 2.0, 10.0, 10.0, 1.0, 0.9], [0, 0, 0, 0, -1, 0]]])
        >>> metric.update(boxes, torch.tensor([[[2.0, 2.0, 10.0, 10.0, 1.0]]]))
        >>> round(float(metric.compute()["map_50"]), 3)
        1.0
    """

    def __init__(self, backend: str | None = None, **kwargs: Any) -> None:
        from torchbricks.errors import MissingDependencyError

        backend = backend or map_backend()
        if backend is None:
            raise MissingDependencyError(
                "BoxMeanAveragePrecision needs pycocotools or faster-coco-eval: pip install 'torchbricks[train]'"
            )
        super().__init__(box_format="xyxy", iou_type="bbox", backend=backend, **kwargs)

    def update(self, predictions: torch.Tensor, targets: torch.Tensor) -> None:  # type: ignore[override]
        """One batch of padded box predictions and targets (rows of class ``-1`` are left out)."""
        detections, truths = [], []
        for sample_predictions, sample_targets in zip(
            predictions.detach().float().cpu(), targets.detach().float().cpu(), strict=True
        ):
            sample_predictions = sample_predictions[sample_predictions[:, 4] >= 0]
            sample_targets = sample_targets[sample_targets[:, 4] >= 0]
            labels = sample_predictions[:, 4].long()
            detections.append(
                {"boxes": sample_predictions[:, :4], "scores": sample_predictions[:, 5], "labels": labels}
            )
            truths.append({"boxes": sample_targets[:, :4], "labels": sample_targets[:, 4].long()})
        super().update(detections, truths)

    def compute(self) -> dict[str, torch.Tensor]:
        """``map``, ``map_50``, ``map_75`` and ``mar_100`` (scalars) of every box so far."""
        values = super().compute()
        return {name: values[name] for name in MAP_KEYS}


class ConcatenatePredictionAndTarget(Metric):
    """Collects every batch's predictions and targets; ``compute`` returns both concatenated along the batch.

    For metrics computed elsewhere from all predictions (curves, per-sample analysis). Keyword arguments
    go to ``torchmetrics.Metric`` (e.g. ``compute_on_cpu=True``).

    Example:
        >>> metric = ConcatenatePredictionAndTarget()
        >>> metric.update(torch.tensor([0, 1]), torch.tensor([0, 0]))
        >>> metric.update(torch.tensor([2]), torch.tensor([2]))
        >>> metric.compute()
        (tensor([0, 1, 2]), tensor([0, 0, 2]))
    """

    full_state_update = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("predictions", default=[], dist_reduce_fx="cat")
        self.add_state("targets", default=[], dist_reduce_fx="cat")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """Keep one batch; ``preds`` and ``target`` must have the same batch size."""
        if preds.shape[:1] != target.shape[:1]:
            raise ValueError(
                f"ConcatenatePredictionAndTarget got predictions of batch size {preds.shape[:1]} and targets of "
                f"batch size {target.shape[:1]}; they must match"
            )
        self.predictions.append(preds.detach())
        self.targets.append(target.detach())

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All predictions and all targets so far, each concatenated (empty tensors before any update)."""
        return _concatenated(self.predictions), _concatenated(self.targets)


def _concatenated(state: list[torch.Tensor] | torch.Tensor) -> torch.Tensor:
    if isinstance(state, torch.Tensor):  # already concatenated (after a distributed sync)
        return state
    return dim_zero_cat(state) if state else torch.empty(0)
