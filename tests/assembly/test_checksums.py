"""checksums.sha256 in a saved model folder, load_model's weight check, and ``torchbricks verify``."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from tests.helpers.configs import images, small_config
from torchbricks.assembly import CHECKSUMS_FILE, build_model, compare_checksums, load_model, save_model, verify_model
from torchbricks.assembly._checksums import folder_files, read_checksums
from torchbricks.cli import main
from torchbricks.errors import ChecksumMismatchError


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved model (two tasks, an upsampling neck) that no test changes: tests work on copies."""
    torch.manual_seed(0)
    return save_model(build_model(small_config()), tmp_path_factory.mktemp("pristine") / "model", card=False)


@pytest.fixture
def folder(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "model"))


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def run_cli(*arguments: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(arguments))
    return code, out.getvalue(), err.getvalue()


def test_checksums_list_every_file_sorted_in_sha256sum_format(pristine: Path) -> None:
    lines = (pristine / CHECKSUMS_FILE).read_text().splitlines()
    listed = [line.split("  ", 1)[1] for line in lines]
    assert listed == sorted(listed) == folder_files(pristine)
    assert {"config.json", "weights/backbone.safetensors", "weights/seg/head.safetensors"} <= set(listed)
    assert CHECKSUMS_FILE not in listed
    if shutil.which("sha256sum"):  # the real tool reads the file as its own
        checked = subprocess.run(["sha256sum", "-c", CHECKSUMS_FILE], cwd=pristine, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.count(": OK") == len(listed)


def test_verify_names_a_flipped_byte_in_each_file_in_turn(folder: Path) -> None:
    files = sorted(read_checksums(folder))
    weight_files = [name for name in files if name.startswith("weights/")]
    assert len(weight_files) >= 4  # backbone, neck and each task's head
    for name in files:
        path = folder / name
        original = path.read_bytes()
        flip_byte(path, len(original) // 2)  # the middle of a weight file is tensor data: it would load silently
        report = compare_checksums(folder)
        assert report.changed == (name,), name
        assert not report.ok
        path.write_bytes(original)
    assert compare_checksums(folder).ok


def test_verify_command_names_the_flipped_weight_file_and_exits_1(folder: Path) -> None:
    code, out, _ = run_cli("verify", str(folder))
    assert code == 0, out
    assert "intact" in out
    assert "forward on a 3×32×32 image: ok" in out
    target = folder / "weights" / "kind" / "head.safetensors"
    flip_byte(target, target.stat().st_size - 3)
    code, out, err = run_cli("verify", str(folder))
    assert code == 1
    assert "FAIL  weights/kind/head.safetensors: changed" in out
    assert "1 problem(s)" in err


def test_load_model_refuses_a_changed_weight_file_and_loads_with_verify_false(folder: Path) -> None:
    target = folder / "weights" / "backbone.safetensors"
    flip_byte(target, target.stat().st_size - 1)  # the last tensor's last byte: safetensors would load it
    with pytest.raises(ChecksumMismatchError, match=r"weights/backbone\.safetensors: changed") as error:
        load_model(folder)
    assert "torchbricks verify" in str(error.value)
    assert load_model(folder, verify=False) is not None


def test_missing_and_added_files(folder: Path) -> None:
    (folder / "weights" / "seg" / "head.safetensors").unlink()
    (folder / "notes.txt").write_text("mine")
    report = verify_model(folder)
    assert "weights/seg/head.safetensors: missing (listed in checksums.sha256)" in report.problems
    assert "notes.txt: not covered by checksums.sha256 (added after the save)" in report.notes
    assert any(problem.startswith("load_model:") for problem in report.problems)  # strict loading misses the file


def test_a_file_added_after_the_save_fails_only_with_strict(folder: Path) -> None:
    (folder / "notes.txt").write_text("mine")
    assert verify_model(folder).ok
    strict = verify_model(folder, strict=True)
    assert strict.problems == ["notes.txt: not covered by checksums.sha256 (added after the save)"]


@pytest.mark.slow  # the ONNX export
def test_onnx_file_in_the_folder_is_compared_with_pytorch(folder: Path) -> None:
    from torchbricks import export_bricks_as_onnx

    model = load_model(folder)
    export_bricks_as_onnx(folder / "model.onnx", model, {"images": images(2)}, dynamic_batch_size=True)
    report = verify_model(folder)
    assert report.ok, report.problems
    assert any(note.startswith("model.onnx: onnxruntime vs PyTorch max |difference|") for note in report.notes)
    assert "model.onnx: not covered by checksums.sha256 (added after the save)" in report.notes
    (folder / "model.onnx").write_bytes(b"not an onnx file")
    broken = verify_model(folder)
    assert [problem.split(":")[0] for problem in broken.problems] == ["model.onnx"]


def test_checksum_paths_that_leave_the_folder_are_never_read(folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    from torchbricks.assembly._checksums import file_sha256

    with open(folder / CHECKSUMS_FILE, "a") as handle:
        handle.write(f"{file_sha256(outside)}  ../secret.txt\n")
        handle.write(f"{file_sha256(outside)}  /etc/hostname\n")
    report = compare_checksums(folder)
    assert set(report.changed) == {"../secret.txt", "/etc/hostname"}


def test_malformed_checksums_file_is_named(folder: Path) -> None:
    (folder / CHECKSUMS_FILE).write_text("not a checksum line\n")
    report = verify_model(folder)
    assert report.problems
    assert "line 1 is not '<sha256>  <file>'" in report.problems[0]


def test_a_folder_saved_without_checksums_still_loads(folder: Path) -> None:
    (folder / CHECKSUMS_FILE).unlink()
    assert load_model(folder) is not None
    assert "no checksums" not in " ".join(verify_model(folder).notes)
    assert verify_model(folder).problems[0].startswith(f"{CHECKSUMS_FILE}:")


def test_resaving_writes_checksums_of_the_new_files(folder: Path) -> None:
    model = load_model(folder)
    (folder / "model.onnx").write_bytes(b"an export of the old weights")
    save_model(model, folder, exist_ok=True, card=False)
    assert compare_checksums(folder).ok
    assert not (folder / "model.onnx").exists()  # the folder is replaced as a whole: no stale export survives
