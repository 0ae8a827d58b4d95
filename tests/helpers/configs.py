"""Small model configs and batches shared by the assembly, config, model-folder and ``build`` command tests."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.helpers.tensors import seeded

SIZE = 32
SMALL_BACKBONE = {"name": "resnet18", "levels": [2, 3]}  # two ResNet-18 stages: strides 4 and 8, few weights


def small_config(**changes: Any) -> dict[str, Any]:
    """ResNet-18 (two stages), an upsampling neck, a classification and a segmentation task; 32x32 images."""
    config: dict[str, Any] = {
        "backbone": dict(SMALL_BACKBONE),
        "neck": {"name": "upsampling", "out_channels": 16},
        "tasks": {
            "kind": {"task": "image_classification", "num_classes": 3, "targets": "label"},
            "seg": {"task": "semantic_segmentation", "num_classes": 4, "targets": "segmentation", "hidden": 16},
        },
        "input_shape": [3, SIZE, SIZE],
    }
    config.update(changes)
    return config


def minimal(**changes: Any) -> dict[str, Any]:
    """The smallest valid config: a one-stage ResNet-18 and one classification task."""
    config: dict[str, Any] = {
        "backbone": {"name": "resnet18", "levels": [5]},
        "tasks": {"shape": {"task": "image_classification", "num_classes": 3}},
    }
    config.update(changes)
    return config


def images(count: int = 2, seed: int = 0) -> torch.Tensor:
    return seeded(count, 3, SIZE, SIZE, seed=seed)


def train_batch(count: int = 2) -> dict[str, torch.Tensor]:
    """Images with targets for both tasks of :func:`small_config`."""
    generator = torch.Generator().manual_seed(1)
    return {
        "images": images(count),
        "label": torch.randint(0, 3, (count,), generator=generator),
        "segmentation": torch.randint(0, 4, (count, SIZE, SIZE), generator=generator),
    }


def assert_error(error: pytest.ExceptionInfo, *parts: str) -> None:
    """Every part is in the raised error's message."""
    message = str(error.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
