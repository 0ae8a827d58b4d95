"""The pack's ``weights`` entry: it lists, its shipped file is found offline and checked, the head loads it.

The file ships inside the package (``package_file``), so nothing here needs a network: the tests run with
``TORCHBRICKS_OFFLINE=1`` and an empty cache folder. Run after installing the pack (``pip install -e .``)::

    python -m pytest
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from torchbricks.cli import main
from torchbricks.errors import (
    UnknownWeightsError,
    WeightsChecksumError,
    WeightsChecksumWarning,
    WeightsMismatchError,
    WeightsUnavailableError,
)
from torchbricks.pretrained import fetch_weights, find_weights, list_weights, read_state_dict
from torchbricks.registry import create, get_entry

PACK = "torchbricks-example"
NAME = "example_linear_head.demo"


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No downloads, an empty cache folder, no mirror: only the package's own file can serve the weights."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("TORCHBRICKS_OFFLINE", "1")
    monkeypatch.setenv("TORCHBRICKS_CACHE_DIR", str(cache))
    monkeypatch.delenv("TORCHBRICKS_WEIGHTS_MIRROR", raising=False)
    return cache


def test_the_entry_is_registered_and_listed() -> None:
    entry = get_entry("weights", f"{PACK}:{NAME}")
    assert entry.summary.startswith("Seeded, untrained weights for example_linear_head")
    (weights,) = list_weights("example_linear_head.*")
    assert weights is find_weights("example_linear_head", "default") is find_weights(f"{PACK}:{NAME}")
    assert (weights.brick, weights.kind, weights.tag, weights.default) == ("example_linear_head", "heads", "demo", True)
    assert weights.package_file == "torchbricks_example:weights/example_linear_head-demo.safetensors"
    assert (weights.license, weights.dataset, len(weights.sha256)) == ("MIT", "example", 64)


def test_the_shipped_file_is_found_offline_checked_and_loaded_into_the_head(offline: Path) -> None:
    weights = find_weights(NAME)
    path = fetch_weights("example_linear_head.default")
    assert path.parts[-3:-1] == ("torchbricks_example", "weights")
    data = path.read_bytes()
    assert (hashlib.sha256(data).hexdigest(), len(data)) == (weights.sha256, weights.size)
    assert not offline.exists() or not any(offline.rglob("*.safetensors"))  # used where it is, not copied

    shipped = load_file(path)
    assert sorted(read_state_dict(weights, path)) == sorted(shipped) == ["linear.bias", "linear.weight"]
    for value in ("default", "demo", NAME):
        head = create("heads", f"{PACK}:example_linear_head", weights=value)
        state = head.state_dict()
        assert sorted(state) == sorted(shipped)
        assert all(torch.equal(state[key], shipped[key]) for key in shipped), value
    assert not torch.equal(create("heads", "example_linear_head").linear.weight, shipped["linear.weight"])


def test_a_local_file_of_the_heads_tensors_loads(tmp_path: Path) -> None:
    tensors = {"linear.weight": torch.full((3, 8), 0.5), "linear.bias": torch.arange(3.0)}
    file = str(tmp_path / "mine.safetensors")
    save_file(tensors, file)
    head = create("heads", "example_linear_head", in_channels=8, num_classes=3, weights=file)
    assert torch.equal(head.linear.weight, tensors["linear.weight"])
    assert torch.equal(head.linear.bias, tensors["linear.bias"])
    with pytest.raises(WeightsMismatchError, match=r"mine\.safetensors' do not fit example_linear_head"):
        create("heads", "example_linear_head", in_channels=8, num_classes=4, weights=file)


def test_weights_that_do_not_fit_or_do_not_exist_are_refused_by_name() -> None:
    with pytest.raises(WeightsMismatchError, match=r"'example_linear_head\.demo' need num_classes=10, got 3"):
        create("heads", "example_linear_head", num_classes=3, weights="default")
    with pytest.raises(UnknownWeightsError, match=r"Did you mean 'example_linear_head\.demo'"):
        create("heads", "example_linear_head", weights="dmo")


def test_a_tampered_copy_is_refused(tmp_path: Path) -> None:
    weights = find_weights(NAME)
    copy = tmp_path / "mirror" / weights.file_name
    copy.parent.mkdir()
    shutil.copyfile(fetch_weights(weights), copy)
    assert fetch_weights(weights, file=copy) == copy  # an intact copy passes the check
    data = bytearray(copy.read_bytes())
    data[-1] ^= 0xFF  # one bit flipped in the last tensor
    copy.write_bytes(bytes(data))
    with pytest.raises(WeightsChecksumError, match=f"expected {weights.sha256}"):
        fetch_weights(weights, file=copy)

    # The same file published at a URL instead of in the package; offline, only the mirror (the tampered
    # copy) could serve it: it is reported and not used.
    elsewhere = dataclasses.replace(
        weights, package_file=None, urls=(f"https://weights.example.invalid/{weights.file_name}",)
    )
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        patch.setenv("TORCHBRICKS_WEIGHTS_MIRROR", str(copy.parent))
        with pytest.raises(WeightsUnavailableError, match="TORCHBRICKS_OFFLINE=1 is set"):
            fetch_weights(elsewhere)
    assert [warning.category for warning in caught] == [WeightsChecksumWarning]
    assert str(copy) in str(caught[0].message)


def test_the_commands_list_and_check_the_entry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "list", "example_linear_head.*", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["qualified_name"], listed["pack"], listed["default"]) == (f"{PACK}:{NAME}", PACK, True)
    assert main(["packs", "--check", "--pack", PACK, "--json"]) == 0
    (status,) = json.loads(capsys.readouterr().out)
    assert (status["status"], status["bricks"]["weights"]) == ("ok", 1)
