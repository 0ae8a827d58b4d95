"""Heads: turn features into task predictions.

- :class:`ImageClassifier` (single label, softmax) and :class:`MultiLabelClassifier` (sigmoid per label);
- :class:`SegmentationHead`: per-pixel class logits at the input resolution;
- :class:`PointDetectionHead` and :class:`BoxDetectionHead`: anchor-free detection with per-class centre
  heatmaps (CenterNet style), decoded to fixed-size, ``-1``-padded tensors (so they export to ONNX):
  points ``[B, max_points, 4]`` as ``(x, y, class, score)``, boxes ``[B, max_boxes, 6]`` as
  ``(x1, y1, x2, y2, class, score)``, in pixels.

Example:
    >>> import torch
    >>> logits, probabilities, class_prediction = ImageClassifier(num_classes=3, n_features=8)(torch.rand(2, 8, 4, 4))
    >>> logits.shape, class_prediction.shape
    (torch.Size([2, 3]), torch.Size([2]))
    >>> _, _, present = MultiLabelClassifier(num_classes=3, n_features=8)(torch.rand(2, 8, 4, 4))
    >>> present.shape, present.dtype
    (torch.Size([2, 3]), torch.int64)
    >>> logits, classes = SegmentationHead(in_channels=8, num_classes=4, stride=4)(torch.rand(2, 8, 16, 16))
    >>> logits.shape, classes.shape
    (torch.Size([2, 4, 64, 64]), torch.Size([2, 64, 64]))
    >>> heatmap, offsets, points = PointDetectionHead(in_channels=8, num_classes=3, stride=4)(torch.rand(2, 8, 16, 16))
    >>> heatmap.shape, offsets.shape, points.shape
    (torch.Size([2, 3, 16, 16]), torch.Size([2, 2, 16, 16]), torch.Size([2, 20, 4]))
    >>> heatmap, regression, boxes = BoxDetectionHead(in_channels=8, num_classes=2, stride=4)(torch.rand(1, 8, 16, 16))
    >>> heatmap.shape, regression.shape, boxes.shape
    (torch.Size([1, 2, 16, 16]), torch.Size([1, 4, 16, 16]), torch.Size([1, 20, 6]))
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

from bag_of_bricks._detection import centre_heatmap_layers, decode_boxes, decode_points

__all__ = ["BoxDetectionHead", "ImageClassifier", "MultiLabelClassifier", "PointDetectionHead", "SegmentationHead"]


class ImageClassifier(nn.Module):
    """Global average pooling and a linear layer; returns ``(logits, probabilities, class_prediction)``.

    Accepts feature maps ``[B, C, H, W]`` or pooled features ``[B, C]``.
    """

    def __init__(self, num_classes: int, n_features: int, use_average_pooling: bool = True) -> None:
        super().__init__()
        self.use_average_pooling = use_average_pooling
        self.fc = nn.Linear(n_features, num_classes)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.use_average_pooling and features.dim() == 4:
            features = features.mean(dim=(2, 3))
        logits = self.fc(torch.flatten(features, start_dim=1))
        probabilities = logits.softmax(dim=1)
        return logits, probabilities, probabilities.argmax(dim=1)


class MultiLabelClassifier(nn.Module):
    """Which of ``num_classes`` labels are present: ``(logits, probabilities, present)``.

    Scores every location of the feature map per class, then pools the scores with a smooth maximum
    (log-sum-exp with ``sharpness``): a label is present when it is present somewhere, so small objects
    are not averaged away. Pooled ``[B, C]`` features are treated as a 1×1 map. ``present`` is
    ``probabilities > threshold`` as integers.
    """

    def __init__(
        self, num_classes: int, n_features: int, hidden: int = 128, threshold: float = 0.5, sharpness: float = 4.0
    ) -> None:
        super().__init__()
        self.threshold = threshold
        self.sharpness = sharpness
        self.score = nn.Sequential(
            nn.Conv2d(n_features, hidden, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, num_classes, kernel_size=1),
        )

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if features.dim() == 2:
            features = features[:, :, None, None]
        scores = self.score(features).flatten(2)
        locations = scores.shape[-1]
        logits = (torch.logsumexp(self.sharpness * scores, dim=2) - math.log(locations)) / self.sharpness
        probabilities = logits.sigmoid()
        return logits, probabilities, (probabilities > self.threshold).long()


class SegmentationHead(nn.Module):
    """Class logits at the input resolution from a stride-``stride`` feature map.

    A coarse path predicts logits on the feature map and upsamples them bilinearly (the class
    semantics); a fine path upsamples a thin projection of the features, refines it together with an
    optional full-resolution ``detail`` input (e.g. the normalised image, ``detail_channels``
    channels) and adds a correction (sharp boundaries). Returns ``(logits [B, K, H, W], class map [B, H, W])``.
    """

    def __init__(
        self, in_channels: int, num_classes: int, stride: int = 4, hidden: int = 64, detail_channels: int = 0
    ) -> None:
        super().__init__()
        if stride < 1 or stride & (stride - 1):
            raise ValueError(f"SegmentationHead stride must be a power of two, got {stride}")
        self.stride = stride
        self.detail_channels = detail_channels
        fine = max(hidden // 4, 8)
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
        )
        self.coarse = nn.Conv2d(hidden, num_classes, kernel_size=1)
        self.project = nn.Conv2d(hidden, fine, kernel_size=1)
        self.refine = nn.Sequential(
            nn.Conv2d(fine + detail_channels, fine, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(fine),
            nn.ReLU(inplace=True),
            nn.Conv2d(fine, num_classes, kernel_size=1),
        )

    def forward(self, features: torch.Tensor, detail: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.body(features)
        size = (features.shape[-2] * self.stride, features.shape[-1] * self.stride)
        coarse = functional.interpolate(self.coarse(hidden), size=size, mode="bilinear", align_corners=False)
        fine = functional.interpolate(self.project(hidden), size=size, mode="bilinear", align_corners=False)
        if self.detail_channels:
            if detail is None:
                raise ValueError("SegmentationHead was built with detail_channels but got no detail input")
            if detail.shape[-2:] != fine.shape[-2:]:
                detail = functional.interpolate(detail, size=size, mode="bilinear", align_corners=False)
            fine = torch.cat([fine, detail], dim=1)
        logits = coarse + self.refine(fine)
        return logits, logits.argmax(dim=1)


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
        self.body, self.heatmap = centre_heatmap_layers(in_channels, num_classes, hidden)
        self.offsets = nn.Conv2d(hidden, 2, kernel_size=1)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden = self.body(features)
        heatmap = self.heatmap(hidden)
        offsets = self.offsets(hidden)
        points = decode_points(heatmap, offsets, self.stride, self.max_points, self.score_threshold)
        return heatmap, offsets, points


class BoxDetectionHead(nn.Module):
    """Per-class centre heatmaps (logits) and ``(offset_x, offset_y, log_width, log_height)`` per cell.

    Decodes the top-scoring centres to boxes with class-wise NMS (torchvision) at ``iou_threshold``.
    """

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
        self.body, self.heatmap = centre_heatmap_layers(in_channels, num_classes, hidden)
        self.regression = nn.Conv2d(hidden, 4, kernel_size=1)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden = self.body(features)
        heatmap = self.heatmap(hidden)
        regression = self.regression(hidden)
        boxes = decode_boxes(heatmap, regression, self.stride, self.max_boxes, self.score_threshold, self.iou_threshold)
        return heatmap, regression, boxes
