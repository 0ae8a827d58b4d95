"""Object detection trained end to end on a real COCO file: the run reports F1 and COCO mAP."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bag_of_bricks.metrics import map_backend
from tests.bag_of_bricks.test_datasets import write_coco
from tests.training.conftest import TINY_MODEL
from torchbricks.training import train


def detection_config(annotations: Path) -> dict[str, Any]:
    model = copy.deepcopy(TINY_MODEL)
    # write_coco has two categories (ids 3 and 7 → classes 0 and 1); a zero threshold makes the untrained head
    # predict boxes
    model["tasks"] = {
        "objects": {"task": "object_detection", "num_classes": 2, "hidden": 16, "score_threshold": 0.0},
    }
    coco = {"name": "coco", "annotations": str(annotations), "image_size": 32}
    return {
        "model": model,
        # write_coco has one image: twice over, one batch of two (training drops incomplete batches)
        "data": {"train": [coco, copy.deepcopy(coco)], "validation": [coco], "batch_size": 2},
        "trainer": {
            "max_steps": 2,
            "accelerator": "cpu",
            "devices": 1,
            "num_sanity_val_steps": 0,
            "enable_progress_bar": False,
        },
        "optimizer": {"name": "AdamW", "lr": 1e-3},
        "visualizations": 1,
    }


@pytest.mark.skipif(map_backend() is None, reason="needs pycocotools or faster-coco-eval")
def test_object_detection_on_coco_reports_f1_and_map(tmp_path: Path) -> None:
    annotations = write_coco(tmp_path / "coco")
    report = train(detection_config(annotations), tmp_path / "run", progress=False)
    assert report["_run"]["steps"] == 2
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics) == {"objects"}
    assert {"f1", "map", "map_50"} <= set(metrics["objects"])
    for name in ("f1", "map", "map_50"):
        value = metrics["objects"][name]
        assert 0.0 <= value <= 1.0, (name, value)  # NaN fails too
    assert (tmp_path / "run" / "visualizations" / "objects.png").is_file()
