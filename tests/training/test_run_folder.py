"""A new run never destroys the one before it: a failed, refused or interrupted run leaves the folder as it was.

The run writes into ``running/`` and moves its files over the earlier run's only when it has finished; a
folder that is not a train run's is refused, never cleaned.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.bag_of_bricks.test_datasets import write_image_folder
from tests.helpers.files import snapshot
from tests.training.conftest import tiny_config
from torchbricks import load_model
from torchbricks.errors import ConfigError, DatasetError, RunFolderError
from torchbricks.training import train


def quiet(config: dict[str, Any]) -> dict[str, Any]:
    config["trainer"]["enable_progress_bar"] = False
    return config


def classification_config(root: Path) -> dict[str, Any]:
    """A tiny image-folder classification run (two classes: cat, dog)."""
    return quiet(
        tiny_config(
            model={
                "backbone": {"name": "resnet18", "levels": [4]},
                "tasks": {"kind": {"task": "image_classification", "num_classes": 2}},
                "input_shape": [3, 32, 32],
            },
            data={
                "train": [{"name": "image_folder", "root": str(root), "image_size": 32}],
                "validation": [{"name": "image_folder", "root": str(root), "image_size": 32}],
                "batch_size": 2,
            },
        )
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A finished tiny run (its folder is copied by each test that changes it)."""
    root = tmp_path_factory.mktemp("finished")
    images = write_image_folder(root / "images", per_class=2)
    config = classification_config(images)
    train(copy.deepcopy(config), root / "run", progress=False)
    return root / "run", config


def copy_of(finished: tuple[Path, dict[str, Any]], tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    import shutil

    folder, config = finished
    return Path(shutil.copytree(folder, tmp_path / "run")), copy.deepcopy(config)


def test_a_rerun_that_fails_before_its_first_step_leaves_the_earlier_run_whole(finished, tmp_path: Path) -> None:
    run, config = copy_of(finished, tmp_path)
    before = snapshot(run)
    assert {"config.json", "metrics.json", "run.json", "checkpoints/last.ckpt", "model/config.json"} <= set(before)
    corrupt = write_image_folder(tmp_path / "corrupt", per_class=2)
    (corrupt / "cat" / "0.jpg").write_bytes(b"not a jpeg at all")  # the loader fails on the first batch
    config["data"]["train"][0]["root"] = str(corrupt)
    with pytest.raises(DatasetError, match=r"0\.jpg"):
        train(config, run, progress=False)
    assert snapshot(run) == before  # checkpoints, metrics.json, run.json, config.json and model/ untouched
    assert not (run / "running").exists()
    assert load_model(run / "model").config["tasks"]["kind"]["num_classes"] == 2


def test_a_refused_resume_changes_nothing(finished, tmp_path: Path) -> None:
    run, config = copy_of(finished, tmp_path)
    checkpoint = run / "checkpoints" / "last.ckpt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])  # truncated
    before = snapshot(run)
    with pytest.raises(Exception):  # noqa: B017, PT011  (Lightning's error reading the checkpoint)
        train(config, run, overrides=["trainer.max_steps=4", "seed=5"], resume=True, progress=False)
    assert snapshot(run) == before  # logs/metrics.csv kept, config.json not replaced by the refused config
    assert not (run / "running").exists()


def test_a_resume_of_a_changed_model_is_refused_and_changes_nothing(finished, tmp_path: Path) -> None:
    run, config = copy_of(finished, tmp_path)
    before = snapshot(run)
    config["model"]["tasks"]["kind"]["num_classes"] = 3
    with pytest.raises(Exception):  # noqa: B017, PT011  (the checkpoint's weights do not fit the model)
        train(config, run, overrides=["trainer.max_steps=4"], resume=True, progress=False)
    assert snapshot(run) == before


@pytest.mark.parametrize("user_files", [{"config.json": '{"mine": 1}'}, {"run.json": "{}", "logs/app.log": "x"}])
def test_an_unrelated_folder_is_refused_never_cleaned(tmp_path: Path, user_files: dict[str, str]) -> None:
    folder = tmp_path / "mine"
    for name, text in user_files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    before = snapshot(folder)
    with pytest.raises(RunFolderError, match=r"mine.*not a torchbricks train run.*nothing was written"):
        train(quiet(tiny_config()), folder, progress=False)
    assert snapshot(folder) == before
    assert sorted(path.name for path in folder.iterdir()) == sorted({name.split("/")[0] for name in user_files})


def test_a_file_as_output_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("mine")
    with pytest.raises(RunFolderError, match="is a file"):
        train(quiet(tiny_config()), tmp_path / "out", progress=False)
    assert (tmp_path / "out").read_text() == "mine"


def test_resume_without_anything_to_continue_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no checkpoint"):
        train(quiet(tiny_config()), tmp_path / "new", resume=True, progress=False)
    assert not (tmp_path / "new").exists()


def test_a_finished_rerun_replaces_the_run_and_leaves_the_users_files(finished, tmp_path: Path) -> None:
    run, config = copy_of(finished, tmp_path)
    (run / "notes.txt").write_text("mine")
    (run / "visualizations" / "stale.png").write_bytes(b"from the earlier run")
    config["seed"] = 7
    train(config, run, progress=False)
    assert json.loads((run / "config.json").read_text())["seed"] == 7
    assert json.loads((run / "run.json").read_text())["seed"] == 7
    assert not (run / "visualizations" / "stale.png").exists()  # the run's folders come whole from the new run
    assert (run / "notes.txt").read_text() == "mine"
    assert not (run / "running").exists()
    assert (run / "torchbricks-run.json").is_file()


def test_a_folder_of_a_run_from_before_the_marker_is_still_a_run_folder(finished, tmp_path: Path) -> None:
    run, config = copy_of(finished, tmp_path)
    (run / "torchbricks-run.json").unlink()
    train(config, run, overrides=["seed=3"], progress=False)
    assert json.loads((run / "run.json").read_text())["seed"] == 3


def test_a_stale_running_folder_of_a_killed_run_is_replaced(finished, tmp_path: Path) -> None:
    run, config = copy_of(finished, tmp_path)
    (run / "running" / "checkpoints").mkdir(parents=True)
    (run / "running" / "checkpoints" / "half.ckpt").write_bytes(b"half")
    train(config, run, progress=False)
    assert not (run / "running").exists()
    assert not (run / "checkpoints" / "half.ckpt").exists()


def test_ctrl_c_while_the_finished_run_moves_in_waits_until_it_is_in() -> None:
    import signal

    from torchbricks.training._run_folder import _signals_deferred

    moved = []

    def move_in() -> None:
        with _signals_deferred():
            signal.raise_signal(signal.SIGINT)
            moved.append("all of it")  # still runs: the interrupt waits for the block's end

    with pytest.raises(KeyboardInterrupt):
        move_in()
    assert moved == ["all of it"]
