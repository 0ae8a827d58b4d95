"""The train run end to end (tiny, a few steps), resume, partial labels, the seed's LightningBrickCollection, DDP."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from tests.training.conftest import start_train_process, tiny_config
from torchbricks import BrickCollection, BrickLoss, BrickMetricSingle, BrickTrainable, load_model
from torchbricks.training import LightningBrickCollection, collate, train
from torchbricks.training._module import task_metrics


def quiet_trainer(config: dict[str, Any]) -> dict[str, Any]:
    config["trainer"]["enable_progress_bar"] = False
    return config


def test_train_writes_a_loadable_model_metrics_logs_and_pictures(tmp_path: Path, config: dict[str, Any]) -> None:
    report = train(quiet_trainer(config), tmp_path, progress=False)
    assert report["_run"]["steps"] == 2
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == {task: values for task, values in report.items() if task != "_run"}  # metrics only
    assert set(metrics) == {"shapes", "segmentation", "centres"}
    assert "mean_iou" in metrics["segmentation"]
    assert json.loads((tmp_path / "run.json").read_text()) == report["_run"]
    model = load_model(tmp_path / "model")
    assert model.config["tasks"]["segmentation"]["num_classes"] == 4
    assert (tmp_path / "logs" / "metrics.csv").read_text().startswith(("epoch", "step", "train", "val"))
    assert sorted(path.name for path in (tmp_path / "checkpoints").iterdir()) == ["last.ckpt"]  # one, not two copies
    assert json.loads((tmp_path / "config.json").read_text())["trainer"]["max_steps"] == 2
    assert sorted(path.name for path in (tmp_path / "visualizations").glob("*.png")) == [
        "centres.png",
        "segmentation.png",
        "shapes.png",
    ]


def test_same_config_gives_the_same_metrics_and_resume_continues(tmp_path: Path, config: dict[str, Any]) -> None:
    first = train(quiet_trainer(config), tmp_path / "a", progress=False)
    second = train(quiet_trainer(tiny_config()), tmp_path / "b", progress=False)
    strip = lambda report: {key: value for key, value in report.items() if key != "_run"}  # noqa: E731
    assert strip(first) == strip(second)
    assert (tmp_path / "a" / "metrics.json").read_bytes() == (tmp_path / "b" / "metrics.json").read_bytes()
    resumed = train(quiet_trainer(tiny_config()), tmp_path / "a", overrides=["trainer.max_steps=3"], resume=True)
    assert resumed["_run"]["steps"] == 3
    with (tmp_path / "a" / "logs" / "metrics.csv").open(newline="") as file:
        logged_steps = [int(row["step"]) for row in csv.DictReader(file) if row.get("train/loss")]
    assert len(logged_steps) == 3  # the log goes on: the two steps from before the resume are kept...
    assert logged_steps[:2] == [0, 1]
    assert logged_steps[2] > 1  # ...followed by the resumed step (numbered by Lightning)
    with pytest.raises(Exception, match="no checkpoint"):
        train(quiet_trainer(tiny_config()), tmp_path / "empty", resume=True)


def test_a_new_run_into_the_same_folder_replaces_the_earlier_run(tmp_path: Path) -> None:
    import warnings

    first = quiet_trainer(tiny_config())
    first["trainer"]["max_steps"] = 3
    train(first, tmp_path, progress=False)
    (tmp_path / "notes.txt").write_text("mine")
    earlier_checkpoints = {path.name for path in (tmp_path / "checkpoints").iterdir()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(quiet_trainer(tiny_config()), tmp_path, progress=False)
    assert not [str(warning.message) for warning in caught if "exists and is not empty" in str(warning.message)]
    checkpoints = {path.name for path in (tmp_path / "checkpoints").iterdir()}
    assert "last.ckpt" in checkpoints
    assert not (earlier_checkpoints - {"last.ckpt"}) & checkpoints  # no checkpoint left from the earlier run
    with (tmp_path / "logs" / "metrics.csv").open(newline="") as file:
        steps = [int(row["step"]) for row in csv.DictReader(file) if row.get("train/loss")]
    assert steps == [0, 1]  # the new run's log only
    assert json.loads((tmp_path / "run.json").read_text())["steps"] == 2
    assert (tmp_path / "notes.txt").read_text() == "mine"  # what the run did not write is left alone


def test_two_datasets_with_partial_labels_train_one_model(tmp_path: Path) -> None:
    """A classification-only and a segmentation-only dataset train both heads of one model."""
    from tests.bag_of_bricks.test_datasets import write_image_folder, write_segmentation_folder

    classes = write_image_folder(tmp_path / "classes", per_class=4)
    segments = write_segmentation_folder(tmp_path / "segments", count=6)
    config = tiny_config(
        model={
            "backbone": {"name": "resnet18", "levels": [2, 3, 4]},
            "neck": {"name": "upsampling", "out_channels": 16},
            "tasks": {
                "kind": {"task": "image_classification", "num_classes": 2},
                "segmentation": {"task": "semantic_segmentation", "num_classes": 3, "hidden": 16},
            },
            "input_shape": [3, 32, 32],
        },
        data={
            "train": [
                {"name": "image_folder", "root": str(classes), "image_size": 32},
                {"name": "segmentation_folder", "root": str(segments), "image_size": 32},
            ],
            "validation": [
                {"name": "image_folder", "root": str(classes), "image_size": 32},
                {"name": "segmentation_folder", "root": str(segments), "image_size": 32},
            ],
            "batch_size": 4,
        },
    )
    report = train(quiet_trainer(config), tmp_path / "out", progress=False)
    assert "accuracy" in report["kind"]
    assert "mean_iou" in report["segmentation"]
    saved = json.loads((tmp_path / "out" / "model" / "config.json").read_text())
    assert saved["tasks"]["kind"]["labelled"] == "targets_labelled"
    assert saved["tasks"]["segmentation"]["labelled"] == "segmentation_labelled"
    model = load_model(tmp_path / "out" / "model")
    assert model.required_inputs("inference") == ("images",)


class Classifier(nn.Module):
    def __init__(self, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features.mean(dim=(2, 3)))


def test_the_seed_example_lightning_brick_collection(tmp_path: Path) -> None:
    """The seed's injection style: ``LightningBrickCollection(path_experiments=..., create_optimizers_func=...)``."""
    import pytorch_lightning as pl
    from torchmetrics.classification import MulticlassAccuracy

    brick_collection = BrickCollection(
        {
            "backbone": BrickTrainable(nn.Conv2d(3, 8, 3, padding=1), ["images"], ["features"]),
            "head": BrickTrainable(Classifier(2, 8), ["features"], ["logits"]),
            "loss": BrickLoss(nn.CrossEntropyLoss(), ["logits", "targets"], ["loss_ce"]),
            "accuracy": BrickMetricSingle(MulticlassAccuracy(num_classes=2), ["logits", "targets"]),
        }
    )
    create_optimizer_func = partial(torch.optim.SGD, lr=0.05, momentum=0.9, weight_decay=5e-4)
    bricks_lightning_module = LightningBrickCollection(
        path_experiments=tmp_path / "experiments",
        experiment_name=None,
        brick_collection=brick_collection,
        create_optimizers_func=create_optimizer_func,
    )
    samples = [{"images": torch.rand(3, 8, 8), "targets": torch.tensor(index % 2)} for index in range(8)]
    loader = torch.utils.data.DataLoader(samples, batch_size=4, collate_fn=collate)
    trainer = pl.Trainer(
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=2,
        limit_test_batches=2,
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        logger=False,
        enable_checkpointing=False,
        accelerator="cpu",
    )
    trainer.fit(bricks_lightning_module, train_dataloaders=loader, val_dataloaders=loader)
    results = trainer.test(bricks_lightning_module, dataloaders=loader, verbose=False)
    assert "test/loss" in results[0]
    assert "test/loss_ce" in results[0]
    assert any(key.startswith("test/") and "ccuracy" in key for key in results[0])


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_matches_one_process(tmp_path: Path) -> None:
    """2 gloo processes: synchronised validation metrics equal one process evaluating the same weights."""
    config = tiny_config()
    config["data"]["validation"][0]["count"] = 8  # divisible by 2: no padded samples in the distributed sampler
    config["trainer"].update({"strategy": "ddp", "devices": 2, "enable_progress_bar": False})
    path = tmp_path / "train.json"
    path.write_text(json.dumps(config))
    output = tmp_path / "out"
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-m", "torchbricks.cli", "train", str(path), "--output", str(output)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("Trained 2 steps") == 1  # every process trained; one printed
    report = json.loads((output / "metrics.json").read_text())
    assert json.loads((output / "run.json").read_text())["steps"] == 2
    model = load_model(output / "model")
    from bag_of_bricks.datasets import shapes

    validation = shapes(count=8, seed=1, image_size=32)
    model.eval()
    with torch.no_grad():
        model(collate([validation[index] for index in range(8)]), groups="validation")
    single = task_metrics(model, reset=True)
    assert report["segmentation"]["mean_iou"] == pytest.approx(float(single["segmentation/mean_iou"]), abs=1e-4)
    assert report["shapes"]["exact_match"] == pytest.approx(float(single["shapes/exact_match"]), abs=1e-4)
    written = sorted(str(item.relative_to(output)) for item in output.rglob("*") if item.is_file())
    assert len([name for name in written if name.endswith("metrics.json")]) == 1
    assert not [name for name in written if "version_" in name]  # one logger folder, from rank 0
    rows = (output / "logs" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,step")
    assert rows.count(rows[0]) == 1  # one process wrote the log
    assert len(rows) == len(set(rows))


@pytest.mark.slow
def test_ctrl_c_stops_with_one_line_and_a_checkpoint_that_resume_continues(tmp_path: Path) -> None:
    import signal

    config = tiny_config()
    config["trainer"].update({"max_steps": 100_000, "enable_progress_bar": False})
    output = tmp_path / "out"
    process = start_train_process(config, output, logged_rows=0)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert "torchbricks train: interrupted: training stopped at step" in stderr
    assert "was called without a model" not in stderr
    assert "unfinished/checkpoints/last.ckpt' holds it (--resume continues it)" in stderr
    assert not (output / "running").exists()
    assert not (output / "model").exists()  # nothing finished: no model, only the unfinished run
    checkpoint = output / "unfinished" / "checkpoints" / "last.ckpt"
    stopped_at = torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"]
    assert stopped_at >= 1
    resumed = train(config, output, overrides=[f"trainer.max_steps={stopped_at + 1}"], resume=True, progress=False)
    assert resumed["_run"]["steps"] == stopped_at + 1
    assert not (output / "unfinished").exists()  # continued and finished: it is the run now
    assert (output / "model" / "config.json").is_file()
