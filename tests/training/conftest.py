"""Small train configs for the training tests (tiny images, a few steps)."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytorch_lightning")

TINY_MODEL: dict[str, Any] = {
    "backbone": {"name": "resnet18", "levels": [2, 3, 4]},
    "neck": {"name": "upsampling", "out_channels": 16},
    "tasks": {
        "shapes": {
            "task": "multilabel_classification",
            "feature_kind": "dense",
            "num_classes": 3,
            "targets": "shape_present",
        },
        "segmentation": {"task": "semantic_segmentation", "num_classes": 4, "hidden": 16},
        "centres": {"task": "point_detection", "num_classes": 3, "hidden": 16},
    },
    "input_shape": [3, 32, 32],
}


def tiny_config(**changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "model": copy.deepcopy(TINY_MODEL),
        "data": {
            "train": [{"name": "shapes", "count": 16, "image_size": 32, "augment": True}],
            "validation": [{"name": "shapes", "count": 8, "seed": 1, "image_size": 32}],
            "batch_size": 8,
        },
        "trainer": {
            "max_steps": 2,
            "accelerator": "cpu",
            "devices": 1,
            "num_sanity_val_steps": 0,
            "log_every_n_steps": 1,
        },
        "optimizer": {"name": "AdamW", "lr": 1e-3},
        "scheduler": {"name": "warmup_cosine"},
        "visualizations": 2,
        "threads": 1,  # tiny models; and one count for every run, so that the same config gives the same figures
    }
    config.update(changes)
    return config


@pytest.fixture
def config() -> dict[str, Any]:
    return tiny_config()


def start_train_process(
    config: dict[str, Any], output: Path, *arguments: str, logged_rows: int = 1
) -> subprocess.Popen[str]:
    """``torchbricks train`` in its own process (Ctrl+C works as in a terminal); returns once it logs steps.

    It waits until ``output/running/logs/metrics.csv`` holds ``logged_rows`` rows besides the header.
    """
    path = output.parent / f"{output.name}.train.json"
    path.write_text(json.dumps(config))
    command = [sys.executable, "-m", "torchbricks.cli", "train", str(path), "--output", str(output), *arguments]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    log = output / "running" / "logs" / "metrics.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (log.is_file() and len(log.read_text().splitlines()) > logged_rows):
        time.sleep(0.2)
    return process
