"""Train config: overrides, defaults and every problem reported with its path before anything runs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.training.conftest import tiny_config
from torchbricks.errors import ConfigError
from torchbricks.training import apply_overrides, load_train_config


def problems_of(config: dict[str, Any], overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(ConfigError) as error:
        load_train_config(config, overrides)
    return str(error.value)


def test_defaults_are_filled_in(config: dict[str, Any]) -> None:
    resolved = load_train_config(config)
    assert resolved["seed"] == 0
    assert resolved["model"]["backbone"]["name"] == "torchbricks:resnet18"
    assert resolved["data"]["num_workers"] == 0
    assert resolved["checkpoint"] == {"monitor": None, "mode": "max"}
    assert resolved["channels_last"] is False


def test_channels_last_is_read_from_the_config_and_from_overrides(config: dict[str, Any]) -> None:
    assert load_train_config({**config, "channels_last": True})["channels_last"] is True
    assert load_train_config(config, ("channels_last=true",))["channels_last"] is True
    assert "channels_last: must be true or false, got 'yes'" in problems_of({**config, "channels_last": "yes"})


def test_overrides_set_dotted_paths_and_list_items(config: dict[str, Any]) -> None:
    changed = apply_overrides(
        config, ["trainer.max_steps=7", "data.train[0].count=4", "optimizer.lr=0.5", "new.key=[1, 2]"]
    )
    assert changed["trainer"]["max_steps"] == 7
    assert changed["data"]["train"][0]["count"] == 4
    assert changed["optimizer"]["lr"] == 0.5
    assert changed["new"] == {"key": [1, 2]}
    assert config["trainer"]["max_steps"] == 2  # the input is not changed


def test_overrides_reach_list_items_by_a_dotted_index(config: dict[str, Any]) -> None:
    changed = apply_overrides(config, ["data.train.0.count=4", "data.validation.0.seed=5", "model.input_shape.1=64"])
    assert changed["data"]["train"][0]["count"] == 4
    assert changed["data"]["validation"][0]["seed"] == 5
    assert changed["model"]["input_shape"] == [3, 64, 32]
    assert apply_overrides({"a": {"0": 1}}, ["a.0=2"]) == {"a": {"0": 2}}  # in a mapping, 0 is a key


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("novalue", "must be key=value"),
        ("=3", "must be key=value"),
        ("data.train[9].count=1", "no item [9] there (the list has 1)"),
        ("data.train.9.count=1", "no item [9] there (the list has 1)"),
        ("data.train.first.count=1", "'first' is inside a list; use an item's index (data.train.0.count)"),
        ("data.batch_size.x=1", "'x' is not inside a mapping"),
        ("data[0]=1", "no item [0] there"),
    ],
)
def test_bad_overrides_are_reported(config: dict[str, Any], override: str, expected: str) -> None:
    with pytest.raises(ConfigError, match="--set") as error:
        apply_overrides(config, [override])
    assert expected in str(error.value)


@pytest.mark.parametrize(
    ("override", "section", "key", "expected"),
    [
        ("optimizer.lr=1e-3", "optimizer", "lr", 0.001),
        ("optimizer.weight_decay=1E-4", "optimizer", "weight_decay", 0.0001),
        ("optimizer.betas=[9e-1, 0.99]", "optimizer", "betas", [0.9, 0.99]),
        ("trainer.max_steps=1e3", "trainer", "max_steps", 1000),
        ("trainer.gradient_clip_val=5e-1", "trainer", "gradient_clip_val", 0.5),
        ("scheduler.warmup_fraction=5e-2", "scheduler", "warmup_fraction", 0.05),
    ],
)
def test_values_are_converted_to_the_type_the_argument_takes(
    config: dict[str, Any], override: str, section: str, key: str, expected: Any
) -> None:
    value = load_train_config(config, (override,))[section][key]
    assert value == expected
    assert type(value) is type(expected)


def test_a_callbacks_numbers_are_converted(config: dict[str, Any]) -> None:
    config["callbacks"] = [{"name": "EarlyStopping", "monitor": "val/loss", "min_delta": "1e-3", "patience": "2"}]
    assert load_train_config(config)["callbacks"][0] == {
        "name": "EarlyStopping",
        "monitor": "val/loss",
        "min_delta": 0.001,
        "patience": 2,
    }


def test_yaml_numbers_without_a_dot_are_floats_and_check_prints_them(tmp_path, capsys, config) -> None:
    yaml = pytest.importorskip("yaml")
    from torchbricks.cli import main

    config["optimizer"] = {"name": "AdamW", "lr": "placeholder"}
    text = yaml.safe_dump(config).replace("lr: placeholder", "lr: 3e-4")
    assert "lr: 3e-4" in text
    path = tmp_path / "train.yaml"
    path.write_text(text)
    assert yaml.safe_load(text)["optimizer"]["lr"] == "3e-4"  # PyYAML reads it as text
    assert load_train_config(path)["optimizer"]["lr"] == 0.0003
    assert main(["train", str(path), "--check"]) == 0
    assert '"lr": 0.0003' in capsys.readouterr().out
    assert main(["train", str(path), "--check", "--set", "optimizer.lr=fast"]) == 1
    assert "optimizer.lr: expected float or Tensor, got str 'fast'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("modell={}", "modell: unknown key. Did you mean 'model'?"),
        ("model.tasks.shapes.num_clases=3", "model.tasks.shapes.num_clases: unknown argument"),
        ("model.backbone.name=resnet9000", "model.backbone.name:"),
        ("data.train[0].name=shapez", "data.train[0].name:"),
        ("data.train[0].cont=3", "data.train[0].cont: unknown argument"),
        ("data.batch_size=0", "data.batch_size: must be a positive integer"),
        (
            "callbacks=[{name: EarlyStoping}]",
            "callbacks[0].name: unknown Lightning callback 'EarlyStoping'. Did you mean",
        ),
        ("callbacks=[{name: ModelCheckpoint}]", "callbacks[0].name: ModelCheckpoint is set by the train run"),
        ("callbacks=[{name: LearningRateMonitor, logging_intervl: step}]", "callbacks[0].logging_intervl: unknown"),
        ("callbacks={name: EarlyStopping}", "callbacks: must be a list"),
        ("trainer.callbacks=[]", "trainer.callbacks: set by the train run (callbacks: [{name"),
        ("data.num_workers=-1", "data.num_workers: must be an integer >= 0"),
        ("data.shuffle=true", "data.shuffle: unknown key"),
        ("data.train=[]", "data.train: missing"),
        ("trainer.max_stepz=3", "trainer.max_stepz: unknown argument"),
        ("trainer.logger=false", "trainer.logger: set by the train run"),
        ("optimizer.name=Adamm", "optimizer.name: unknown optimizer 'Adamm'"),
        ("optimizer.lrr=0.1", "optimizer.lrr: unknown argument"),
        ("scheduler.name=nope", "scheduler.name: unknown scheduler"),
        ("scheduler.warmup=0.1", "scheduler.warmup: unknown argument"),
        ("seed=abc", "seed: must be an integer"),
        ("checkpoint.mode=up", "checkpoint.mode: must be 'min' or 'max'"),
        ("checkpoint.every=3", "checkpoint.every: unknown key"),
        ("metrics_every_n_steps=0", "metrics_every_n_steps: must be a positive integer"),
        ("train_groups=MODEL", "train_groups: must be a list"),
        ("visualizations=-1", "visualizations: must be a number"),
        ("channels_last='yes'", "channels_last: must be true or false, got 'yes'"),
        ("channels_last=1", "channels_last: must be true or false, got 1"),
        # takes text too (a duration): not converted, and Lightning's refusal names its key
        ("trainer.val_check_interval=1e3", "trainer.val_check_interval: Invalid time format for `val_check_interval`"),
        ("optimizer.lr=fast", "optimizer.lr: expected float or Tensor, got str 'fast'"),
        ("allow_oversubscription=1", "allow_oversubscription: must be true or false, got 1"),
    ],
)
def test_every_config_problem_names_its_path(config: dict[str, Any], override: str, expected: str) -> None:
    assert expected in problems_of(config, (override,))


def test_all_problems_are_reported_at_once() -> None:
    message = problems_of(tiny_config(seed="x", optimizer={"name": "Nope"}), ("data.batch_size=0",))
    assert message.startswith("3 problem(s) in the train config")


def test_missing_model_and_data() -> None:
    message = problems_of({})
    assert "model: missing" in message
    assert "data: missing" in message


def test_the_train_command_reports_config_problems_in_one_line(tmp_path, capsys, config: dict[str, Any]) -> None:
    import json

    from torchbricks.cli import main

    path = tmp_path / "train.json"
    path.write_text(json.dumps(config))
    assert main(["train", str(path), "--output", str(tmp_path / "out"), "--set", "optimizer.name=Adamm"]) == 1
    captured = capsys.readouterr()
    assert "optimizer.name: unknown optimizer" in captured.err
    assert not (tmp_path / "out").exists()  # nothing ran
    assert main(["train", str(path), "--check"]) == 0
    assert '"max_steps": 2' in capsys.readouterr().out
