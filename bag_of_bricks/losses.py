"""Losses that skip unlabelled samples, detection losses, and multi-task weighting.

Unlabelled samples are marked by an ignore value: class ``-1`` for classification, a row containing
``-1`` for multi-label targets, pixel value ``255`` (:data:`IGNORE_PIXEL`) for segmentation masks,
padding rows of ``-1`` for detection targets. A batch with no labelled sample gives a zero loss that
still backpropagates (no NaN).

Example:
    >>> import torch
    >>> loss = ClassificationLoss()
    >>> float(loss(torch.zeros(2, 3), torch.tensor([-1, -1])))
    0.0
    >>> weighting = FixedWeighting({"a": 1.0, "b": 0.5})
    >>> float(weighting(torch.tensor(2.0), torch.tensor(4.0)))
    4.0
    >>> points = torch.tensor([[[10.0, 6.0, 1.0], [-1.0, -1.0, -1.0]]])
    >>> PointDetectionLoss(num_classes=2)(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4), points).ndim
    0
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional

from bag_of_bricks._detection import heatmap_loss

__all__ = [
    "IGNORE_CLASS",
    "IGNORE_PIXEL",
    "BoxDetectionLoss",
    "ClassificationLoss",
    "DiceLoss",
    "FixedWeighting",
    "FocalLoss",
    "MultiLabelLoss",
    "PointDetectionLoss",
    "SegmentationLoss",
    "UncertaintyWeighting",
    "binary_focal_loss",
]

IGNORE_CLASS = -1
IGNORE_PIXEL = 255


def _zero_like_loss(logits: torch.Tensor) -> torch.Tensor:
    return logits.sum() * 0.0


class ClassificationLoss(nn.Module):
    """Cross-entropy over classes; targets ``-1`` are skipped. ``label_smoothing`` as in PyTorch."""

    def __init__(self, label_smoothing: float = 0.0, weight: list[float] | None = None) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing
        self.register_buffer("weight", torch.tensor(weight) if weight is not None else None, persistent=False)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        labelled = targets != IGNORE_CLASS
        if not bool(labelled.any()):
            return _zero_like_loss(logits)
        return functional.cross_entropy(
            logits[labelled], targets[labelled], weight=self.weight, label_smoothing=self.label_smoothing
        )


class MultiLabelLoss(nn.Module):
    """Binary cross-entropy (or sigmoid focal loss with ``gamma > 0``) per label; rows with ``-1`` are skipped."""

    def __init__(self, gamma: float = 0.0, pos_weight: float | None = None) -> None:
        super().__init__()
        self.gamma = gamma
        self.pos_weight = pos_weight

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        labelled = (targets >= 0).all(dim=1)
        if not bool(labelled.any()):
            return _zero_like_loss(logits)
        return binary_focal_loss(logits[labelled], targets[labelled].to(logits.dtype), self.gamma, self.pos_weight)


def binary_focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, gamma: float = 2.0, pos_weight: float | None = None
) -> torch.Tensor:
    """Mean sigmoid focal loss (``gamma=0`` is binary cross-entropy)."""
    weight = None if pos_weight is None else torch.tensor(pos_weight, device=logits.device, dtype=logits.dtype)
    cross_entropy = functional.binary_cross_entropy_with_logits(logits, targets, pos_weight=weight, reduction="none")
    if gamma == 0:
        return cross_entropy.mean()
    probabilities = logits.sigmoid()
    true_probability = probabilities * targets + (1 - probabilities) * (1 - targets)
    return ((1 - true_probability) ** gamma * cross_entropy).mean()


class FocalLoss(nn.Module):
    """Multi-class focal loss (Lin et al.) on logits ``[B, K, ...]``; targets equal to ``ignore_index`` are skipped."""

    def __init__(self, gamma: float = 2.0, ignore_index: int = IGNORE_CLASS) -> None:
        super().__init__()
        self.gamma = gamma
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        labelled = targets != self.ignore_index
        if not bool(labelled.any()):
            return _zero_like_loss(logits)
        log_probabilities = functional.log_softmax(logits, dim=1)
        safe_targets = torch.where(labelled, targets, torch.zeros_like(targets)).unsqueeze(1)
        true_log_probability = log_probabilities.gather(1, safe_targets).squeeze(1)
        loss = -((1 - true_log_probability.exp()) ** self.gamma) * true_log_probability
        return loss[labelled].mean()


class DiceLoss(nn.Module):
    """Soft Dice loss averaged over classes, on logits ``[B, K, H, W]`` and class masks ``[B, H, W]``."""

    def __init__(self, ignore_index: int = IGNORE_PIXEL, smooth: float = 1.0) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.smooth = smooth

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        labelled = (targets != self.ignore_index).unsqueeze(1).to(logits.dtype)
        if not bool(labelled.any()):
            return _zero_like_loss(logits)
        probabilities = logits.softmax(dim=1) * labelled
        safe_targets = torch.where(targets == self.ignore_index, torch.zeros_like(targets), targets)
        one_hot = functional.one_hot(safe_targets, logits.shape[1]).permute(0, 3, 1, 2).to(logits.dtype) * labelled
        dimensions = (0, 2, 3)
        intersection = (probabilities * one_hot).sum(dimensions)
        total = probabilities.sum(dimensions) + one_hot.sum(dimensions)
        return 1 - ((2 * intersection + self.smooth) / (total + self.smooth)).mean()


class SegmentationLoss(nn.Module):
    """Cross-entropy plus ``dice_weight`` × Dice; pixels equal to ``255`` are skipped."""

    def __init__(self, dice_weight: float = 1.0, ignore_index: int = IGNORE_PIXEL) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.dice_weight = dice_weight
        self.dice = DiceLoss(ignore_index=ignore_index)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if not bool((targets != self.ignore_index).any()):
            return _zero_like_loss(logits)
        loss = functional.cross_entropy(logits, targets, ignore_index=self.ignore_index)
        if self.dice_weight:
            loss = loss + self.dice_weight * self.dice(logits, targets)
        return loss


class PointDetectionLoss(nn.Module):
    """Focal loss on centre heatmaps plus L1 loss on offsets at the centre cells.

    ``forward(heatmap_logits, offsets, target_points)``; ``target_points`` ``[B, N, 3]`` ``(x, y, class)``
    in pixels, padded with ``-1``.
    """

    def __init__(self, num_classes: int, stride: int = 4, sigma: float = 1.0, offset_weight: float = 1.0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.stride = stride
        self.sigma = sigma
        self.offset_weight = offset_weight

    def forward(self, heatmap_logits: torch.Tensor, offsets: torch.Tensor, target_points: torch.Tensor) -> torch.Tensor:
        if heatmap_logits.shape[0] == 0:
            return heatmap_logits.sum() * 0.0 + offsets.sum() * 0.0
        loss, target_offsets, centres = heatmap_loss(
            heatmap_logits, target_points, self.num_classes, self.stride, self.sigma
        )
        if bool(centres.any()):
            mask = centres.unsqueeze(1).expand_as(offsets)
            loss = loss + self.offset_weight * functional.l1_loss(offsets.float()[mask], target_offsets[mask])
        return loss


class BoxDetectionLoss(nn.Module):
    """Focal loss on centre heatmaps plus L1 on offsets and log sizes at the centre cells.

    ``forward(heatmap_logits, regression, target_boxes)``; ``target_boxes`` ``[B, N, 5]``
    ``(x1, y1, x2, y2, class)`` in pixels, padded with ``-1``.
    """

    def __init__(self, num_classes: int, stride: int = 4, sigma: float = 1.0, regression_weight: float = 1.0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.stride = stride
        self.sigma = sigma
        self.regression_weight = regression_weight

    def forward(
        self, heatmap_logits: torch.Tensor, regression: torch.Tensor, target_boxes: torch.Tensor
    ) -> torch.Tensor:
        if heatmap_logits.shape[0] == 0:
            return heatmap_logits.sum() * 0.0 + regression.sum() * 0.0
        centres_xy = (target_boxes[..., :2] + target_boxes[..., 2:4]) / 2
        points = torch.cat([centres_xy, target_boxes[..., 4:5]], dim=-1)
        loss, _, _ = heatmap_loss(heatmap_logits, points, self.num_classes, self.stride, self.sigma)
        valid = target_boxes[..., 4] >= 0
        if bool(valid.any()):
            height, width = heatmap_logits.shape[-2:]
            batch_index, box_index = valid.nonzero(as_tuple=True)
            selected = target_boxes[batch_index, box_index].float()
            centre = (selected[:, :2] + selected[:, 2:4]) / 2 / self.stride - 0.5
            column = centre[:, 0].round().long().clamp(0, width - 1)
            row = centre[:, 1].round().long().clamp(0, height - 1)
            predicted = regression[batch_index, :, row, column].float()
            target = torch.stack(
                [
                    centre[:, 0] - column,
                    centre[:, 1] - row,
                    ((selected[:, 2] - selected[:, 0]).clamp(min=1) / self.stride).log(),
                    ((selected[:, 3] - selected[:, 1]).clamp(min=1) / self.stride).log(),
                ],
                dim=1,
            )
            loss = loss + self.regression_weight * functional.l1_loss(predicted, target)
        return loss


class FixedWeighting(nn.Module):
    """Total loss ``Σ w_task · L_task`` with fixed weights, one positional input per task (in ``weights`` order)."""

    def __init__(self, weights: Mapping[str, float]) -> None:
        super().__init__()
        self.task_names = tuple(weights)
        self.weights = tuple(float(weight) for weight in weights.values())

    def forward(self, *task_losses: torch.Tensor) -> torch.Tensor:
        return sum(weight * loss for weight, loss in zip(self.weights, task_losses, strict=True))


class UncertaintyWeighting(nn.Module):
    """Learned homoscedastic-uncertainty weighting (Kendall et al., 2018): ``Σ exp(-s_t) · L_t + s_t``.

    One learnable log-variance ``s_t`` per task, trained with the model.
    """

    def __init__(self, task_names: list[str] | tuple[str, ...]) -> None:
        super().__init__()
        self.task_names = tuple(task_names)
        self.log_variances = nn.Parameter(torch.zeros(len(self.task_names)))

    def forward(self, *task_losses: torch.Tensor) -> torch.Tensor:
        losses = torch.stack([loss.float() for loss in task_losses])
        return (torch.exp(-self.log_variances) * losses + self.log_variances).sum()
