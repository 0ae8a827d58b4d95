"""`train` goes from config to model in one pass: the model config is resolved once, each dataset looked up once."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import torchbricks.assembly._config
import torchbricks.assembly._parts
import torchbricks.registry._api
import torchbricks.training._config
import torchbricks.training._run
from tests.training.conftest import tiny_config
from torchbricks import registry
from torchbricks.errors import ConfigError
from torchbricks.training import train


def count_calls(monkeypatch: pytest.MonkeyPatch, original: Callable[..., Any]) -> list[tuple[Any, ...]]:
    """Wrap ``original`` under its name in every loaded module that holds it; returns the calls' arguments."""
    calls: list[tuple[Any, ...]] = []

    def counting(*arguments: Any, **keywords: Any) -> Any:
        calls.append(arguments)
        return original(*arguments, **keywords)

    patched = 0
    for module in list(sys.modules.values()):
        if vars(module).get(original.__name__) is original:  # vars(): no lazy or deprecated __getattr__
            monkeypatch.setattr(module, original.__name__, counting)
            patched += 1
    assert patched, f"{original.__name__} is held by no module"
    return calls


def one_step_config() -> dict[str, Any]:
    config = tiny_config(visualizations=0, scheduler=None)
    config["trainer"].update({"max_steps": 1, "enable_progress_bar": False})
    return config


def test_train_resolves_the_model_config_once_and_looks_each_dataset_up_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolutions = count_calls(monkeypatch, torchbricks.assembly._config.resolve_config)
    parts = count_calls(monkeypatch, torchbricks.assembly._parts.resolve_part)
    lookups = count_calls(monkeypatch, torchbricks.registry._api.get_entry)
    report = train(one_step_config(), tmp_path, progress=False)
    assert report["_run"]["steps"] == 1
    assert len(resolutions) == 1
    assert [arguments[2] for arguments in parts if arguments[0] == "datasets"] == [
        "data.train[0]",
        "data.validation[0]",
    ]
    assert [arguments[:2] for arguments in lookups if arguments[0] == "datasets"] == [
        ("datasets", "shapes"),
        ("datasets", "shapes"),
    ]


def test_a_task_given_a_labelled_input_it_does_not_accept_is_still_reported(tmp_path: Path) -> None:
    """Partial targets add ``labelled`` after resolution; the assembler checks it like any argument."""
    from bag_of_bricks.tasks import image_classification

    def no_labelled_task(num_classes: int, in_channels: int, features: str = "features", targets: str = "targets"):
        return image_classification(num_classes, in_channels, features=features, targets=targets)

    registry.register("tasks", "tests_no_labelled_task", no_labelled_task)
    try:
        from tests.bag_of_bricks.test_datasets import write_image_folder

        classes = write_image_folder(tmp_path / "classes", per_class=2)
        config = one_step_config()
        config["model"]["tasks"]["kind"] = {"task": "tests_no_labelled_task", "num_classes": 2}
        config["data"]["train"].append({"name": "image_folder", "root": str(classes), "image_size": 32})
        with pytest.raises(ConfigError, match=r"tasks\.kind\.labelled: unknown argument"):
            train(config, tmp_path / "out", progress=False)
    finally:
        registry.unregister("tasks", "tests_no_labelled_task")
