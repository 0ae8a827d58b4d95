"""Small modules and brick builders shared by the tests.

- the seed README's dummy modules ("Bricks by example") and its bricks (:func:`seed_bricks`);
- the README's nested example: :func:`create_image_classification_head` and :func:`nested_resnet_collection`;
- small modules and builders of the collection, graph, property and weights tests;
- a hand-made backbone and neck for the assembly tests.

Everything lives at module level so that collections built from it can be pickled (``torch.save`` of a
full model, ``copy.deepcopy``). The graph tests import this module in subprocesses that should load no
more than torch and torchbricks: torchvision, torchmetrics and bag_of_bricks are imported where used.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from torchbricks import BrickCollection
from torchbricks.bricks import BrickInterface, BrickLoss, BrickMetricSingle, BrickNotTrainable, BrickTrainable
from torchbricks.features import FeatureSpec

# -- the seed README's dummy modules -----------------------------------------------------------------------------


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


# -- the README's nested example ---------------------------------------------------------------------------------


def create_image_classification_head(
    num_classes: int, in_channels: int, features_name: str, targets_name: str
) -> dict[str, BrickInterface]:
    """Image classifier bricks: classifier, loss and metrics (verbatim from the README)."""
    from torchmetrics.classification import MulticlassAccuracy

    from bag_of_bricks.image_classification import ImageClassifier

    return {
        "classify": BrickTrainable(
            ImageClassifier(num_classes=num_classes, n_features=in_channels),
            input_names=[features_name],
            output_names=["./logits", "./probabilities", "./class_prediction"],
        ),
        "accuracy": BrickMetricSingle(
            MulticlassAccuracy(num_classes=num_classes), input_names=["./class_prediction", targets_name]
        ),
        "loss": BrickLoss(
            model=nn.CrossEntropyLoss(), input_names=["./logits", targets_name], output_names=["./loss_ce"]
        ),
    }


def resnet_backbone_bricks(num_classes: int = 10) -> dict[str, Any]:
    """The README's ``preprocessor`` (raw → normalized) and torchvision resnet18 ``backbone`` (→ features) bricks."""
    import torchvision

    from bag_of_bricks.backbones import resnet_to_brick
    from bag_of_bricks.preprocessors import Preprocessor

    resnet = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    return {
        "preprocessor": BrickNotTrainable(Preprocessor(), input_names=["raw"], output_names=["normalized"]),
        "backbone": resnet_to_brick(resnet=resnet, input_name="normalized", output_name="features"),
    }


def nested_resnet_collection(seed: int | None = None) -> BrickCollection:
    """The README's preprocessor, resnet18 backbone and two classification heads (3 and 5 classes).

    With ``seed``, the weights are initialised after ``torch.manual_seed(seed)``.
    """
    if seed is not None:
        torch.manual_seed(seed)
    bricks = resnet_backbone_bricks()
    n_features = bricks["backbone"].model.n_backbone_features
    bricks |= {
        "head0": create_image_classification_head(
            num_classes=3, in_channels=n_features, features_name="features", targets_name="targets0"
        ),
        "head1": create_image_classification_head(
            num_classes=5, in_channels=n_features, features_name="features", targets_name="targets1"
        ),
    }
    return BrickCollection(bricks)


# -- modules and builders of the collection, graph, property and weights tests -----------------------------------


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


# -- a hand-made backbone and neck for the assembly tests ----------------------------------------------------------


class TinyBackbone(nn.Module):
    """A hand-made backbone: stride-4 (8 channels) and stride-8 (16 channels) feature maps."""

    def __init__(self, with_spec: bool = True) -> None:
        super().__init__()
        self.down4 = nn.Sequential(nn.Conv2d(3, 8, kernel_size=4, stride=4), nn.ReLU())
        self.down8 = nn.Sequential(nn.Conv2d(8, 16, kernel_size=2, stride=2), nn.ReLU())
        if with_spec:
            self.feature_spec = FeatureSpec(names=("fine", "coarse"), channels=(8, 16), strides=(4, 8))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fine = self.down4(images)
        return fine, self.down8(fine)


class DeclaredNeck(nn.Module):
    """A hand-made neck that declares the inputs it expects."""

    def __init__(self, in_channels: tuple[int, ...], in_strides: tuple[int, ...]) -> None:
        super().__init__()
        self.in_channels, self.in_strides = in_channels, in_strides
        self.project = nn.Conv2d(in_channels[0], 4, kernel_size=1)
        self.feature_spec = FeatureSpec(("features",), (4,), (in_strides[0],))

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        return self.project(features[0])
