"""Issue 17: runs that would train nothing, diverge or that Lightning refuses are refused by their key before
anything is written; an earlier run's ``model/`` stays loadable. Also the progress lines, the step-counting
progress bar, users' own callbacks by import path and one checkpoint file per run.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import shutil
import warnings
from pathlib import Path
from typing import Any, ClassVar

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from tests.helpers.files import snapshot
from tests.training.conftest import tiny_config
from torchbricks import BrickCollection, BrickLoss, BrickTrainable, load_model
from torchbricks.errors import ConfigError, TrainingDivergedError
from torchbricks.training import LightningBrickCollection, check_training, train
from torchbricks.training._trainer_checks import available_cores

CORES = available_cores()


def small_config() -> dict[str, Any]:
    """One multi-label task on 8 generated images of 32 pixels, 2 steps."""
    config = tiny_config(
        model={
            "backbone": {"name": "resnet18", "levels": [4]},
            "tasks": {"shapes": {"task": "multilabel_classification", "num_classes": 3, "targets": "shape_present"}},
            "input_shape": [3, 32, 32],
        }
    )
    config["data"].update({"batch_size": 4})
    config["data"]["train"][0]["count"] = 8
    config["data"]["validation"][0]["count"] = 4
    config["trainer"]["enable_progress_bar"] = False
    return config


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished small run (copied by each test that uses it)."""
    folder = tmp_path_factory.mktemp("finished") / "run"
    train(small_config(), folder, progress=False)
    return folder


@pytest.fixture
def earlier(finished: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the finished run in ``tmp_path/run``; the working folder is the empty ``tmp_path/cwd``."""
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return Path(shutil.copytree(finished, tmp_path / "run"))


def assert_nothing_changed(tmp_path: Path, before: dict[str, str]) -> None:
    assert snapshot(tmp_path) == before  # the run folder and everything beside it (the working folder too)
    assert not (tmp_path / "run" / "running").exists()
    assert load_model(tmp_path / "run" / "model").config["tasks"]["shapes"]["num_classes"] == 3


REFUSED = [
    (["trainer.max_steps=0"], "trainer.max_steps: must be a positive number of steps (-1: no limit), got 0"),
    (["trainer.max_steps=-5"], "trainer.max_steps: must be a positive number of steps (-1: no limit), got -5"),
    (["trainer.max_epochs=0"], "trainer.max_epochs: must be a positive number of epochs (-1: no limit), got 0"),
    (["trainer.limit_train_batches=0"], "trainer.limit_train_batches: must be a number of batches (> 0)"),
    (["trainer.limit_train_batches=0.1"], "trainer.limit_train_batches: 0.1 of the 2 training batches is no batch"),
    (["data.batch_size=0"], "data.batch_size: must be a positive integer, got 0"),
    (["data.batch_size=9"], "data.batch_size: 9 is more than the 8 training samples (data.train); the last"),
    (["data.batch_size=1"], "data.batch_size: 1 cannot train batch-norm layers ('backbone."),
    (["optimizer.lr=.nan"], "optimizer.lr: must be a finite number, got nan"),
    (["optimizer.lr=nan"], "optimizer.lr: must be a finite number, got nan"),
    (["optimizer.lr=fast"], "optimizer.lr: expected float or Tensor, got str 'fast'"),
    (["optimizer.lr=-1"], "optimizer.lr: Invalid learning rate: -1"),
    (["optimizer.betas=[2, 0.9]"], "optimizer.betas: Invalid beta parameter at index 0"),
    (["seed=1099511627776"], "seed: must be from 0 to 4294967295 (NumPy's seeds are 32-bit), got 1099511627776"),
    (["data.train.0.image_size=100000"], "data.train[0].image_size: must be from 1 to 8192 pixels, got 100000"),
    (["trainer.enable_checkpointing=false"], "trainer.enable_checkpointing: set by the train run: it keeps"),
    (["trainer.plugins=[x]"], "trainer.plugins: set by the train run (Lightning plugins are Python objects"),
    (["trainer.strategy=fsdp"], "trainer.strategy: The strategy `fsdp` requires a GPU accelerator"),
    (["trainer.precision=bf17"], "trainer.precision: Precision 'bf17' is invalid."),
    (["checkpoint.monitor=val/nope"], "checkpoint.monitor: 'val/nope' is not logged. Logged: val/loss,"),
    (
        ["checkpoint.monitor=val/shapes/f2"],
        "checkpoint.monitor: 'val/shapes/f2' is not logged. Did you mean 'val/shapes/f1'",
    ),
    (
        ["callbacks=[{name: EarlyStopping, monitor: val/shapes/exact_mach}]"],
        "callbacks[0].monitor: 'val/shapes/exact_mach' is not logged. Did you mean 'val/shapes/exact_match'",
    ),
    (["data.validation=[]", "checkpoint.monitor=val/loss"], "checkpoint.monitor: 'val/loss' is logged only with"),
    (
        [f"trainer.devices={CORES + 1}"],
        f"trainer.devices: {CORES + 1} CPU processes on {CORES} cores would oversubscribe the CPU",
    ),
    (["callbacks=[{name: no_such_package.callbacks.Timer}]"], "callbacks[0].name: cannot import 'no_such_package."),
    (["callbacks=[{name: json.dumps}]"], "callbacks[0].name: 'json.dumps' is not a Lightning Callback class"),
]
if not torch.cuda.is_available():
    REFUSED.append((["trainer.accelerator=gpu"], "trainer.accelerator: No supported gpu backend found!"))
    REFUSED.append((["trainer.accelerator=cuda"], "trainer.accelerator: `CUDAAccelerator` can not run on your system"))
if importlib.util.find_spec("deepspeed") is None:
    REFUSED.append((["trainer.strategy=deepspeed"], "trainer.strategy: To use the `DeepSpeedStrategy`, you must have"))


@pytest.mark.parametrize(("overrides", "expected"), REFUSED, ids=[" ".join(case[0]) for case in REFUSED])
def test_refused_by_its_key_before_anything_is_written(
    earlier: Path, tmp_path: Path, overrides: list[str], expected: str
) -> None:
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError) as error:
        train(small_config(), earlier, overrides=overrides, progress=False)
    message = str(error.value)
    assert message.startswith("1 problem(s) in the train config:\n"), message
    assert expected in message.splitlines()[1], message  # the problem is one line, naming its key
    assert_nothing_changed(tmp_path, before)


def test_check_refuses_the_same_and_accepts_what_is_asked_for_explicitly() -> None:
    with pytest.raises(ConfigError, match=r"data\.batch_size: 9 is more than the 8 training samples"):
        check_training(small_config(), ["data.batch_size=9"])
    processes = [f"trainer.devices={CORES + 1}", f"data.train.0.count={4 * (CORES + 1)}"]
    with pytest.raises(ConfigError, match=f"trainer.devices: {CORES + 1} CPU processes on {CORES} cores"):
        check_training(small_config(), processes)
    settings = check_training(small_config(), [*processes, "allow_oversubscription=true"])
    assert settings["trainer"]["devices"] == CORES + 1  # asked for explicitly: not refused
    assert check_training(small_config(), ["checkpoint.monitor=val/shapes/f1"])["checkpoint"]["monitor"]
    with pytest.raises(ConfigError, match="allow_oversubscription: must be true or false, got 2"):
        check_training(small_config(), ["allow_oversubscription=2"])


def test_the_train_command_reports_a_lightning_refusal_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from torchbricks.cli import main

    path = tmp_path / "train.json"
    path.write_text(json.dumps(small_config()))
    assert main(["train", str(path), "--output", str(tmp_path / "out"), "--set", "trainer.max_steps=-5"]) == 1
    error = capsys.readouterr().err
    assert "trainer.max_steps: must be a positive number of steps (-1: no limit), got -5" in error
    assert "Traceback" not in error
    assert "MisconfigurationException" not in error
    assert not (tmp_path / "out").exists()
    assert main(["train", str(path), "--check", "--set", "trainer.strategy=fsdp"]) == 1
    assert "trainer.strategy: The strategy `fsdp` requires a GPU accelerator" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", str(path), "--threads", "0"])
    assert "invalid positive int value: '0'" in capsys.readouterr().err


def test_a_diverging_run_stops_with_its_step_and_task_and_keeps_the_earlier_run(
    earlier: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from torchbricks.cli import main

    config = small_config()
    config["optimizer"] = {"name": "SGD", "lr": 1e30}
    config["scheduler"] = None
    path = tmp_path / "diverging.json"
    path.write_text(json.dumps(config))
    before = snapshot(tmp_path)
    assert main(["train", str(path), "--output", str(earlier)]) == 1
    error = capsys.readouterr().err
    assert "Traceback" not in error
    assert "torchbricks train: training diverged at step " in error
    assert "loss of task 'shapes' is " in error or "the weights '" in error, error
    assert f"nothing was saved ('{earlier}' is as it was)" in error
    assert_nothing_changed(tmp_path, before)


class NaNLoss(nn.Module):
    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features.mean() * float("nan")


class MeanLoss(nn.Module):
    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features.mean()


@pytest.mark.parametrize(("step", "stage"), [("training_step", "training"), ("validation_step", "validation")])
def test_the_module_names_the_task_whose_loss_is_not_finite(step: str, stage: str) -> None:
    collection = BrickCollection(
        {
            "good": {
                "head": BrickTrainable(nn.Linear(2, 2), ["x"], ["./y"]),
                "loss": BrickLoss(MeanLoss(), ["./y"], ["./loss"]),
            },
            "bad": {"loss": BrickLoss(NaNLoss(), ["x"], ["./loss"])},
        }
    )
    module = LightningBrickCollection(collection)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log without a Trainer
        with pytest.raises(TrainingDivergedError) as error:
            getattr(module, step)({"x": torch.rand(3, 2)}, 0)
    prefix = "train" if stage == "training" else "val"
    assert str(error.value).startswith(
        f"training diverged at step 0: the {stage} loss of task 'bad' is nan ({prefix}/bad/loss);"
    )
    assert isinstance(error.value, FloatingPointError)  # what the module raised before


class StepCounter(pl.callbacks.Callback):
    """A user's own callback (named by its import path in the config)."""

    steps: ClassVar[list[int]] = []

    def __init__(self, label: str = "") -> None:
        self.label = label

    def on_train_batch_end(self, trainer: Any, *_: Any) -> None:
        StepCounter.steps.append(int(trainer.global_step))


def test_progress_lines_a_users_callback_and_one_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    StepCounter.steps.clear()
    config = small_config()
    config["callbacks"] = [{"name": f"{__name__}.StepCounter", "label": "mine"}]
    train(config, tmp_path / "run", progress="lines")
    error = capsys.readouterr().err
    assert "step 1/2 (50%)  loss " in error
    assert "step 2/2 (100%)  loss " in error
    assert "validation at step 2: loss " in error
    assert StepCounter.steps == [1, 2]
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["callbacks"] == [{"name": f"{__name__}.StepCounter", "label": "mine"}]
    assert sorted(path.name for path in (tmp_path / "run" / "checkpoints").iterdir()) == ["last.ckpt"]


def test_the_progress_bar_counts_steps_not_epochs(capsys: pytest.CaptureFixture[str]) -> None:
    from torchbricks.training._data import collate
    from torchbricks.training._progress import step_progress_bar

    collection = BrickCollection(
        {
            "head": BrickTrainable(nn.Linear(2, 2), ["x"], ["y"]),
            "loss": BrickLoss(MeanLoss(), ["y"], ["loss"]),
        }
    )
    loader = torch.utils.data.DataLoader([{"x": torch.rand(2)} for _ in range(4)], batch_size=2, collate_fn=collate)
    trainer = pl.Trainer(
        max_steps=5, accelerator="cpu", logger=False, enable_checkpointing=False, callbacks=[step_progress_bar(pl)]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(LightningBrickCollection(collection, optimizer={"name": "SGD", "lr": 0.1}), loader)
    shown = capsys.readouterr().out  # Lightning's bars write to stdout
    assert "Steps: 100%" in shown
    assert "5/5" in shown
    assert "Epoch" not in shown


def test_a_relative_root_in_a_config_file_is_relative_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.bag_of_bricks.test_datasets import write_image_folder

    yaml = pytest.importorskip("yaml")
    project = tmp_path / "project"
    write_image_folder(project / "animals", per_class=2)
    config = small_config()
    config["model"]["tasks"] = {"kind": {"task": "image_classification", "num_classes": 2}}
    config["data"] = {"train": [{"name": "image_folder", "root": "animals", "image_size": 32}], "batch_size": 2}
    (project / "train.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    settings = check_training(project / "train.yaml")
    assert settings["data"]["train"][0]["root"] == str(project / "animals")
    with pytest.raises(ConfigError, match=r"data\.train\[0\]: image_folder: root 'animals' is not a folder"):  # --set
        check_training(project / "train.yaml", ["data.train.0.root=animals"])
    monkeypatch.chdir(project)
    assert check_training(copy.deepcopy(config))["data"]["train"][0]["root"] == "animals"  # a dict: as it is
