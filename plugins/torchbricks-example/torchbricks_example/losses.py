"""Losses: modules that compare predictions with targets.

Registered in ``pyproject.toml`` with the class itself as the factory::

    [project.entry-points."torchbricks.losses"]
    example_focal_loss = "torchbricks_example.losses:FocalLoss"

For a class, the summary is the first line of the class docstring and the accepted arguments are
those of ``__init__``. Wrap it in a ``BrickLoss`` to use it in a collection::

    from torchbricks import BrickLoss
    from torchbricks.registry import create

    loss = BrickLoss(create("losses", "example_focal_loss", gamma=2.0),
                     input_names=["logits", "targets"], output_names=["loss_focal"])

Example:
    >>> import torch
    >>> loss = FocalLoss(gamma=0.0)
    >>> logits, targets = torch.tensor([[2.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 1])
    >>> bool(torch.isclose(loss(logits, targets), torch.nn.functional.cross_entropy(logits, targets)))
    True
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

_REDUCTIONS = ("mean", "sum", "none")


class FocalLoss(nn.Module):
    """Focal loss for multi-class logits: cross-entropy down-weighting easy examples by ``(1 - p)**gamma``.

    Args:
        gamma: focusing parameter; 0 gives plain cross-entropy.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one value per example).
    """

    def __init__(self, gamma: float = 2.0, reduction: str = "mean") -> None:
        super().__init__()
        # Validate arguments when the brick is built, with a message that names the argument.
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.gamma = gamma
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_probabilities = functional.log_softmax(logits, dim=1).gather(1, targets.long().unsqueeze(1)).squeeze(1)
        losses = -((1.0 - log_probabilities.exp()) ** self.gamma) * log_probabilities
        if self.reduction == "mean":
            return losses.mean()
        if self.reduction == "sum":
            return losses.sum()
        return losses
