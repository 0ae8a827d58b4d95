"""A small saved model with every task kind, and real image files of other sizes than it was trained at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

TRAINED_SIZE = (48, 48)
CLASS_NAMES = {
    "animal": ["cat", "dog", "bird"],
    "shapes": ["circle", "square", "triangle"],
    "segmentation": ["background", "circle", "square", "triangle"],
    "centres": ["circle", "square", "triangle"],
    "things": ["box", "ball"],
}


def model_config(boxes: bool = True) -> dict[str, Any]:
    """A ResNet-18 (two stages) with an upsampling neck and one task of each kind; every task names its classes.

    Point and box detection keep every peak (``score_threshold: 0``), so random weights still give rows to map.
    """
    tasks: dict[str, Any] = {
        "animal": {"task": "image_classification", "num_classes": 3, "class_names": CLASS_NAMES["animal"]},
        "shapes": {
            "task": "multilabel_classification",
            "num_classes": 3,
            "class_names": CLASS_NAMES["shapes"],
            "threshold": 0.0,  # every label present: each has a score to compare
            "hidden": 16,
        },
        "segmentation": {
            "task": "semantic_segmentation",
            "num_classes": 4,
            "class_names": CLASS_NAMES["segmentation"],
            "hidden": 16,
        },
        "centres": {
            "task": "point_detection",
            "num_classes": 3,
            "class_names": CLASS_NAMES["centres"],
            "score_threshold": 0.0,
            "max_points": 5,
            "hidden": 16,
        },
    }
    if boxes:
        tasks["things"] = {
            "task": "object_detection",
            "num_classes": 2,
            "class_names": CLASS_NAMES["things"],
            "score_threshold": 0.0,
            "max_boxes": 5,
            "hidden": 16,
            "mean_average_precision": False,
        }
    return {
        "backbone": {"name": "resnet18", "levels": [2, 3]},
        "neck": {"name": "upsampling", "out_channels": 16},
        "tasks": tasks,
        "input_shape": [3, *TRAINED_SIZE],
    }


def save_small_model(folder: Path, boxes: bool = True) -> Path:
    """The model of :func:`model_config` with seeded random weights, saved as trained at :data:`TRAINED_SIZE`."""
    import torch

    from torchbricks import build_model, save_model

    torch.manual_seed(0)
    model = build_model(model_config(boxes)).eval()
    contract = {"size": list(TRAINED_SIZE), "resize": "stretch"}
    return save_model(model, folder, input_contract=contract, card=False)


def write_image(path: Path, height: int, width: int, seed: int, mode: str = "RGB") -> Path:
    """A random-noise picture with a bright square (so the model's outputs vary over the image)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    pixels[height // 4 : height // 2, width // 3 : width // 2] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).convert(mode).save(path)
    return path


@pytest.fixture(scope="session")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The saved model with every task kind (boxes included)."""
    return save_small_model(tmp_path_factory.mktemp("inference") / "model")


@pytest.fixture(scope="session")
def exportable_model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The saved model without box detection (whose NMS torch.export cannot trace with a dynamic batch)."""
    return save_small_model(tmp_path_factory.mktemp("inference-onnx") / "model", boxes=False)
