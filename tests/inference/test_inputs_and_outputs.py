"""What ``predict`` reads (files, folders, globs, datasets) and writes (errors.jsonl, a folder it may use)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers.files import snapshot
from tests.inference.conftest import write_image
from torchbricks.errors import ConfigError, PredictError, PredictOutputExistsError
from torchbricks.inference import dataset_from_config, predict, write_predictions

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Images in nested folders, beside a text file, a hidden image and a corrupt and an empty ``.png``."""
    folder = tmp_path / "photos"
    write_image(folder / "b.png", 20, 30, seed=1)
    write_image(folder / "a.jpg", 40, 20, seed=2)
    write_image(folder / "nested" / "deeper" / "c.webp", 16, 16, seed=3)
    write_image(folder / "gray.png", 24, 24, seed=4, mode="L")
    write_image(folder / ".hidden.png", 8, 8, seed=5)
    (folder / "notes.txt").write_text("not an image")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (folder / "empty.png").write_bytes(b"")
    return folder


def test_a_folder_gives_its_images_recursively_in_order_and_reports_unreadable_ones(
    model_folder: Path, photos: Path, tmp_path: Path
) -> None:
    summary = write_predictions(model_folder, photos, tmp_path / "out", batch_size=2)
    names = [Path(json.loads(line)["image"]).name for line in (tmp_path / "out/predictions.jsonl").open()]
    assert names == ["a.jpg", "b.png", "gray.png", "c.webp"]
    errors = [json.loads(line) for line in (tmp_path / "out/errors.jsonl").open()]
    assert {Path(error["image"]).name for error in errors} == {"corrupt.png", "empty.png"}
    empty = next(error for error in errors if error["image"].endswith("empty.png"))
    assert "empty" in empty["error"]
    assert "empty.png" in empty["error"]
    assert (summary.images, summary.failed) == (4, 2)


def test_globs_files_and_missing_paths(model_folder: Path, photos: Path) -> None:
    results = list(predict(model_folder, [str(photos / "*.png"), photos / "a.jpg", photos / "missing.png", "no/*.png"]))
    assert [Path(result["image"]).name for result in results] == [
        "b.png",
        "corrupt.png",
        "empty.png",
        "gray.png",
        "a.jpg",
        "missing.png",
        "*.png",
    ]
    reasons = {Path(result["image"]).name: result.get("error") for result in results}
    assert reasons["missing.png"] == "no such file or folder"
    assert reasons["*.png"] == "the pattern matches no file"
    assert reasons["b.png"] is None
    assert reasons["corrupt.png"]


def test_recursive_glob(model_folder: Path, photos: Path) -> None:
    results = list(predict(model_folder, str(photos / "**" / "*.webp")))
    assert [Path(result["image"]).name for result in results] == ["c.webp"]


def test_a_dataset_config_predicts_every_sample(model_folder: Path, tmp_path: Path) -> None:
    config = tmp_path / "data.yaml"
    config.write_text("data:\n  train: [{name: shapes, count: 5}]\n  validation: [{name: shapes, count: 3, seed: 1}]\n")
    results = list(predict(model_folder, dataset_from_config(config)))
    assert len(results) == 3
    assert all("tasks" in result for result in results)


def test_a_dataset_config_of_image_folders_names_the_files(model_folder: Path, tmp_path: Path) -> None:
    for label in ("cat", "dog"):
        write_image(tmp_path / "pets" / label / f"{label}.png", 30, 30, seed=len(label))
    config = tmp_path / "data.json"
    config.write_text(json.dumps({"name": "image_folder", "root": "pets", "image_size": 32}))
    results = list(predict(model_folder, dataset_from_config(config)))
    assert [Path(result["image"]).name for result in results] == ["cat.png", "dog.png"]
    assert (results[0]["width"], results[0]["height"]) == (32, 32)  # the dataset's own resize comes first


def test_a_bad_dataset_config_names_the_problem(tmp_path: Path) -> None:
    config = tmp_path / "data.json"
    config.write_text(json.dumps({"name": "shapez", "count": 2}))
    with pytest.raises(ConfigError, match="shapez"):
        dataset_from_config(config)
    config.write_text(json.dumps({"images": "photos/"}))
    with pytest.raises(ConfigError, match="names no dataset"):
        dataset_from_config(config)


def test_a_folder_of_other_files_is_refused_untouched(model_folder: Path, photos: Path, tmp_path: Path) -> None:
    output = tmp_path / "mine"
    output.mkdir()
    (output / "thesis.tex").write_text("years of work")
    before = snapshot(output)
    with pytest.raises(PredictOutputExistsError, match=r"thesis\.tex"):
        write_predictions(model_folder, photos / "a.jpg", output)
    assert snapshot(output) == before


def test_an_earlier_predict_output_is_replaced(model_folder: Path, photos: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    write_predictions(model_folder, photos, output)
    assert len(list((output / "masks" / "segmentation").iterdir())) == 4
    write_predictions(model_folder, photos / "b.png", output)
    assert len((output / "predictions.jsonl").read_text().splitlines()) == 1
    assert [path.name for path in (output / "masks" / "segmentation").iterdir()] == ["000000_b.png"]
    assert (output / "errors.jsonl").read_text() == ""


def test_no_images_at_all_is_an_error(model_folder: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(PredictError, match="No images"):
        write_predictions(model_folder, tmp_path / "empty", tmp_path / "out")


def test_an_unknown_backend_is_named_with_a_suggestion(model_folder: Path) -> None:
    with pytest.raises(PredictError, match=r"'onx'.*Did you mean 'onnx'"):
        predict(model_folder, [], backend="onx")


def test_a_bad_batch_size_is_refused(model_folder: Path) -> None:
    with pytest.raises(PredictError, match="batch_size"):
        predict(model_folder, [], batch_size=0)


def test_masks_are_written_atomically_as_pngs(model_folder: Path, photos: Path, tmp_path: Path) -> None:
    write_predictions(model_folder, photos / "a.jpg", tmp_path / "out")
    files = [path.name for path in (tmp_path / "out" / "masks" / "segmentation").iterdir()]
    assert files == ["000000_a.png"]  # no temporary file left beside it
    assert Image.open(tmp_path / "out" / "masks" / "segmentation" / files[0]).size == (20, 40)
