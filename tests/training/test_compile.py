"""``compile``: the training forward under ``torch.compile`` trains like eager; a failing backend trains eagerly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch

from tests.training.conftest import tiny_config
from tests.training.test_finetune import loader, small_model
from torchbricks.errors import CompileFallbackWarning, ConfigError
from torchbricks.training import LightningBrickCollection, check_training, train

pytestmark = pytest.mark.usefixtures("single_thread")


class Losses(pl.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, *arguments: Any) -> None:
        self.losses.append(float(outputs["loss"]))


def losses_of(compile: Any, steps: int = 4) -> tuple[list[float], LightningBrickCollection, dict[str, Any]]:
    module = LightningBrickCollection(small_model(), optimizer={"name": "SGD", "lr": 0.1}, compile=compile)
    recorder = Losses()
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
    return recorder.losses, module, dict(trainer.callback_metrics)


@pytest.mark.slow
def test_compiled_training_matches_eager_losses_and_metrics() -> None:
    torch._dynamo.reset()
    eager, _, eager_logged = losses_of(False)
    compiled, module, compiled_logged = losses_of({"backend": "aot_eager"})
    assert module.compile_failure is None
    assert module._compiled is not None
    assert module._compiled.compiled is not None
    assert compiled == pytest.approx(eager, rel=1e-5)
    assert eager[0] != eager[-1]  # it did train
    accuracy = "train/kind/MulticlassAccuracy"
    assert float(compiled_logged[accuracy]) == float(eager_logged[accuracy])
    timing = module.step_timing()
    assert len(module.step_seconds) == 4
    assert timing["first_step_seconds"] > timing["step_seconds"]


@pytest.mark.slow
def test_a_backend_that_is_not_installed_warns_once_and_trains_eagerly() -> None:
    """``tvm`` is a backend torch knows, but apache-tvm is not installed: compiling fails on the first step."""
    eager, _, _ = losses_of(False, steps=3)
    with pytest.warns(CompileFallbackWarning) as warned:
        fallen_back, module, _ = losses_of({"backend": "tvm"}, steps=3)
    messages = [str(warning.message) for warning in warned if warning.category is CompileFallbackWarning]
    assert len(messages) == 1
    assert messages[0].startswith("compile: backend 'tvm' failed (ImportError: Please install apache-tvm")
    assert messages[0].endswith("training continues eagerly")
    assert "\n" not in messages[0]
    assert module.compile_failure == messages[0]
    assert fallen_back == eager  # the same steps, eagerly


def test_unknown_backends_and_options_are_config_problems() -> None:
    config = tiny_config(compile={"backend": "nonexistent", "mod": "max-autotune"})
    with pytest.raises(ConfigError) as refused:
        check_training(config)
    message = str(refused.value)
    assert "compile.backend: unknown backend 'nonexistent'." in message
    assert "Backends: aot_eager," in message
    assert "compile.mod: unknown key. Did you mean 'mode'?" in message
    with pytest.raises(ConfigError, match=r"compile.backend: unknown backend 'inductr'. Did you mean 'inductor'"):
        LightningBrickCollection(small_model(), compile={"backend": "inductr"})
    with pytest.raises(ConfigError, match=r"compile: must be true, false or"):
        check_training(tiny_config(compile="yes"))


@pytest.mark.slow
def test_compile_true_trains_with_inductor_like_eager() -> None:
    """The one inductor test (compiling takes 10-40 s on 2 cores; the demo's model several minutes)."""
    torch._dynamo.reset()
    eager, _, _ = losses_of(False, steps=3)
    compiled, module, _ = losses_of(True, steps=3)
    assert module.compile_failure is None
    assert module._compiled is not None
    assert module._compiled.backend == "inductor"
    assert compiled == pytest.approx(eager, rel=1e-4)


def test_a_train_run_reports_a_failed_compile_and_trains(tmp_path: Path) -> None:
    config = tiny_config(compile={"backend": "tvm"}, threads=1, visualizations=0)
    config["data"]["validation"] = []
    config["trainer"].update(max_steps=1, enable_progress_bar=False)
    with pytest.warns(CompileFallbackWarning, match="backend 'tvm' failed"):
        report = train(config, tmp_path, progress=False)
    run = json.loads((tmp_path / "run.json").read_text())
    assert run == report["_run"]
    assert run["compiled"] is False
    assert run["steps"] == 1
    assert json.loads((tmp_path / "config.json").read_text())["compile"] == {"backend": "tvm"}


@pytest.mark.slow
def test_a_compiled_train_run_reports_the_first_step_apart(tmp_path: Path) -> None:
    config = tiny_config(compile={"backend": "aot_eager"}, threads=1, visualizations=0)
    config["data"]["validation"] = []
    config["trainer"].update(max_steps=3, enable_progress_bar=False)
    report = train(config, tmp_path, progress=False)
    run = report["_run"]
    assert run["compiled"] is True
    assert run["steps"] == 3
    assert run["first_step_seconds"] > 2 * run["step_seconds"]  # the first step compiled
