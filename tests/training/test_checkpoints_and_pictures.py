"""Best-model checkpointing, visualizations sent to image loggers, channels-last training."""

from __future__ import annotations

import csv
import io
import json
import struct
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from tests.training.conftest import tiny_config
from torchbricks import load_model
from torchbricks.training import LightningBrickCollection, train
from torchbricks.training._data import collate

MONITOR = "val/segmentation/mean_iou"


def quiet(config: dict[str, Any]) -> dict[str, Any]:
    config["trainer"]["enable_progress_bar"] = False
    return config


def validated_every_step(steps: int, **changes: Any) -> dict[str, Any]:
    config = quiet(tiny_config(**changes))
    config["trainer"].update({"max_steps": steps, "val_check_interval": 1, "check_val_every_n_epoch": None})
    return config


def logged_column(path: Path, column: str) -> list[float]:
    with path.open(newline="") as file:
        return [float(row[column]) for row in csv.DictReader(file) if row.get(column)]


def test_checkpoint_monitor_saves_the_best_model_and_reports_its_metrics(tmp_path: Path) -> None:
    config = validated_every_step(4, checkpoint={"monitor": MONITOR, "mode": "max"})
    config["optimizer"] = {"name": "SGD", "lr": 0.2, "momentum": 0.9}  # a rough ride: the best is rarely the last
    report = train(config, tmp_path, progress=False)
    *during_training, final = logged_column(tmp_path / "logs" / "metrics.csv", MONITOR)
    assert len(during_training) == 4
    assert report["segmentation"]["mean_iou"] == pytest.approx(max(during_training), abs=1e-4)
    assert final == pytest.approx(max(during_training), abs=1e-4)  # the best model, validated again
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    best_path = next(state["best_model_path"] for name, state in last["callbacks"].items() if "ModelCheckpoint" in name)
    assert Path(best_path).parent == tmp_path / "running" / "checkpoints"  # where the run wrote it...
    best_file = tmp_path / "checkpoints" / Path(best_path).name  # ...moved in with the finished run
    best = torch.load(best_file, map_location="cpu", weights_only=True)["state_dict"]
    saved = load_model(tmp_path / "model").state_dict()
    for name, value in saved.items():
        assert torch.equal(value, best[f"brick_collection.{name}"]), name


def test_without_a_monitor_the_last_model_is_saved_and_the_last_validation_reused(tmp_path: Path) -> None:
    config = validated_every_step(3)
    report = train(config, tmp_path, progress=False)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    saved = load_model(tmp_path / "model").state_dict()
    assert all(torch.equal(value, last[f"brick_collection.{name}"]) for name, value in saved.items())
    validations = logged_column(tmp_path / "logs" / "metrics.csv", MONITOR)
    assert len(validations) == 3  # the metrics of the validation at the last step, not a fourth pass
    assert report["segmentation"]["mean_iou"] == pytest.approx(validations[-1], abs=1e-4)


def _records(path: Path) -> list[bytes]:
    """The records of a TFRecord file (TensorBoard's event format): length, crc, data, crc."""
    data, records, offset = path.read_bytes(), [], 0
    while offset < len(data):
        (length,) = struct.unpack("<Q", data[offset : offset + 8])
        records.append(data[offset + 12 : offset + 12 + length])
        offset += 12 + length + 4
    return records


def test_tensorboard_gets_each_tasks_visualization_after_each_validation(tmp_path: Path) -> None:
    pytest.importorskip("tensorboardX")
    from tensorboardX.proto import event_pb2

    train(validated_every_step(2), tmp_path, progress=False)
    images: dict[str, list[int]] = {}
    for events in (tmp_path / "logs").glob("events.out.tfevents.*"):
        for record in _records(events):
            event = event_pb2.Event()
            event.ParseFromString(record)
            for value in event.summary.value:
                if value.HasField("image"):
                    images.setdefault(value.tag, []).append(event.step)
                    picture = Image.open(io.BytesIO(value.image.encoded_image_string))
                    assert picture.size == (2 * 256, 256)  # 2 images of 32 pixels, enlarged to 256 high
    assert images == {f"val/{task}/visualization": [1, 2] for task in ("shapes", "segmentation", "centres")}


def test_loggers_with_log_image_get_the_pictures_and_others_are_left_alone(tmp_path: Path) -> None:
    import pytorch_lightning as pl

    class ImageLogger(pl.loggers.Logger):  # a user's logger with a log_image method, as W&B's and Neptune's have
        name, version = "images", "0"

        def __init__(self) -> None:
            super().__init__()
            self.images: list[tuple[str, list[Any], int]] = []

        def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
            pass

        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            pass

        def log_image(self, key: str, images: list[Any], step: int | None = None) -> None:
            self.images.append((key, images, step))

    from bag_of_bricks.datasets import shapes
    from torchbricks import build_model

    model = build_model(tiny_config()["model"])
    data = shapes(count=8, seed=0, image_size=32)
    loader = torch.utils.data.DataLoader([data[index] for index in range(8)], batch_size=4, collate_fn=collate)
    logger = ImageLogger()
    module = LightningBrickCollection(model, optimizer={"name": "SGD", "lr": 0.01}, log_visualizations=3)
    trainer = pl.Trainer(
        max_epochs=1,
        limit_train_batches=1,
        accelerator="cpu",
        logger=[logger, pl.loggers.CSVLogger(tmp_path)],
        enable_progress_bar=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, loader, loader)
    keys = sorted(key for key, _, _ in logger.images)
    assert keys == [f"val/{task}/visualization" for task in ("centres", "segmentation", "shapes")]
    for _, images, step in logger.images:
        assert step == 1
        assert images[0].size == (3 * 256, 256)  # the first 3 validation images side by side
    quiet_module = LightningBrickCollection(model, log_visualizations=0)
    silent = ImageLogger()
    pl.Trainer(
        max_epochs=1,
        limit_train_batches=1,
        accelerator="cpu",
        logger=silent,
        enable_progress_bar=False,
        enable_checkpointing=False,
    ).fit(quiet_module, loader, loader)
    assert silent.images == []


def test_channels_last_trains_the_same_model_in_another_memory_layout(tmp_path: Path) -> None:
    plain = train(quiet(tiny_config()), tmp_path / "plain", progress=False)
    fast = train(quiet(tiny_config(channels_last=True)), tmp_path / "fast", progress=False)
    assert json.loads((tmp_path / "fast" / "config.json").read_text())["channels_last"] is True
    for task, values in plain.items():
        if task != "_run":
            assert fast[task] == pytest.approx(values, abs=0.05), task  # same training, rounding aside
    weights = load_model(tmp_path / "fast" / "model").state_dict()
    reference = load_model(tmp_path / "plain" / "model").state_dict()
    assert weights.keys() == reference.keys()
    assert all(value.is_contiguous() for value in weights.values())
    for name, value in weights.items():
        assert torch.allclose(value, reference[name], atol=1e-2), name


@pytest.mark.parametrize("count", [-1, 2.5, True])
def test_a_bad_number_of_pictures_is_refused_by_name(count: Any) -> None:
    from torchbricks import build_model

    with pytest.raises(ValueError, match="log_visualizations must be a number of images >= 0"):
        LightningBrickCollection(build_model(tiny_config()["model"]), log_visualizations=count)


def test_lightning_callbacks_from_the_config_run_in_the_train_run(tmp_path: Path) -> None:
    config = validated_every_step(6)
    config["callbacks"] = [
        {"name": "LearningRateMonitor", "logging_interval": "step"},
        # stops at the first validation whose mean IoU reaches 0: the first one
        {"name": "EarlyStopping", "monitor": MONITOR, "mode": "max", "stopping_threshold": 0.0},
    ]
    report = train(config, tmp_path, progress=False)
    assert report["_run"]["steps"] == 1  # not the 6 of max_steps
    header = (tmp_path / "logs" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert any(name.startswith("lr-AdamW") for name in header), header
