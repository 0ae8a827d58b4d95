"""What an entry may say (invalid fields are named), and reading files into state dicts with the key mapping."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from tests.pretrained.conftest import safetensors_bytes, state_dict_bytes
from torchbricks.errors import CorruptWeightsError, InvalidWeightsEntryError
from torchbricks.pretrained import HubFile, PretrainedWeights, read_state_dict

SHA = "ab" * 32


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"tag": "../escape"}, "invalid tag '../escape'"),
        ({"brick": "a/b"}, "invalid brick 'a/b'"),
        ({"sha256": "xyz"}, "invalid sha256 'xyz'"),
        ({"sha256": "abcd"}, r"too short: 64 digits \(or sha256_is_prefix=True\)"),
        ({"sha256": "abcd", "sha256_is_prefix": True}, "too short: at least 8 digits"),
        ({"size": -1}, "invalid size -1"),
        ({"format": "pickle"}, "invalid format 'pickle'"),
        ({"urls": ("file:///etc/passwd",)}, "invalid urls"),
        ({"urls": ("https://example.com/..",)}, r"its file name '\.\.' cannot be a file"),
        ({"hub": "org/name"}, "invalid hub 'org/name'"),
        ({"package_file": "/abs/path"}, "invalid package_file"),
        ({"key_mapping": (("a.",),)}, "invalid key_mapping"),
    ],
)
def test_invalid_fields_are_named(fields: dict[str, object], problem: str) -> None:
    arguments = {"brick": "net", "tag": "v1", "sha256": SHA, **fields}
    with pytest.raises(InvalidWeightsEntryError, match=problem) as caught:
        PretrainedWeights(**arguments)  # type: ignore[arg-type]
    assert str(caught.value).startswith("Pretrained weights '")


def test_lists_become_tuples_and_the_file_name_follows_the_first_source() -> None:
    weights = PretrainedWeights(
        brick="torchbricks:net",
        tag="v1",
        sha256=SHA.upper(),
        urls=["https://example.com/models/net-abcdef12.pth?download=1"],  # type: ignore[arg-type]
        key_mapping=[["fc.", None]],  # type: ignore[list-item]
        class_names=["cat", "dog"],  # type: ignore[arg-type]
    )
    assert weights.name == "net.v1"
    assert weights.sha256 == SHA
    assert weights.file_name == "net-abcdef12.pth"
    assert weights.key_mapping == (("fc.", None),)
    assert weights.class_names == ("cat", "dog")
    assert PretrainedWeights("n", "t", SHA, hub=HubFile("org/n", "sub/model.safetensors")).file_name == (
        "model.safetensors"
    )
    assert PretrainedWeights("n", "t", SHA, package_file="pkg:weights.pth").file_name == "weights.pth"
    assert PretrainedWeights("n", "t", SHA, format="state_dict").file_name == "n.t.pth"


def test_read_safetensors_with_a_key_mapping(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    path.write_bytes(safetensors_bytes())
    weights = PretrainedWeights("net", "v1", SHA, key_mapping=(("fc.", None), ("linear.", "proj.")))

    state = read_state_dict(weights, path)

    assert sorted(state) == ["proj.bias", "proj.weight"]
    assert state["proj.weight"].shape == (4, 3)


def test_read_a_state_dict_file_and_a_wrapped_checkpoint(tmp_path: Path) -> None:
    weights = PretrainedWeights("net", "v1", SHA, format="state_dict")
    plain = tmp_path / "plain.pth"
    plain.write_bytes(state_dict_bytes())
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {"linear.weight": torch.ones(2)}, "epoch": 3}, wrapped)

    assert list(read_state_dict(weights, plain)) == ["linear.weight"]
    assert torch.equal(read_state_dict(weights, wrapped)["linear.weight"], torch.ones(2))


def test_files_that_are_not_state_dicts_are_refused(tmp_path: Path) -> None:
    weights = PretrainedWeights("net", "v1", SHA, format="state_dict")
    pickled = tmp_path / "code.pth"
    buffer = io.BytesIO()
    torch.save({"layer": torch.nn.Linear(2, 2)}, buffer)  # a module: refused by weights_only loading
    pickled.write_bytes(buffer.getvalue())
    with pytest.raises(CorruptWeightsError, match=rf"'net\.v1': {pickled} cannot be read as state_dict"):
        read_state_dict(weights, pickled)

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 16)
    with pytest.raises(CorruptWeightsError, match="cannot be read as safetensors"):
        read_state_dict(PretrainedWeights("net", "v1", SHA), garbage)

    numbers = tmp_path / "numbers.pth"
    torch.save({"a": 1}, numbers)
    with pytest.raises(CorruptWeightsError, match="is not a state dict"):
        read_state_dict(weights, numbers)


def test_two_keys_mapped_onto_one_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    path.write_bytes(safetensors_bytes())
    weights = PretrainedWeights("net", "v1", SHA, key_mapping=(("linear.", "x."), ("fc.", "x.")))
    with pytest.raises(CorruptWeightsError, match=r"keys 'fc\.weight' and 'linear\.weight' both map to 'x\.weight'"):
        read_state_dict(weights, path)
