"""Anchor-free box detection (CenterNet style): centre heatmaps, box sizes and offsets; NMS when decoding.

Targets are boxes ``[B, N, 5]`` as ``(x1, y1, x2, y2, class)`` in pixels, padded with rows of ``-1``.
Predictions are decoded to ``[B, max_boxes, 6]`` as ``(x1, y1, x2, y2, class, score)``, padded with ``-1``.

Example:
    >>> import torch
    >>> head = BoxDetectionHead(in_channels=8, num_classes=2, stride=4)
    >>> heatmap, regression, boxes = head(torch.rand(1, 8, 16, 16))
    >>> heatmap.shape, regression.shape, boxes.shape
    (torch.Size([1, 2, 16, 16]), torch.Size([1, 4, 16, 16]), torch.Size([1, 20, 6]))
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

from bag_of_bricks.point_detection import centre_focal_loss, render_heatmaps


class BoxDetectionHead(nn.Module):
    """Per-class centre heatmaps (logits) and ``(offset_x, offset_y, log_width, log_height)`` per cell."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        stride: int = 4,
        hidden: int = 64,
        max_boxes: int = 20,
        score_threshold: float = 0.3,
        iou_threshold: float = 0.5,
    ) -> None:
        super().__init__()
        self.stride = stride
        self.max_boxes = max_boxes
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
        )
        self.heatmap = nn.Conv2d(hidden, num_classes, kernel_size=1)
        self.regression = nn.Conv2d(hidden, 4, kernel_size=1)
        nn.init.constant_(self.heatmap.bias, -math.log((1 - 0.01) / 0.01))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden = self.body(features)
        heatmap = self.heatmap(hidden)
        regression = self.regression(hidden)
        boxes = decode_boxes(heatmap, regression, self.stride, self.max_boxes, self.score_threshold, self.iou_threshold)
        return heatmap, regression, boxes


def decode_boxes(
    heatmap_logits: torch.Tensor,
    regression: torch.Tensor,
    stride: int,
    max_boxes: int,
    score_threshold: float,
    iou_threshold: float,
) -> torch.Tensor:
    """Top-scoring centres → boxes, class-wise NMS (torchvision) → ``[B, max_boxes, 6]`` padded with ``-1``."""
    from torchvision.ops import batched_nms

    scores = heatmap_logits.sigmoid()
    scores = scores * (scores == functional.max_pool2d(scores, kernel_size=3, stride=1, padding=1))  # peaks only
    batch, classes, height, width = scores.shape
    count = min(max_boxes, classes * height * width)
    top_scores, top_indices = scores.flatten(1).topk(count, dim=1)
    kinds = torch.div(top_indices, height * width, rounding_mode="floor")
    cells = top_indices % (height * width)
    rows = torch.div(cells, width, rounding_mode="floor").to(regression.dtype)
    columns = (cells % width).to(regression.dtype)
    values = regression.flatten(2).gather(2, cells.unsqueeze(1).expand(-1, 4, -1))
    centre_x = (columns + 0.5 + values[:, 0]) * stride
    centre_y = (rows + 0.5 + values[:, 1]) * stride
    half_width = values[:, 2].exp() * stride / 2
    half_height = values[:, 3].exp() * stride / 2
    boxes = torch.stack(
        [centre_x - half_width, centre_y - half_height, centre_x + half_width, centre_y + half_height], 2
    )
    decoded = torch.full((batch, max_boxes, 6), -1.0, dtype=regression.dtype, device=regression.device)
    for sample in range(batch):
        keep = top_scores[sample] > score_threshold
        kept = batched_nms(boxes[sample][keep], top_scores[sample][keep], kinds[sample][keep], iou_threshold)
        chosen_boxes = boxes[sample][keep][kept]
        chosen = torch.cat(
            [chosen_boxes, kinds[sample][keep][kept, None].to(regression.dtype), top_scores[sample][keep][kept, None]],
            1,
        )
        decoded[sample, : len(chosen)] = chosen
    return decoded


class BoxDetectionLoss(nn.Module):
    """Focal loss on centre heatmaps plus L1 on offsets and log sizes at the centre cells."""

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
        size = (heatmap_logits.shape[-2], heatmap_logits.shape[-1])
        centres_xy = (target_boxes[..., :2] + target_boxes[..., 2:4]) / 2
        points = torch.cat([centres_xy, target_boxes[..., 4:5]], dim=-1)
        heatmaps, _, _ = render_heatmaps(points, self.num_classes, size, self.stride, self.sigma)
        loss = centre_focal_loss(heatmap_logits.float(), heatmaps)
        valid = target_boxes[..., 4] >= 0
        if bool(valid.any()):
            batch_index, box_index = valid.nonzero(as_tuple=True)
            selected = target_boxes[batch_index, box_index].float()
            centre = (selected[:, :2] + selected[:, 2:4]) / 2 / self.stride - 0.5
            column = centre[:, 0].round().long().clamp(0, size[1] - 1)
            row = centre[:, 1].round().long().clamp(0, size[0] - 1)
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
