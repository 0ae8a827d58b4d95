"""Model folders and config files are untrusted input: bounded, plain data, nothing read outside the folder."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
import torch

from tests.helpers.configs import minimal
from torchbricks import build_model, load_config, load_model, save_model
from torchbricks.errors import ConfigError, IncompatiblePackError, MissingPackError, WeightsFolderExistsError


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("untrusted") / "model"
    save_model(build_model(minimal()), folder)
    return folder


def _copy_with_config(saved: Path, tmp_path: Path, edit) -> Path:
    folder = tmp_path / "copy"
    folder.mkdir()
    shutil.copytree(saved / "weights", folder / "weights")
    config = json.loads((saved / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_a_weights_path_in_config_json_is_never_opened_and_the_folder_weights_load(saved: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.safetensors"
    os.mkfifo(fifo)  # opening it would block forever

    def point_outside(config: dict) -> None:
        config["backbone"]["weights"] = str(fifo)

    folder = _copy_with_config(saved, tmp_path, point_outside)
    model = load_model(folder)
    reference = load_model(saved)
    images = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        logits = model({"images": images}, groups="inference")["shape/logits"]
        assert torch.equal(logits, reference({"images": images}, groups="inference")["shape/logits"])
    assert model.config["backbone"]["weights"] == str(fifo)  # recorded as saved, but not used


@pytest.mark.parametrize("pack", ["evil; rm -rf ~", "pkg && curl x | sh", "$(reboot)", "-e ."])
def test_a_recorded_pack_name_that_is_not_a_package_name_is_never_shown_as_a_command(
    saved: Path, tmp_path: Path, pack: str
) -> None:
    folder = _copy_with_config(saved, tmp_path, lambda config: config["packs"].update({pack: "1.0"}))
    with pytest.raises(ConfigError) as error:
        load_model(folder)
    assert "invalid pack name" in str(error.value)
    assert pack not in str(error.value)


def test_a_missing_pack_is_named_with_its_saved_version(saved: Path, tmp_path: Path) -> None:
    folder = _copy_with_config(saved, tmp_path, lambda config: config["packs"].update({"acme-bricks": "2.1.0"}))
    with pytest.raises(MissingPackError) as error:
        load_model(folder)
    assert "acme-bricks (saved with 2.1.0)" in str(error.value)
    assert "pip install acme-bricks" in str(error.value)


def test_an_installed_but_changed_pack_gives_both_versions_and_no_install_advice(saved: Path, tmp_path: Path) -> None:
    def rename_argument(config: dict) -> None:
        config["tasks"]["shape"]["num_clases"] = config["tasks"]["shape"].pop("num_classes")
        config["packs"]["torchbricks"] = "0.1.0"

    folder = _copy_with_config(saved, tmp_path, rename_argument)
    with pytest.raises(IncompatiblePackError) as error:
        load_model(folder)
    message = str(error.value)
    assert "torchbricks: saved with 0.1.0, installed 0.5" in message
    assert "num_clases" in message
    assert "pip install" not in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{not json", "is not valid JSON"),
        (b"\xff\xfe\x00garbage", "is not UTF-8"),
        (b"[" * 5000 + b"]" * 5000, "nests too deeply"),
        (b"[1, 2]", "must hold a mapping"),
        (b'{"packs": "torchbricks"}', "'packs' must map pack names to versions"),
    ],
)
def test_a_broken_config_json_is_a_config_error_naming_the_file(
    saved: Path, tmp_path: Path, content: bytes, expected: str
) -> None:
    folder = _copy_with_config(saved, tmp_path, lambda config: None)
    (folder / "config.json").write_bytes(content)
    with pytest.raises(ConfigError) as error:
        load_model(folder)
    assert expected in str(error.value)
    assert "config.json" in str(error.value)


def test_a_config_json_that_is_a_fifo_or_a_link_is_refused_without_blocking(saved: Path, tmp_path: Path) -> None:
    folder = _copy_with_config(saved, tmp_path, lambda config: None)
    (folder / "config.json").unlink()
    os.mkfifo(folder / "config.json")
    with pytest.raises(ConfigError, match="not a regular file"):
        load_model(folder)
    (folder / "config.json").unlink()
    (folder / "config.json").symlink_to(saved / "config.json")
    with pytest.raises(ConfigError, match="symbolic link"):
        load_model(folder)


def test_yaml_aliases_are_refused_before_they_expand(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + level)}: &{chr(98 + level)} [*{chr(97 + level)}, *{chr(97 + level)}, *{chr(97 + level)}]\n"
        for level in range(8)
    )
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb)
    with pytest.raises(ConfigError, match=r"YAML alias \(line 2\)"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("backbone: !!python/object/apply:os.system ['echo hi']\n", "not valid YAML of plain data"),
        ("backbone: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "must hold a mapping"),
        ("x:" + " [" * 200 + " ]" * 200 + "\n", "nests too deeply"),
    ],
)
def test_yaml_is_plain_data_only(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_an_oversized_config_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text('{"x": "' + "a" * (5 * 1024 * 1024) + '"}')
    with pytest.raises(ConfigError, match="limited to"):
        load_config(path)


def test_saved_files_get_the_permissions_the_umask_gives(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        folder = save_model(build_model(minimal()), tmp_path / "model")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    for path in folder.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o755 if path.is_dir() else 0o644), path


def test_saving_over_a_file_or_a_foreign_folder_is_refused_and_nothing_is_deleted(tmp_path: Path) -> None:
    model = build_model(minimal())
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    with pytest.raises(WeightsFolderExistsError, match="not a folder"):
        save_model(model, a_file, exist_ok=True)
    with pytest.raises(WeightsFolderExistsError, match="a parent is a file"):
        save_model(model, a_file / "model", exist_ok=True)
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("precious")
    with pytest.raises(WeightsFolderExistsError, match="not a model folder"):
        save_model(model, home, exist_ok=True)
    assert a_file.read_text() == "keep me"
    assert (home / "thesis.tex").read_text() == "precious"


def test_saving_again_leaves_no_weight_file_of_a_removed_brick_and_no_temporary_folder(tmp_path: Path) -> None:
    two_tasks = minimal(
        tasks={
            "a": {"task": "image_classification", "num_classes": 2},
            "b": {"task": "image_classification", "num_classes": 3},
        }
    )
    folder = save_model(build_model(two_tasks), tmp_path / "model")
    assert (folder / "weights" / "b").exists()
    save_model(build_model(minimal()), folder, exist_ok=True)
    assert not (folder / "weights" / "b").exists()
    assert sorted(load_model(folder).config["tasks"]) == ["shape"]
    assert [path.name for path in tmp_path.iterdir()] == ["model"]
