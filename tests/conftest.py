"""Shared fixtures: the README's dummy modules and small inputs."""

from __future__ import annotations

import pytest
import torch

from tests.seed_modules import ClassifierDummy, PreprocessorDummy, TinyModel, seed_bricks
from torchbricks.brick_collection import BrickCollection

BATCH_SIZE = 2


@pytest.fixture
def batched_images() -> torch.Tensor:
    return torch.rand((BATCH_SIZE, 3, 32, 32), generator=torch.Generator().manual_seed(0))


@pytest.fixture
def preprocessor_dummy() -> PreprocessorDummy:
    return PreprocessorDummy()


@pytest.fixture
def tiny_model() -> TinyModel:
    return TinyModel(n_channels=3, n_features=10)


@pytest.fixture
def classifier_dummy() -> ClassifierDummy:
    return ClassifierDummy(num_classes=3, in_features=10)


@pytest.fixture
def seed_collection() -> BrickCollection:
    """Concept 1: preprocessor → backbone → head."""
    return BrickCollection(seed_bricks())


@pytest.fixture
def grouped_seed_collection() -> BrickCollection:
    """Concept 2: the same bricks in group MODEL, plus a cross-entropy BrickLoss in group LOSS."""
    return BrickCollection(seed_bricks(group_names=True))
