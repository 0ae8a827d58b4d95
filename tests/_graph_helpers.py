"""Small modules and builders shared by the graph, property and weights tests.

Everything here lives at module level so that collections built from it can be pickled
(``torch.save`` of a full model, ``copy.deepcopy``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from torchbricks.bricks import BrickLoss, BrickMetricSingle, BrickNotTrainable, BrickTrainable


class Scale(nn.Module):
    """Sums its inputs and multiplies by a learnable scalar ``weight`` (initialised to ``factor``)."""

    def __init__(self, factor: float = 2.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(float(factor)))

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        total = tensors[0]
        for tensor in tensors[1:]:
            total = total + tensor
        return total * self.weight


class AddConstant(nn.Module):
    """Adds a fixed constant; has no state (so it gets no weight file)."""

    def __init__(self, constant: float = 1.0) -> None:
        super().__init__()
        self.constant = constant

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor + self.constant


class ReturnsN(nn.Module):
    """Returns ``count`` values: a single tensor for ``count == 1``, otherwise a tuple."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    def forward(self, tensor: torch.Tensor) -> Any:
        if self.count == 1:
            return tensor + 1
        return tuple(tensor + index for index in range(self.count))


class CountCalls(nn.Module):
    """Identity that counts how often it ran."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return tensor


def linear_brick(inputs: list[str], outputs: list[str], group: str = "MODEL") -> BrickTrainable:
    return BrickTrainable(Scale(2.0), input_names=inputs, output_names=outputs, group=group)


def identity_brick(inputs: list[str], outputs: list[str], group: str = "MODEL") -> BrickNotTrainable:
    return BrickNotTrainable(AddConstant(0.0), input_names=inputs, output_names=outputs, group=group)


def seed_like_bricks() -> dict[str, Any]:
    """preprocessor → backbone → head (MODEL) and a loss reading logits and targets (LOSS)."""
    return {
        "preprocessor": BrickNotTrainable(AddConstant(1.0), input_names=["raw_images"], output_names=["processed"]),
        "backbone": BrickTrainable(Scale(2.0), input_names=["processed"], output_names=["embedding"]),
        "head": BrickTrainable(Scale(3.0), input_names=["embedding"], output_names=["logits"]),
        "loss": BrickLoss(nn.MSELoss(), input_names=["logits", "targets"], output_names=["loss_mse"]),
    }


# -- modules for the weights tests ------------------------------------------------------------------------


class Backbone(nn.Module):
    def __init__(self, in_features: int = 4, features: int = 8) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, features)
        self.norm = nn.BatchNorm1d(features)

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.norm(self.linear(tensor)))


class Classifier(nn.Module):
    def __init__(self, features: int = 8, num_classes: int = 3) -> None:
        super().__init__()
        self.fc = nn.Linear(features, num_classes)

    def forward(self, tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.fc(tensor)
        return logits, logits.argmax(dim=1)


class TiedLinear(nn.Module):
    """Two linear layers sharing one weight, plus a non-contiguous buffer and a buffer that is a view."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(4, 4, bias=False)
        self.decoder = nn.Linear(4, 4, bias=False)
        self.decoder.weight = self.encoder.weight
        self.register_buffer("transposed", torch.randn(3, 4).t())
        base = torch.randn(10)
        self.register_buffer("window", base[2:6])

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(tensor)) + self.window + self.transposed.sum()


def weights_model_bricks(seed: int, num_classes: int = 3) -> dict[str, Any]:
    """A nested model: a stateless preprocessor, a backbone and a head with loss and metric."""
    from torchmetrics.classification import MulticlassAccuracy

    torch.manual_seed(seed)
    return {
        "preprocessor": BrickNotTrainable(AddConstant(0.5), input_names=["raw"], output_names=["normalized"]),
        "backbone": BrickTrainable(Backbone(), input_names=["normalized"], output_names=["features"]),
        "head0": {
            "classify": BrickTrainable(
                Classifier(num_classes=num_classes), input_names=["../features"], output_names=["./logits", "./pred"]
            ),
            "loss": BrickLoss(nn.CrossEntropyLoss(), input_names=["./logits", "targets"], output_names=["./loss"]),
            "accuracy": BrickMetricSingle(
                MulticlassAccuracy(num_classes=num_classes), input_names=["./pred", "targets"]
            ),
        },
    }
