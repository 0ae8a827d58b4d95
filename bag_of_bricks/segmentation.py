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
    """Conv layers on a stride-``stride`` feature map, then learned ×2 upsampling steps to full resolution.

    With ``detail_channels > 0`` the head also takes a full-resolution input (e.g. the normalised image)
    and refines the upsampled features with it, which sharpens object boundaries.
    Returns ``(logits [B, K, H, W], class map [B, H, W])``.
    """

    def __init__(
        self, in_channels: int, num_classes: int, stride: int = 4, hidden: int = 64, detail_channels: int = 0
    ) -> None:
        super().__init__()
        if stride < 1 or stride & (stride - 1):
            raise ValueError(f"SegmentationHead stride must be a power of two, got {stride}")
        self.stride = stride
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
        )
        steps = []
        channels = hidden
        for _ in range(stride.bit_length() - 1):
            steps += [
                nn.ConvTranspose2d(channels, channels // 2, kernel_size=2, stride=2, bias=False),
                nn.BatchNorm2d(channels // 2),
                nn.ReLU(inplace=True),
            ]
            channels //= 2
        self.upsample = nn.Sequential(*steps)
        self.detail_channels = detail_channels
        if detail_channels:
            self.refine = nn.Sequential(
                nn.Conv2d(channels + detail_channels, channels, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            )
        self.classify = nn.Conv2d(channels, num_classes, kernel_size=3, padding=1)

    def forward(self, features: torch.Tensor, detail: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        upsampled = self.upsample(self.body(features))
        if self.detail_channels:
            if detail is None:
                raise ValueError("SegmentationHead was built with detail_channels but got no detail input")
            if detail.shape[-2:] != upsampled.shape[-2:]:
                detail = functional.interpolate(detail, size=upsampled.shape[-2:], mode="bilinear", align_corners=False)
            upsampled = self.refine(torch.cat([upsampled, detail], dim=1))
        logits = self.classify(upsampled)
        return logits, logits.argmax(dim=1)
