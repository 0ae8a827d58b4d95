"""``predict`` against the model run by hand on the same images: larger, smaller and at the training size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from tests.inference.conftest import CLASS_NAMES, TRAINED_SIZE, write_image
from torchbricks import load_model
from torchbricks.inference import predict, write_predictions

pytestmark = pytest.mark.usefixtures("single_thread")

SIZES = {"larger": (120, 160), "smaller": (30, 40), "trained": TRAINED_SIZE, "tall": (90, 20)}


def by_hand(model: Any, path: Path) -> dict[str, np.ndarray]:
    """The model's MODEL outputs for one image file, resized as training resizes (torchvision, antialiased)."""
    pixels = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)
    resized = v2.Resize(list(TRAINED_SIZE), antialias=True)(pixels)
    with torch.no_grad():
        outputs = model({"images": resized[None].float() / 255.0}, groups="inference")
    return {name: value[0].numpy() for name, value in outputs.items()}


def nearest(class_map: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize by pixel centres, written out: source index ``floor((i + 0.5) * in / out)``."""
    rows = np.floor((np.arange(height) + 0.5) * class_map.shape[0] / height).astype(int)
    columns = np.floor((np.arange(width) + 0.5) * class_map.shape[1] / width).astype(int)
    return class_map[rows][:, columns]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("images")
    return {
        name: write_image(folder / f"{name}.png", *size, seed=index) for index, (name, size) in enumerate(SIZES.items())
    }


@pytest.fixture(scope="module")
def predicted(model_folder: Path, images: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("run") / "predictions"
    summary = write_predictions(model_folder, [str(path) for path in images.values()], output, batch_size=3)
    assert (summary.images, summary.failed) == (len(images), 0)
    return output


def records(output: Path) -> dict[str, dict[str, Any]]:
    lines = (output / "predictions.jsonl").read_text().splitlines()
    return {Path(record["image"]).stem: record for record in map(json.loads, lines)}


@pytest.mark.parametrize("name", list(SIZES))
def test_predictions_are_the_model_run_by_hand_mapped_to_the_original_image(
    name: str, model_folder: Path, images: dict[str, Path], predicted: Path
) -> None:
    record = records(predicted)[name]
    height, width = SIZES[name]
    assert (record["height"], record["width"]) == (height, width)
    expected = by_hand(load_model(model_folder), images[name])
    tasks = record["tasks"]

    probabilities = expected["animal/probabilities"]
    best = int(probabilities.argmax())
    assert tasks["animal"]["class"] == CLASS_NAMES["animal"][best]
    assert tasks["animal"]["score"] == pytest.approx(float(probabilities[best]), abs=1e-4)
    assert [entry["class"] for entry in tasks["animal"]["top_k"]] == [
        CLASS_NAMES["animal"][index] for index in np.argsort(-probabilities)
    ]

    shape_scores = {entry["class"]: entry["score"] for entry in tasks["shapes"]["labels"]}
    assert shape_scores == pytest.approx(
        dict(zip(CLASS_NAMES["shapes"], expected["shapes/probabilities"].tolist(), strict=True)), abs=1e-4
    )

    mask = np.array(Image.open(predicted / tasks["segmentation"]["mask"]))
    expected_mask = nearest(expected["segmentation/class_map"], height, width)
    assert mask.shape == (height, width)
    np.testing.assert_array_equal(mask, expected_mask)
    shares = {CLASS_NAMES["segmentation"][index]: float((expected_mask == index).mean()) for index in range(4)}
    assert tasks["segmentation"]["class_shares"] == pytest.approx({k: v for k, v in shares.items() if v}, abs=1e-4)

    x_scale, y_scale = width / TRAINED_SIZE[1], height / TRAINED_SIZE[0]
    points = [row for row in expected["centres/points"] if row[2] >= 0]
    assert len(tasks["centres"]["points"]) == len(points) > 0
    for got, (x, y, kind, score) in zip(tasks["centres"]["points"], points, strict=True):
        assert got["class"] == CLASS_NAMES["centres"][int(kind)]
        assert (got["x"], got["y"]) == pytest.approx((min(x * x_scale, width), min(y * y_scale, height)), abs=0.01)
        assert got["score"] == pytest.approx(float(score), abs=1e-4)

    boxes = [row for row in expected["things/boxes"] if row[4] >= 0]
    assert len(tasks["things"]["boxes"]) == len(boxes) > 0
    for got, row in zip(tasks["things"]["boxes"], boxes, strict=True):
        x1, y1, x2, y2 = (float(value) for value in row[:4])
        scaled = [
            np.clip(x1 * x_scale, 0, width),
            np.clip(y1 * y_scale, 0, height),
            np.clip(x2 * x_scale, 0, width),
            np.clip(y2 * y_scale, 0, height),
        ]
        assert got["box"] == pytest.approx(scaled, abs=0.01)
        assert got["class"] == CLASS_NAMES["things"][int(row[4])]


def test_every_task_names_its_classes_not_indices(predicted: Path) -> None:
    for record in records(predicted).values():
        tasks = record["tasks"]
        named = [
            tasks["animal"]["class"],
            *(entry["class"] for entry in tasks["animal"]["top_k"]),
            *(entry["class"] for entry in tasks["shapes"]["labels"]),
            *tasks["segmentation"]["class_shares"],
            *(point["class"] for point in tasks["centres"]["points"]),
            *(box["class"] for box in tasks["things"]["boxes"]),
        ]
        known = {name for names in CLASS_NAMES.values() for name in names}
        assert named
        assert set(named) <= known


def test_python_images_give_the_same_predictions_as_their_files(
    model_folder: Path, images: dict[str, Path], predicted: Path
) -> None:
    from_files = records(predicted)
    pillow = Image.open(images["larger"]).convert("RGB")
    tensor = torch.from_numpy(np.array(Image.open(images["smaller"]).convert("RGB"))).permute(2, 0, 1)
    results = list(predict(model_folder, [pillow, tensor]))
    assert [result["image"] for result in results] == ["<image 0>", "<image 1>"]
    for result, name in zip(results, ["larger", "smaller"], strict=True):
        expected = from_files[name]["tasks"]
        assert result["tasks"]["animal"] == expected["animal"]
        assert result["tasks"]["centres"] == expected["centres"]
        mask = result["tasks"]["segmentation"]["mask"]  # no output folder: the mask itself
        np.testing.assert_array_equal(mask, np.array(Image.open(predicted / expected["segmentation"]["mask"])))


def test_lines_are_written_as_each_batch_finishes(model_folder: Path, images: dict[str, Path], tmp_path: Path) -> None:
    paths = [str(path) for path in images.values()] * 2
    stream = predict(model_folder, paths, batch_size=2, output=tmp_path / "out")
    next(stream)
    next(stream)
    assert len((tmp_path / "out" / "predictions.jsonl").read_text().splitlines()) == 2  # the first batch, not more
    assert len(list(stream)) == len(paths) - 2
    assert len((tmp_path / "out" / "predictions.jsonl").read_text().splitlines()) == len(paths)
    marker = json.loads((tmp_path / "out" / "predict.json").read_text())
    assert marker["finished"]
    assert marker["images"] == len(paths)


def test_draw_writes_each_tasks_picture_at_the_original_size(
    model_folder: Path, images: dict[str, Path], tmp_path: Path
) -> None:
    write_predictions(model_folder, str(images["larger"]), tmp_path / "out", draw=True)
    [record] = records(tmp_path / "out").values()
    for task in CLASS_NAMES:
        picture = Image.open(tmp_path / "out" / record["tasks"][task]["picture"])
        assert picture.size == (SIZES["larger"][1], SIZES["larger"][0])
