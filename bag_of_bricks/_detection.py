"""Centre-heatmap detection (CenterNet style), shared by the point and box heads and losses.

A detection head predicts one heatmap per class (logits) at stride ``stride`` plus a regression map
whose channels 0 and 1 are the sub-cell x/y offsets of a centre. Decoding keeps the local maxima
(:func:`heatmap_peaks`); training renders Gaussian target heatmaps from labelled centres
(:func:`render_heatmaps`) and scores the predictions with :func:`centre_focal_loss`.

Targets are points ``[B, N, 3]`` as ``(x, y, class)`` in pixels, padded with rows of ``-1``; boxes
``[B, N, 5]`` as ``(x1, y1, x2, y2, class)``. Decoded points are ``[B, max_points, 4]`` as
``(x, y, class, score)``; decoded boxes ``[B, max_boxes, 6]`` as ``(x1, y1, x2, y2, class, score)``;
both padded with ``-1`` (a fixed shape, so the decoders export to ONNX).

Example:
    >>> import torch
    >>> heatmap = torch.full((1, 2, 4, 4), -9.0)
    >>> heatmap[0, 1, 2, 3] = 9.0
    >>> decode_points(heatmap, torch.zeros(1, 2, 4, 4), stride=4, max_points=2, score_threshold=0.5)
    tensor([[[14.0000, 10.0000,  1.0000,  0.9999],
             [-1.0000, -1.0000, -1.0000, -1.0000]]])
    >>> heatmaps, offsets, centres = render_heatmaps(torch.tensor([[[14.0, 10.0, 1.0]]]), 2, (4, 4), stride=4)
    >>> float(heatmaps[0, 1, 2, 3]), int(centres.sum())
    (1.0, 1)
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

__all__ = [
    "centre_focal_loss",
    "centre_heatmap_layers",
    "decode_boxes",
    "decode_points",
    "heatmap_loss",
    "heatmap_peaks",
    "render_heatmaps",
]

INITIAL_SCORE = 0.01


def centre_heatmap_layers(in_channels: int, num_classes: int, hidden: int) -> tuple[nn.Sequential, nn.Conv2d]:
    """The layers every centre-heatmap head starts with: a 3×3 conv block (``body``) and a per-class ``heatmap`` conv.

    The heatmap bias starts at ``logit(INITIAL_SCORE)``, so training starts with low scores everywhere.
    """
    body = nn.Sequential(
        nn.Conv2d(in_channels, hidden, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(hidden),
        nn.ReLU(inplace=True),
    )
    heatmap = nn.Conv2d(hidden, num_classes, kernel_size=1)
    nn.init.constant_(heatmap.bias, -math.log((1 - INITIAL_SCORE) / INITIAL_SCORE))
    return body, heatmap


def heatmap_peaks(
    heatmap_logits: torch.Tensor, regression: torch.Tensor, stride: int, max_count: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``max_count`` highest local maxima of the heatmaps, and where they point in pixels.

    ``regression [B, R, h, w]`` holds the x/y offsets within a cell in channels 0 and 1. Returns
    ``(scores, classes, centre_x, centre_y, values)``: ``[B, n]`` each, with ``values [B, R, n]`` the
    regression at the peaks; ``n = min(max_count, K·h·w)``, best first.
    """
    scores = heatmap_logits.sigmoid()
    peaks = scores * (scores == functional.max_pool2d(scores, kernel_size=3, stride=1, padding=1))
    _, classes, height, width = peaks.shape
    count = min(max_count, classes * height * width)
    top_scores, top_indices = peaks.flatten(1).topk(count, dim=1)
    kinds = torch.div(top_indices, height * width, rounding_mode="floor")
    cells = top_indices % (height * width)
    rows = torch.div(cells, width, rounding_mode="floor").to(regression.dtype)
    columns = (cells % width).to(regression.dtype)
    values = regression.flatten(2).gather(2, cells.unsqueeze(1).expand(-1, regression.shape[1], -1))
    centre_x = (columns + 0.5 + values[:, 0]) * stride
    centre_y = (rows + 0.5 + values[:, 1]) * stride
    return top_scores, kinds, centre_x, centre_y, values


def decode_points(
    heatmap_logits: torch.Tensor, offsets: torch.Tensor, stride: int, max_points: int, score_threshold: float
) -> torch.Tensor:
    """Local maxima of the heatmaps → ``[B, max_points, 4]`` ``(x, y, class, score)``; padding rows are ``-1``."""
    top_scores, kinds, x, y, _ = heatmap_peaks(heatmap_logits, offsets, stride, max_points)
    count = top_scores.shape[1]
    points = torch.stack([x, y, kinds.to(offsets.dtype), top_scores], dim=2)
    keep = (top_scores > score_threshold).unsqueeze(2)
    if count < max_points:
        points = functional.pad(points, (0, 0, 0, max_points - count), value=-1.0)
        keep = functional.pad(keep, (0, 0, 0, max_points - count), value=False)
    return torch.where(keep, points, torch.full_like(points, -1.0))


def decode_boxes(
    heatmap_logits: torch.Tensor,
    regression: torch.Tensor,
    stride: int,
    max_boxes: int,
    score_threshold: float,
    iou_threshold: float,
) -> torch.Tensor:
    """Top-scoring centres → boxes, class-wise NMS (torchvision) → ``[B, max_boxes, 6]`` padded with ``-1``.

    ``regression [B, 4, h, w]`` is ``(offset_x, offset_y, log_width, log_height)`` per cell, sizes in cells.
    """
    from torchvision.ops import batched_nms

    top_scores, kinds, centre_x, centre_y, values = heatmap_peaks(heatmap_logits, regression, stride, max_boxes)
    half_width = values[:, 2].exp() * stride / 2
    half_height = values[:, 3].exp() * stride / 2
    boxes = torch.stack(
        [centre_x - half_width, centre_y - half_height, centre_x + half_width, centre_y + half_height], 2
    )
    batch = heatmap_logits.shape[0]
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


def heatmap_loss(
    heatmap_logits: torch.Tensor, points: torch.Tensor, num_classes: int, stride: int, sigma: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`centre_focal_loss` against the heatmaps rendered from ``points``; also the offset targets and centres."""
    size = (heatmap_logits.shape[-2], heatmap_logits.shape[-1])
    heatmaps, offsets, centres = render_heatmaps(points, num_classes, size, stride, sigma)
    return centre_focal_loss(heatmap_logits.float(), heatmaps), offsets, centres
