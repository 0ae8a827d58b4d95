"""Necks: combine a backbone's multi-scale features.

Each neck takes the backbone's feature maps as separate positional inputs (finest first) and is built
from the backbone's :class:`~torchbricks.registry.FeatureSpec` (``in_channels``, ``in_strides``); its
own ``feature_spec`` declares what it returns.

Example:
    >>> import torch
    >>> neck = upsampling(in_channels=(8, 16), in_strides=(4, 8), out_channels=4)
    >>> neck(torch.rand(1, 8, 16, 16), torch.rand(1, 16, 8, 8)).shape
    torch.Size([1, 4, 16, 16])
    >>> neck.feature_spec
    FeatureSpec(names=('features',), channels=(4,), strides=(4,))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional

from torchbricks.features import FeatureSpec

__all__ = ["FeaturePyramid", "GlobalPooling", "UpsamplingNeck", "fpn", "global_pooling", "upsampling"]


class UpsamplingNeck(nn.Module):
    """Project every level to ``out_channels``, upsample to the finest level, sum, then refine (3×3 convs).

    Returns one feature map at the finest input stride (e.g. stride 4 for ``c2``–``c5``).
    """

    def __init__(self, in_channels: Sequence[int], in_strides: Sequence[int], out_channels: int = 64) -> None:
        super().__init__()
        _check_levels(in_channels, in_strides)
        self.in_channels, self.in_strides = tuple(in_channels), tuple(in_strides)
        self.laterals = nn.ModuleList(nn.Conv2d(channels, out_channels, kernel_size=1) for channels in in_channels)
        self.refine = nn.Sequential(
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.feature_spec = FeatureSpec(("features",), (out_channels,), (min(in_strides),))

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        size = features[0].shape[-2:]
        fused = self.laterals[0](features[0])
        for lateral, feature in zip(self.laterals[1:], features[1:], strict=True):
            fused = fused + functional.interpolate(lateral(feature), size=size, mode="bilinear", align_corners=False)
        return self.refine(fused)


class FeaturePyramid(nn.Module):
    """Feature Pyramid Network (``torchvision.ops.FeaturePyramidNetwork``): one ``out_channels`` map per level."""

    def __init__(self, in_channels: Sequence[int], in_strides: Sequence[int], out_channels: int = 64) -> None:
        super().__init__()
        from torchvision.ops import FeaturePyramidNetwork

        _check_levels(in_channels, in_strides)
        self.in_channels, self.in_strides = tuple(in_channels), tuple(in_strides)
        self.fpn = FeaturePyramidNetwork(list(in_channels), out_channels)
        levels = [stride.bit_length() - 1 for stride in in_strides]
        self.feature_spec = FeatureSpec(
            tuple(f"p{level}" for level in levels), (out_channels,) * len(levels), tuple(in_strides)
        )

    def forward(self, *features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.fpn({str(index): feature for index, feature in enumerate(features)})
        return tuple(outputs[str(index)] for index in range(len(features)))


class GlobalPooling(nn.Module):
    """Global average pooling of the coarsest level: ``[B, C, H, W]`` → ``[B, C]``."""

    def __init__(self, in_channels: Sequence[int], in_strides: Sequence[int]) -> None:
        super().__init__()
        _check_levels(in_channels, in_strides)
        self.in_channels, self.in_strides = tuple(in_channels), tuple(in_strides)
        self.feature_spec = FeatureSpec(("pooled",), (in_channels[-1],), (0,))

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        return features[-1].mean(dim=(2, 3))


def upsampling(in_channels: Sequence[int], in_strides: Sequence[int], out_channels: int = 64) -> UpsamplingNeck:
    """Fuse all levels into one map at the finest stride (a light decoder for dense tasks)."""
    return UpsamplingNeck(in_channels, in_strides, out_channels)


def fpn(in_channels: Sequence[int], in_strides: Sequence[int], out_channels: int = 64) -> FeaturePyramid:
    """Feature Pyramid Network from torchvision.ops: one map per level with ``out_channels`` channels."""
    return FeaturePyramid(in_channels, in_strides, out_channels)


def global_pooling(in_channels: Sequence[int], in_strides: Sequence[int]) -> GlobalPooling:
    """Global average pooling of the coarsest feature map into a vector."""
    return GlobalPooling(in_channels, in_strides)


def _check_levels(in_channels: Sequence[int], in_strides: Sequence[int]) -> None:
    if not in_channels or len(in_channels) != len(in_strides):
        raise ValueError(
            f"A neck needs one stride per input level, got in_channels={tuple(in_channels)}, "
            f"in_strides={tuple(in_strides)}"
        )
    if list(in_strides) != sorted(in_strides):
        raise ValueError(f"Neck inputs must go from finest to coarsest stride, got in_strides={tuple(in_strides)}")
