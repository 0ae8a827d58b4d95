"""Fine-tuning: frozen parts keep weights and batch-norm statistics until ``unfreeze_at_step``; a rate per part."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from tests.training.conftest import tiny_config
from torchbricks import BrickCollection, BrickLoss, BrickMetricSingle, BrickTrainable, load_model
from torchbricks.errors import ConfigError
from torchbricks.training import LightningBrickCollection, check_training, collate, train

pytestmark = pytest.mark.usefixtures("single_thread")


def small_model() -> BrickCollection:
    """A backbone with batch-norm, a neck and one task: the assembler's part names, small enough to train fast."""
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
    return BrickCollection(
        {
            "backbone": BrickTrainable(backbone, ["images"], ["features"]),
            "neck": BrickTrainable(nn.Flatten(), ["features"], ["flat"]),
            "kind": {
                "head": BrickTrainable(nn.Linear(8, 3), ["flat"], ["./logits"]),
                "loss": BrickLoss(nn.CrossEntropyLoss(), ["./logits", "targets"], ["./loss"]),
                "accuracy": BrickMetricSingle(MulticlassAccuracy(num_classes=3), ["./logits", "targets"]),
            },
        }
    )


def loader(count: int = 32, batch_size: int = 8) -> torch.utils.data.DataLoader:
    generator = torch.Generator().manual_seed(1)
    samples = [
        {"images": torch.rand(3, 8, 8, generator=generator), "targets": torch.randint(0, 3, (), generator=generator)}
        for _ in range(count)
    ]
    return torch.utils.data.DataLoader(samples, batch_size=batch_size, collate_fn=collate)


class Recorder(pl.Callback):
    """The backbone's state (weights and batch-norm statistics) and each group's learning rate before every step."""

    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []
        self.rates: list[list[float]] = []
        self.trainable: list[bool] = []

    def on_train_batch_start(self, trainer: Any, module: Any, *arguments: Any) -> None:
        backbone = module.brick_collection.backbone
        self.states.append({name: value.detach().clone() for name, value in backbone.state_dict().items()})
        self.rates.append([group["lr"] for group in trainer.optimizers[0].param_groups])
        self.trainable.append(backbone.model[1].training)


def fit(module: LightningBrickCollection, steps: int) -> Recorder:
    recorder = Recorder()
    trainer = pl.Trainer(
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        callbacks=[recorder],
    )
    trainer.fit(module, loader())
    recorder.states.append({k: v.detach().clone() for k, v in module.brick_collection.backbone.state_dict().items()})
    return recorder


def same(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(first[name], second[name]) for name in first)


def test_a_frozen_backbone_keeps_weights_and_batch_norm_statistics_until_unfrozen() -> None:
    model = small_model()
    module = LightningBrickCollection(
        model,
        optimizer={"name": "AdamW", "lr": 0.05},
        scheduler={"name": "warmup_cosine", "warmup_fraction": 0.5},
        freeze=["backbone"],
        unfreeze_at_step=2,
        lr_multipliers={"backbone": 0.1},
    )
    neck_and_head_before = model.kind.head.model.weight.detach().clone()
    recorder = fit(module, steps=5)
    initial, *_ = recorder.states
    assert same(recorder.states[1], initial)
    assert same(recorder.states[2], initial)
    assert not recorder.trainable[0]
    assert not recorder.trainable[1]
    assert recorder.trainable[3]  # unfrozen at step 2 (callbacks see a step before the module does)
    final = recorder.states[-1]
    assert not torch.equal(final["model.0.weight"], initial["model.0.weight"])  # trained after step 2
    assert not torch.equal(final["model.1.running_mean"], initial["model.1.running_mean"])
    assert int(final["model.1.num_batches_tracked"]) == 3  # steps 2, 3 and 4 only
    assert not torch.equal(model.kind.head.model.weight, neck_and_head_before)
    for rates in recorder.rates[1:]:  # the schedule scales each group: the backbone's stays a tenth of the rest's
        assert rates[1] == pytest.approx(rates[0] * 0.1)
    assert recorder.rates[1][0] != recorder.rates[-1][0]  # and the schedule did move


def test_frozen_parts_are_in_the_optimizer_from_the_start() -> None:
    module = LightningBrickCollection(small_model(), freeze="backbone", unfreeze_at_step=10)
    optimizer = module.configure_optimizers()
    in_optimizer = {id(parameter) for group in optimizer.param_groups for parameter in group["params"]}
    assert {id(parameter) for parameter in module.brick_collection.parameters()} <= in_optimizer
    assert not any(parameter.requires_grad for parameter in module.brick_collection.backbone.parameters())


def test_unknown_parts_and_bad_settings_are_refused_with_close_matches() -> None:
    with pytest.raises(ConfigError, match=r"unknown part 'backbon'. Did you mean 'backbone'\?"):
        LightningBrickCollection(small_model(), freeze=["backbon"])
    with pytest.raises(ConfigError, match=r"kind/haed: unknown part 'kind/haed'. Did you mean 'kind/head'"):
        LightningBrickCollection(small_model(), lr_multipliers={"kind/haed": 2})
    with pytest.raises(ConfigError, match=r"lr_multipliers.neck: must be a positive number, got -1"):
        LightningBrickCollection(small_model(), lr_multipliers={"neck": -1})
    with pytest.raises(ConfigError, match=r"'neck' has no trainable parameters"):
        LightningBrickCollection(small_model(), freeze=["neck"])
    with pytest.raises(ConfigError, match=r"unfreeze_at_step: nothing is frozen"):
        LightningBrickCollection(small_model(), unfreeze_at_step=3)


def test_the_train_config_checks_part_names_before_the_run(tmp_path: Path) -> None:
    config = tiny_config(finetune={"freeze": ["backbone", "segmentaton"], "unfreeze_at_step": 0})
    config["optimizer"]["lr_multipliers"] = {"nek": 0.5, "centres/head": "fast"}
    with pytest.raises(ConfigError) as refused:
        check_training(config)
    message = str(refused.value)
    assert "finetune.unfreeze_at_step: must be a positive number of steps, got 0" in message
    assert "optimizer.lr_multipliers.centres/head: must be a positive number, got 'fast'" in message
    config["finetune"]["unfreeze_at_step"] = 5
    config["optimizer"]["lr_multipliers"]["centres/head"] = 2
    with pytest.raises(ConfigError) as refused:
        check_training(config)
    message = str(refused.value)
    assert "finetune.freeze[1]: unknown part 'segmentaton'. Did you mean 'segmentation'?" in message
    assert "optimizer.lr_multipliers.nek: unknown part 'nek'. Did you mean 'neck'?" in message
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_a_train_run_fine_tunes_with_the_backbone_frozen(tmp_path: Path) -> None:
    """Two runs with a frozen backbone (1 and 2 steps) save the same backbone; their other parts differ."""
    saved = []
    for steps in (1, 2):
        config = tiny_config(finetune={"freeze": ["backbone"]}, threads=1, visualizations=0)
        config["data"]["validation"] = []
        config["trainer"].update(max_steps=steps, enable_progress_bar=False)
        config["optimizer"]["lr_multipliers"] = {"neck": 0.5}
        train(config, tmp_path / str(steps), progress=False)
        saved.append(load_model(tmp_path / str(steps) / "model"))
    settings = json.loads((tmp_path / "2" / "config.json").read_text())
    assert settings["finetune"] == {"freeze": ["backbone"], "unfreeze_at_step": None}
    assert settings["optimizer"]["lr_multipliers"] == {"neck": 0.5}
    first, second = (model.state_dict() for model in saved)
    backbone = [name for name in first if name.startswith("backbone.")]
    assert backbone
    assert all(torch.equal(first[name], second[name]) for name in backbone)
    neck = [name for name in first if name.startswith("neck.") and first[name].is_floating_point()]
    assert any(not torch.equal(first[name], second[name]) for name in neck)
