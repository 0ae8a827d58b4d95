"""Losses that skip unlabelled samples, and multi-task weighting.

Unlabelled samples are marked by an ignore value: class ``-1`` for classification, a row containing
``-1`` for multi-label targets, pixel value ``255`` (:data:`IGNORE_PIXEL`) for segmentation masks. A
batch with no labelled sample gives a zero loss that still backpropagates (no NaN).

Example:
    >>> import torch
    >>> loss = ClassificationLoss()
    >>> float(loss(torch.zeros(2, 3), torch.tensor([-1, -1])))
    0.0
    >>> weighting = FixedWeighting({"a": 1.0, "b": 0.5})
    >>> float(weighting(torch.tensor(2.0), torch.tensor(4.0)))
    4.0
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional

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
