"""Image classification heads: single-label (softmax) and multi-label (sigmoid).

Example:
    >>> import torch
    >>> logits, probabilities, class_prediction = ImageClassifier(num_classes=3, n_features=8)(torch.rand(2, 8, 4, 4))
    >>> logits.shape, class_prediction.shape
    (torch.Size([2, 3]), torch.Size([2]))
    >>> _, _, present = MultiLabelClassifier(num_classes=3, n_features=8)(torch.rand(2, 8, 4, 4))
    >>> present.shape, present.dtype
    (torch.Size([2, 3]), torch.int64)
"""

from __future__ import annotations

import math

import torch
from torch import nn


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
