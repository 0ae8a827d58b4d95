"""Backbones: feature extractors wrapped as bricks.

Example:
    >>> import torch
    >>> import torchvision
    >>> brick = resnet_to_brick(torchvision.models.resnet18(weights=None), input_name="image", output_name="features")
    >>> brick.model.n_backbone_features
    512
    >>> brick({"image": torch.rand(1, 3, 64, 64)})["features"].shape
    torch.Size([1, 512, 2, 2])
"""

from __future__ import annotations

import torch
from torch import nn

from torchbricks.bricks import BrickTrainable


class BackboneResnet(nn.Module):
    """A torchvision ResNet without its pooling and classifier: images → final feature map."""

    def __init__(self, resnet: nn.Module) -> None:
        super().__init__()
        self.stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool)
        self.layer1 = resnet.layer1
        self.layer2 = resnet.layer2
        self.layer3 = resnet.layer3
        self.layer4 = resnet.layer4
        self.n_backbone_features: int = resnet.fc.in_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.stem(images)
        features = self.layer1(features)
        features = self.layer2(features)
        features = self.layer3(features)
        return self.layer4(features)


def resnet_to_brick(resnet: nn.Module, input_name: str, output_name: str) -> BrickTrainable:
    """Wrap a torchvision ResNet as a trainable backbone brick reading ``input_name``, writing ``output_name``."""
    return BrickTrainable(BackboneResnet(resnet), input_names=[input_name], output_names=[output_name])
