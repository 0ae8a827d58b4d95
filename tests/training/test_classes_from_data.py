"""The data gives the tasks their classes, and ``train --check`` checks what the run will need.

An ``image_folder``'s folder names become the task's ``num_classes`` and ``class_names`` when the config
leaves them out; a count that differs is a config error before anything is written. ``--check`` builds the
datasets, so a missing root is found before the run; a mask class out of range stops the run at the first
batch that holds it (checked against the task's ``num_classes``), naming the mask.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.bag_of_bricks.test_datasets import write_image_folder
from torchbricks import load_model
from torchbricks.errors import ConfigError, DatasetConfigError
from torchbricks.training import check_training, train


def folder_config(root: Path, **task: Any) -> dict[str, Any]:
    return {
        "model": {
            "backbone": {"name": "resnet18", "levels": [4]},
            "tasks": {"kind": {"task": "image_classification", **task}},
            "input_shape": [3, 32, 32],
        },
        "data": {
            "train": [{"name": "image_folder", "root": str(root), "image_size": 32}],
            "validation": [{"name": "image_folder", "root": str(root), "image_size": 32}],
            "batch_size": 2,
        },
        "trainer": {"max_steps": 1, "accelerator": "cpu", "num_sanity_val_steps": 0, "enable_progress_bar": False},
        "visualizations": 2,
    }


def test_the_folders_give_the_task_its_classes(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "animals", per_class=2)
    settings = check_training(folder_config(root))
    task = settings["model"]["tasks"]["kind"]
    assert (task["num_classes"], task["class_names"]) == (2, ["cat", "dog"])
    train(folder_config(root), tmp_path / "run", progress=False)
    saved = load_model(tmp_path / "run" / "model").config["tasks"]["kind"]
    assert (saved["num_classes"], saved["class_names"]) == (2, ["cat", "dog"])


def test_a_class_count_that_differs_from_the_folders_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "animals", per_class=2)
    with pytest.raises(ConfigError, match=r"model\.tasks\.kind\.num_classes: 3, but the data has 2 classes.*cat, dog"):
        train(folder_config(root, num_classes=3), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match=r"model\.tasks\.kind\.class_names: dog, cat, but the data names"):
        check_training(folder_config(root, class_names=["dog", "cat"]))


def run_check(config: dict[str, Any], folder: Path) -> subprocess.CompletedProcess[str]:
    path = folder / "train.json"
    path.write_text(json.dumps(config))
    command = [sys.executable, "-m", "torchbricks.cli", "train", str(path), "--check", "--output", str(folder / "out")]
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=folder)


def test_check_finds_a_missing_root_in_one_line_and_writes_nothing(tmp_path: Path) -> None:
    result = run_check(folder_config(tmp_path / "nowhere", num_classes=2), tmp_path)
    assert result.returncode == 1
    assert "data.train[0]: image_folder: root" in result.stderr
    assert "is not a folder" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["train.json"]


def test_check_prints_the_classes_and_labelled_inputs_the_run_will_set(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "animals", per_class=2)
    result = run_check(folder_config(root), tmp_path)
    assert result.returncode == 0, result.stderr
    task = json.loads(result.stdout)["model"]["tasks"]["kind"]
    assert (task["num_classes"], task["class_names"]) == (2, ["cat", "dog"])


def write_segmentation(root: Path, top_class: int) -> Path:
    for index in range(2):
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((32, 32, 3), 90 * index, dtype=np.uint8)).save(root / "images" / f"{index}.png")
        mask = np.zeros((32, 32), dtype=np.uint8)
        mask[:8] = top_class
        Image.fromarray(mask).save(root / "masks" / f"{index}.png")
    return root


def test_a_mask_class_out_of_range_stops_the_run_naming_the_mask(tmp_path: Path) -> None:
    root = write_segmentation(tmp_path / "segments", top_class=2)
    config = {
        "model": {
            "backbone": {"name": "resnet18", "levels": [2, 3, 4]},
            "neck": {"name": "upsampling", "out_channels": 16},
            "tasks": {"segmentation": {"task": "semantic_segmentation", "num_classes": 2, "hidden": 16}},
            "input_shape": [3, 32, 32],
        },
        "data": {"train": [{"name": "segmentation_folder", "root": str(root), "image_size": 32}], "batch_size": 2},
        "trainer": {"max_steps": 1, "accelerator": "cpu", "num_sanity_val_steps": 0, "enable_progress_bar": False},
    }
    with pytest.raises(DatasetConfigError, match=r"masks/[01]\.png' has class 2 in 'segmentation', but num_classes"):
        train(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "model").exists()
