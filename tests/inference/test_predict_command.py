"""``torchbricks predict`` end to end through the command line's ``main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.inference.conftest import write_image
from torchbricks.cli import main

pytestmark = pytest.mark.usefixtures("single_thread")


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_predict_writes_one_line_per_image_and_exits_0(
    model_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for index, size in enumerate([(100, 60), (20, 30), (48, 48)]):
        write_image(tmp_path / "images" / f"{index}.png", *size, seed=index)
    output = tmp_path / "out"
    code = main(["predict", str(model_folder), str(tmp_path / "images"), "--output", str(output), "--batch-size", "2"])
    assert code == 0
    records = lines(output / "predictions.jsonl")
    assert [(record["width"], record["height"]) for record in records] == [(60, 100), (30, 20), (48, 48)]
    assert all(set(record["tasks"]) == {"animal", "shapes", "segmentation", "centres", "things"} for record in records)
    assert (output / records[0]["tasks"]["segmentation"]["mask"]).is_file()
    assert "Predicted 3 image(s)" in capsys.readouterr().out


def test_an_unreadable_image_is_a_line_in_errors_jsonl_and_exit_code_1(
    model_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_image(tmp_path / "good.png", 30, 30, seed=0)
    (tmp_path / "truncated.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 20)
    output = tmp_path / "out"
    code = main(["predict", str(model_folder), str(tmp_path / "good.png"), str(tmp_path / "truncated.jpg"),
                 "--output", str(output)])  # fmt: skip
    assert code == 1
    assert [Path(record["image"]).name for record in lines(output / "predictions.jsonl")] == ["good.png"]
    [error] = lines(output / "errors.jsonl")
    assert Path(error["image"]).name == "truncated.jpg"
    assert "truncated.jpg" in error["error"]
    assert "1 image(s) could not be read" in capsys.readouterr().err


def test_predict_on_a_dataset_config(model_folder: Path, tmp_path: Path) -> None:
    config = tmp_path / "data.yaml"
    config.write_text("name: shapes\ncount: 4\nimage_size: 32\n")
    assert main(["predict", str(model_folder), "--data", str(config), "--output", str(tmp_path / "out")]) == 0
    assert len(lines(tmp_path / "out" / "predictions.jsonl")) == 4


def test_a_users_folder_is_refused_by_name(
    model_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_image(tmp_path / "a.png", 30, 30, seed=0)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    code = main(["predict", str(model_folder), str(tmp_path / "a.png"), "--output", str(tmp_path / "notes")])
    assert code == 1
    assert "todo.txt" in capsys.readouterr().err
    assert sorted(path.name for path in (tmp_path / "notes").iterdir()) == ["todo.txt"]


def test_no_inputs_is_an_error(model_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(model_folder)]) == 1
    assert "--data" in capsys.readouterr().err
