"""Point detection with heatmaps (CenterNet style): one heatmap per class plus sub-cell offsets.

Targets are points ``[B, N, 3]`` as ``(x, y, class)`` in pixels, padded with rows of ``-1``.
Predictions are decoded to ``[B, max_points, 4]`` as ``(x, y, class, score)``, padded with ``-1``
(a fixed shape, so the decoder exports to ONNX).

Example:
    >>> import torch
    >>> head = PointDetectionHead(in_channels=8, num_classes=3, stride=4)
    >>> heatmap, offsets, points = head(torch.rand(2, 8, 16, 16))
    >>> heatmap.shape, offsets.shape, points.shape
    (torch.Size([2, 3, 16, 16]), torch.Size([2, 2, 16, 16]), torch.Size([2, 20, 4]))
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional


class PointDetectionHead(nn.Module):
    """Predicts per-class centre heatmaps (logits) and x/y offsets at stride ``stride``, and decodes points."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        stride: int = 4,
        hidden: int = 64,
        max_points: int = 20,
        score_threshold: float = 0.3,
    ) -> None:
        super().__init__()
        self.stride = stride
        self.max_points = max_points
        self.score_threshold = score_threshold
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
        )
        self.heatmap = nn.Conv2d(hidden, num_classes, kernel_size=1)
        self.offsets = nn.Conv2d(hidden, 2, kernel_size=1)
        nn.init.constant_(self.heatmap.bias, -math.log((1 - 0.01) / 0.01))  # start with low scores

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden = self.body(features)
        heatmap = self.heatmap(hidden)
        offsets = self.offsets(hidden)
        points = decode_points(heatmap, offsets, self.stride, self.max_points, self.score_threshold)
        return heatmap, offsets, points


def decode_points(
    heatmap_logits: torch.Tensor, offsets: torch.Tensor, stride: int, max_points: int, score_threshold: float
) -> torch.Tensor:
    """Local maxima of the heatmaps → ``[B, max_points, 4]`` ``(x, y, class, score)``; padding rows are ``-1``."""
    scores = heatmap_logits.sigmoid()
    peaks = scores * (scores == functional.max_pool2d(scores, kernel_size=3, stride=1, padding=1))
    _, classes, height, width = peaks.shape
    count = min(max_points, classes * height * width)
    top_scores, top_indices = peaks.flatten(1).topk(count, dim=1)
    kinds = torch.div(top_indices, height * width, rounding_mode="floor")
    cells = top_indices % (height * width)
    rows = torch.div(cells, width, rounding_mode="floor")
    columns = cells % width
    flat_offsets = offsets.flatten(2)
    offset_x = flat_offsets[:, 0].gather(1, cells)
    offset_y = flat_offsets[:, 1].gather(1, cells)
    x = (columns.to(offsets.dtype) + 0.5 + offset_x) * stride
    y = (rows.to(offsets.dtype) + 0.5 + offset_y) * stride
    points = torch.stack([x, y, kinds.to(offsets.dtype), top_scores], dim=2)
    keep = (top_scores > score_threshold).unsqueeze(2)
    if count < max_points:
        points = functional.pad(points, (0, 0, 0, max_points - count), value=-1.0)
        keep = functional.pad(keep, (0, 0, 0, max_points - count), value=False)
    return torch.where(keep, points, torch.full_like(points, -1.0))


def render_heatmaps(
    points: torch.Tensor, num_classes: int, size: tuple[int, int], stride: int, sigma: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gaussian target heatmaps ``[B, K, h, w]``, offset targets ``[B, 2, h, w]`` and a centre mask ``[B, h, w]``.

    ``points`` are ``[B, N, 3]`` ``(x, y, class)`` in pixels; rows with class ``< 0`` are padding. ``sigma``
    is in cells.
    """
    batch = points.shape[0]
    height, width = size
    device, dtype = points.device, torch.float32
    heatmaps = torch.zeros(batch, num_classes, height, width, device=device, dtype=dtype)
    offsets = torch.zeros(batch, 2, height, width, device=device, dtype=dtype)
    centres = torch.zeros(batch, height, width, device=device, dtype=torch.bool)
    valid = points[..., 2] >= 0
    if not bool(valid.any()):
        return heatmaps, offsets, centres
    batch_index, point_index = valid.nonzero(as_tuple=True)
    selected = points[batch_index, point_index].to(dtype)
    cell_x = selected[:, 0] / stride - 0.5
    cell_y = selected[:, 1] / stride - 0.5
    kinds = selected[:, 2].long()
    columns = torch.arange(width, device=device, dtype=dtype)
    rows = torch.arange(height, device=device, dtype=dtype)
    gaussians = torch.exp(
        -((columns.view(1, 1, -1) - cell_x.view(-1, 1, 1)) ** 2 + (rows.view(1, -1, 1) - cell_y.view(-1, 1, 1)) ** 2)
        / (2 * sigma**2)
    )
    target_rows = (batch_index * num_classes + kinds).view(-1, 1).expand(-1, height * width)
    heatmaps.view(batch * num_classes, height * width).scatter_reduce_(
        0, target_rows, gaussians.view(len(kinds), height * width), reduce="amax"
    )
    column = cell_x.round().long().clamp(0, width - 1)
    row = cell_y.round().long().clamp(0, height - 1)
    heatmaps[batch_index, kinds, row, column] = 1.0
    offsets[batch_index, 0, row, column] = cell_x - column.to(dtype)
    offsets[batch_index, 1, row, column] = cell_y - row.to(dtype)
    centres[batch_index, row, column] = True
    return heatmaps, offsets, centres


def centre_focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float = 2.0, beta: float = 4.0
) -> torch.Tensor:
    """CenterNet's focal loss on heatmaps: positives where ``targets == 1``, penalty reduced near centres."""
    probabilities = logits.sigmoid().clamp(1e-4, 1 - 1e-4)
    positive = targets.eq(1).to(logits.dtype)
    log_probability = functional.logsigmoid(logits)
    log_complement = functional.logsigmoid(-logits)
    positive_loss = -((1 - probabilities) ** alpha) * log_probability * positive
    negative_loss = -((1 - targets) ** beta) * probabilities**alpha * log_complement * (1 - positive)
    count = positive.sum().clamp(min=1.0)
    return (positive_loss.sum() + negative_loss.sum()) / count


class PointDetectionLoss(nn.Module):
    """Focal loss on centre heatmaps plus L1 loss on offsets at the centre cells.

    ``forward(heatmap_logits, offsets, target_points)``; ``target_points`` ``[B, N, 3]`` padded with ``-1``.
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
        size = (heatmap_logits.shape[-2], heatmap_logits.shape[-1])
        heatmaps, target_offsets, centres = render_heatmaps(
            target_points, self.num_classes, size, self.stride, self.sigma
        )
        loss = centre_focal_loss(heatmap_logits.float(), heatmaps)
        if bool(centres.any()):
            mask = centres.unsqueeze(1).expand_as(offsets)
            loss = loss + self.offset_weight * functional.l1_loss(offsets.float()[mask], target_offsets[mask])
        return loss
