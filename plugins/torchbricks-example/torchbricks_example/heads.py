"""Heads: turn features into task outputs.

Registered in ``pyproject.toml``::

    [project.entry-points."torchbricks.heads"]
    example_linear_head = "torchbricks_example.heads:example_linear_head"

Wrap the built module in a brick to name what it reads and writes::

    from torchbricks import BrickTrainable
    from torchbricks.registry import create

    head = BrickTrainable(create("heads", "example_linear_head", in_channels=256, num_classes=3),
                          input_names=["features"], output_names=["logits"])

Example:
    >>> import torch
    >>> head = example_linear_head(in_channels=8, num_classes=3)
    >>> head(torch.rand(2, 8, 4, 4)).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

import torch
from torch import nn


class LinearHead(nn.Module):
    """Global average pooling, dropout and a linear layer; accepts ``[B, C, H, W]`` or ``[B, C]`` features."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_channels, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() == 4:
            features = features.mean(dim=(2, 3))
        return self.linear(self.dropout(features))


# A factory function gives the brick a stable, documented signature, independent of how the module
# class is written. Give every argument a type hint and, where sensible, a default: `torchbricks info`
# shows them, and `create` checks keyword arguments against them.
def example_linear_head(in_channels: int = 256, num_classes: int = 10, dropout: float = 0.0) -> LinearHead:
    """Classify pooled features with a linear layer; returns logits ``[B, num_classes]``.

    Args:
        in_channels: channels of the input features.
        num_classes: number of classes (the size of the logits).
        dropout: dropout probability before the linear layer.
    """
    return LinearHead(in_channels=in_channels, num_classes=num_classes, dropout=dropout)
