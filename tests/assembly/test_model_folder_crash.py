"""A model folder is replaced as a whole: a save killed at any moment leaves the complete old or new model.

A forked child process saves model B over a folder holding model A and is killed (SIGKILL) either just before
its N-th file-system step (each rename, folder exchange and removal: every file boundary) or after a
random delay. After each kill the folder must load as exactly A or exactly B — same config, same
outputs — and the next successful save must leave no temporary folder behind.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.helpers.configs import minimal
from torchbricks import build_model, load_model, save_model

pytestmark = pytest.mark.slow

SMALL = {"name": "mobilenet_v3_small", "levels": [5]}  # about 1M weights: saves take a fraction of a second
MODEL_A = minimal(backbone=SMALL)
MODEL_B = minimal(
    backbone=SMALL,
    tasks={
        "shape": {"task": "image_classification", "num_classes": 3},
        "colour": {"task": "image_classification", "num_classes": 5},
    },
)


def _save_and_die(model: torch.nn.Module, target: str, kill_at: int, ready: Any) -> None:
    """In a forked child: save ``model`` to ``target``, SIGKILLing itself before its ``kill_at``-th file-system step."""
    import torchbricks._folders as folders

    torch.set_num_threads(1)  # as DataLoader workers do after a fork
    steps = [0]

    def counted(function: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            if steps[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            steps[0] += 1
            return function(*args, **kwargs)

        return run

    os.replace = counted(os.replace)
    os.rename = counted(os.rename)
    shutil.rmtree = counted(shutil.rmtree)
    folders._exchange = counted(folders._exchange)
    ready.set()
    save_model(model, target, exist_ok=True)
    os._exit(0 if kill_at < 0 else 3)  # 3: the save needed fewer than kill_at steps


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("crash")
    torch.manual_seed(0)
    a = save_model(build_model(MODEL_A), root / "a")
    torch.manual_seed(1)
    b = save_model(build_model(MODEL_B), root / "b")
    return {"a": a, "b": b}


def _outputs(folder: Path) -> tuple[list[str], dict[str, torch.Tensor]]:
    model = load_model(folder)
    images = torch.linspace(0, 1, 2 * 3 * 32 * 32).reshape(2, 3, 32, 32)
    with torch.no_grad():
        outputs = model({"images": images}, groups="inference")
    return sorted(model.config["tasks"]), {name: value for name, value in outputs.items() if name.endswith("/logits")}


_REFERENCE_OUTPUTS: dict[Path, tuple[list[str], dict[str, torch.Tensor]]] = {}


def _assert_old_or_new(folder: Path, references: dict[str, Path]) -> str:
    tasks, outputs = _outputs(folder)
    for label, reference in references.items():
        if reference not in _REFERENCE_OUTPUTS:
            _REFERENCE_OUTPUTS[reference] = _outputs(reference)
        expected_tasks, expected = _REFERENCE_OUTPUTS[reference]
        if tasks == expected_tasks:
            assert outputs.keys() == expected.keys()
            assert all(torch.equal(outputs[name], expected[name]) for name in expected), f"a mix of models ({label})"
            return label
    raise AssertionError(f"the folder holds neither model: tasks {tasks}")


def _fresh_target(tmp_path: Path, references: dict[str, Path], name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(references["a"], target)
    return target


def _start(model: torch.nn.Module, target: Path, kill_at: int) -> tuple[Any, Any]:
    context = multiprocessing.get_context("fork")  # the child inherits torch and the model: no re-import
    ready = context.Event()
    child = context.Process(target=_save_and_die, args=(model, str(target), kill_at, ready))
    child.start()
    return child, ready


@pytest.fixture(scope="module")
def model_b(references: dict[str, Path]) -> torch.nn.Module:
    return load_model(references["b"])


def test_a_save_killed_before_any_file_system_step_leaves_the_old_or_the_new_model(
    references: dict[str, Path], model_b: torch.nn.Module, tmp_path: Path
) -> None:
    seen = set()
    kill_at = 0
    while True:
        target = _fresh_target(tmp_path, references, f"boundary{kill_at}")
        child, _ = _start(model_b, target, kill_at)
        child.join(timeout=120)
        if child.exitcode == 3:  # it got past every step: the save completed
            break
        assert child.exitcode == -signal.SIGKILL
        seen.add(_assert_old_or_new(target, references))
        kill_at += 1
    assert kill_at >= 4  # the weight files, config.json, the exchange, the removal of the old folder
    assert seen == {"a", "b"}  # early kills keep A, the last ones (after the exchange) give B
    assert _assert_old_or_new(target, references) == "b"
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(f".{target.name}.")) == []


def test_a_save_killed_at_random_moments_leaves_the_old_or_the_new_model(
    references: dict[str, Path], model_b: torch.nn.Module, tmp_path: Path
) -> None:
    generator = random.Random(0)
    results = []
    for attempt in range(20):
        target = _fresh_target(tmp_path, references, f"random{attempt}")
        child, ready = _start(model_b, target, kill_at=-1)
        assert ready.wait(timeout=60)
        child.join(timeout=generator.uniform(0.0, 0.1))
        if child.is_alive():
            os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=60)
        results.append(_assert_old_or_new(target, references))
        save_model(model_b, target, exist_ok=True)  # the next save cleans up after a kill
        assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(f".{target.name}.")) == []
    assert set(results) <= {"a", "b"}
