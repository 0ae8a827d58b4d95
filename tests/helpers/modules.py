"""The dummy modules of the README ("Bricks by example"), shared by the tests.

Import them with ``from tests.seed_modules import TinyModel``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class PreprocessorDummy(nn.Module):
    def forward(self, raw_input: torch.Tensor) -> torch.Tensor:
        return raw_input / 2


class TinyModel(nn.Module):
    def __init__(self, n_channels: int, n_features: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(n_channels, n_features, kernel_size=1)

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.conv(tensor)


class ClassifierDummy(nn.Module):
    def __init__(self, num_classes: int, in_features: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, num_classes)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.softmax = nn.Softmax(dim=1)

    def forward(self, tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.fc(torch.flatten(self.avgpool(tensor), start_dim=1))
        return logits, self.softmax(logits)


class MyNewPostProcessor(nn.Module):
    """Reads every named data item (``input_names=["__all__"]``); remembers the keys it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen_keys: list[str] = []

    def forward(self, named_inputs: dict[str, Any]) -> torch.Tensor:
        self.seen_keys = list(named_inputs)
        assert "raw" in named_inputs
        assert "embedding" in named_inputs
        return named_inputs["embedding"]


def seed_bricks(group_names: bool = False) -> dict[str, Any]:
    """The README's preprocessor/backbone/head bricks (Concept 1); with ``group_names`` the Concept 2 version."""
    from torchbricks.bricks import BrickLoss, BrickNotTrainable, BrickTrainable

    model_group = {"group": "MODEL"} if group_names else {}
    bricks: dict[str, Any] = {
        "preprocessor": BrickNotTrainable(
            PreprocessorDummy(), input_names=["raw_images"], output_names=["processed"], **model_group
        ),
        "backbone": BrickTrainable(
            TinyModel(n_channels=3, n_features=10), input_names=["processed"], output_names=["embedding"], **model_group
        ),
        "head": BrickTrainable(
            ClassifierDummy(num_classes=3, in_features=10),
            input_names=["embedding"],
            output_names=["logits", "softmaxed"],
            **model_group,
        ),
    }
    if group_names:
        bricks["loss"] = BrickLoss(
            model=nn.CrossEntropyLoss(), input_names=["logits", "targets"], output_names=["loss_ce"], group="LOSS"
        )
    return bricks
