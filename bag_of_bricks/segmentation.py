"""Semantic segmentation head: per-pixel class logits at the input resolution.

Example:
    >>> import torch
    >>> head = SegmentationHead(in_channels=8, num_classes=4, stride=4)
    >>> logits, classes = head(torch.rand(2, 8, 16, 16))
    >>> logits.shape, classes.shape
    (torch.Size([2, 4, 64, 64]), torch.Size([2, 64, 64]))
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional


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
