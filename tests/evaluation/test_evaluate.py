"""``evaluate``: the train run's validation metrics again, per-class tables, confusion matrices and PR curves."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

pytest.importorskip("pytorch_lightning")

from tests.bag_of_bricks.test_datasets import write_coco, write_image_folder, write_segmentation_folder
from tests.training.conftest import tiny_config
from torchbricks.assembly import build_model, save_model
from torchbricks.cli import main
from torchbricks.errors import DatasetConfigError
from torchbricks.evaluation import evaluate, evaluation_datasets
from torchbricks.training import train


def run_cli(*arguments: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(list(arguments))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny three-task train run (multi-label, segmentation, points): 2 steps on 32 × 32 shapes."""
    config = tiny_config(visualizations=0)
    for task in config["model"]["tasks"].values():  # the classes come from the data, as a user leaves them out
        task.pop("num_classes")
    config["data"]["validation"][0]["count"] = 12
    config["data"]["validation_batch_size"] = 4
    output = tmp_path_factory.mktemp("evaluate") / "run"
    train(config, output, progress=False)
    return output


def assert_same_metrics(found: dict[str, dict[str, float]], expected: dict[str, dict[str, float]]) -> None:
    assert set(found) == set(expected)
    for task, values in expected.items():
        assert set(found[task]) == set(values), task
        for name, value in values.items():
            assert found[task][name] == pytest.approx(value, abs=2e-4), (task, name)


@pytest.mark.slow  # trains
def test_evaluate_on_the_validation_data_equals_the_train_runs_metrics(trained: Path, tmp_path: Path) -> None:
    expected = json.loads((trained / "metrics.json").read_text())
    result = evaluate(trained / "model", trained / "config.json", batch_size=4, output=tmp_path / "python")
    assert result.metrics == expected  # same batches, same functions: the same rounded numbers
    assert (tmp_path / "python" / "metrics.json").read_bytes() == (trained / "metrics.json").read_bytes()
    assert result.samples == 12

    code, out = run_cli(  # other batches: the same metrics up to float summation order
        "evaluate",
        str(trained / "model"),
        "--data",
        str(trained / "config.json"),
        "--output",
        str(tmp_path / "cli"),
        "--batch-size",
        "5",
    )
    assert code == 0, out
    assert_same_metrics(json.loads((tmp_path / "cli" / "metrics.json").read_text()), expected)
    assert "segmentation (semantic segmentation) per class" in out or "class\tprecision" in out


@pytest.mark.slow  # trains (shares the run above)
def test_the_trained_folder_describes_itself(trained: Path) -> None:
    config = json.loads((trained / "model" / "config.json").read_text())
    assert config["input"] == {
        "channels": 3,
        "dtype": "float32",
        "resize": "stretch",
        "size": [32, 32],
        "value_range": [0.0, 1.0],
    }
    tasks = config["tasks"]
    assert tasks["segmentation"]["class_names"] == ["background", "circle", "square", "triangle"]
    assert tasks["shapes"]["class_names"] == tasks["centres"]["class_names"] == ["circle", "square", "triangle"]
    card = (trained / "model" / "README.md").read_text()
    metrics = json.loads((trained / "metrics.json").read_text())
    assert f"| segmentation | mean_iou | {metrics['segmentation']['mean_iou']:.4f} |" in card
    training = card[card.index("## Training") : card.index("## Size and speed")]
    assert "| Steps | 2 |" in training, training
    assert "| Training data | shapes (count 16, image_size 32, augment true) |" in training, training


@pytest.mark.slow  # trains (shares the run above)
def test_segmentation_confusion_counts_every_labelled_pixel(trained: Path, tmp_path: Path) -> None:
    result = evaluate(trained / "model", trained / "config.json", output=tmp_path)
    matrix = json.loads((tmp_path / "segmentation" / "confusion_matrix.json").read_text())
    datasets = evaluation_datasets(trained / "config.json")
    pixels = sum(
        int((dataset[index]["segmentation"] != 255).sum()) for dataset in datasets for index in range(len(dataset))
    )
    assert matrix["total"] == sum(map(sum, matrix["matrix"])) == pixels
    counted = [sum(row) for row in matrix["matrix"]]
    assert counted == [row["support"] for row in result.tasks["segmentation"].per_class]
    labels = json.loads((tmp_path / "shapes" / "label_counts.json").read_text())
    for name, ((tn, fp), (fn, tp)) in labels["matrices"].items():
        assert tn + fp + fn + tp == 12, name  # every image counted once per label
    assert Image.open(tmp_path / "segmentation" / "confusion_matrix.png").format == "PNG"
    curve = json.loads((tmp_path / "centres" / "pr_curve.json").read_text())
    assert set(curve["classes"]) == {"circle", "square", "triangle"}


def classifier(names: list[str] | None = None) -> Any:
    torch.manual_seed(0)
    task: dict[str, Any] = {"task": "image_classification", "num_classes": 2}
    if names:
        task["class_names"] = names
    return build_model(
        {"backbone": {"name": "resnet18", "levels": [4]}, "tasks": {"kind": task}, "input_shape": [3, 32, 32]}
    )


def test_classification_confusion_matrix_counts_each_image_once(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "pets", per_class=3)
    folder = save_model(classifier(["cat", "dog"]), tmp_path / "model", card=False)
    data = {"name": "image_folder", "root": str(root), "image_size": 32}
    result = evaluate(folder, data, batch_size=4, output=tmp_path / "out")
    matrix = json.loads((tmp_path / "out" / "kind" / "confusion_matrix.json").read_text())
    assert matrix["classes"] == ["cat", "dog"]
    assert matrix["total"] == sum(map(sum, matrix["matrix"])) == result.samples == 6
    assert [sum(row) for row in matrix["matrix"]] == [3, 3]
    predicted = [sum(column) for column in zip(*matrix["matrix"], strict=True)]
    accuracy = sum(matrix["matrix"][index][index] for index in range(2)) / 6
    assert result.metrics["kind"]["accuracy"] == pytest.approx(accuracy, abs=1e-4)
    rows = {row["class"]: row for row in result.tasks["kind"].per_class}
    for index, name in enumerate(["cat", "dog"]):
        hits = matrix["matrix"][index][index]
        assert rows[name]["recall"] == pytest.approx(hits / 3, abs=1e-4)
        assert rows[name]["precision"] == pytest.approx(hits / predicted[index] if predicted[index] else 0.0, abs=1e-4)
    picture = Image.open(tmp_path / "out" / "kind" / "confusion_matrix.png")
    assert picture.format == "PNG"
    assert picture.width > 150
    summary = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    assert summary["samples"] == 6
    assert summary["data"] == [data]


def test_data_with_other_class_names_is_refused_naming_the_task(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "pets", per_class=1)
    with pytest.raises(DatasetConfigError, match=r"task 'kind': the model's classes are \['dog', 'cat'\]"):
        evaluate(classifier(["dog", "cat"]), {"name": "image_folder", "root": str(root), "image_size": 32})


def test_data_without_a_tasks_targets_is_refused_naming_the_task(tmp_path: Path) -> None:
    root = write_segmentation_folder(tmp_path / "masks")
    with pytest.raises(DatasetConfigError, match=r"The data gives no 'targets' \(read by task kind\)"):
        evaluate(classifier(), {"name": "segmentation_folder", "root": str(root), "image_size": 32})


def test_segmentation_confusion_uses_the_labels_and_leaves_ignored_pixels_out(tmp_path: Path) -> None:
    root = write_segmentation_folder(tmp_path / "masks", count=2)
    data = {"name": "segmentation_folder", "root": str(root), "image_size": 40, "labels": ["sky", "road", "car"]}
    model = build_model(
        {
            "backbone": {"name": "resnet18", "levels": [2]},
            "tasks": {
                "seg": {
                    "task": "semantic_segmentation",
                    "num_classes": 3,
                    "hidden": 8,
                    "class_names": ["sky", "road", "car"],
                }
            },
            "input_shape": [3, 40, 40],
        }
    )
    result = evaluate(model, data, output=tmp_path / "out")
    matrix = json.loads((tmp_path / "out" / "seg" / "confusion_matrix.json").read_text())
    assert matrix["classes"] == ["sky", "road", "car"]
    assert matrix["total"] == 2 * (40 * 40 - 1)  # each mask has one 255 (ignored) pixel
    # the masks: rows 0-19 road (1), a 10 × 10 car (2) corner, the rest sky (0); pixel (0, 0) ignored (255)
    assert [row["support"] for row in result.tasks["seg"].per_class] == [2 * 700, 2 * (800 - 1), 2 * 100]


def test_box_detection_pr_curve_and_table_agree_with_the_f1_metric(tmp_path: Path) -> None:
    annotations = write_coco(tmp_path / "coco")
    torch.manual_seed(0)
    model = build_model(
        {
            "backbone": {"name": "resnet18", "levels": [2]},
            "tasks": {
                "objects": {
                    "task": "object_detection",
                    "num_classes": 2,
                    "hidden": 8,
                    "score_threshold": 0.0,
                    "mean_average_precision": False,
                }
            },
            "input_shape": [3, 32, 32],
        }
    )
    coco = {"name": "coco", "annotations": str(annotations), "image_size": 32}
    result = evaluate(model, [coco, copy.deepcopy(coco)], output=tmp_path / "out")
    rows = result.tasks["objects"].per_class
    assert [row["class"] for row in rows] == ["car", "person"]  # the model has no names: the COCO categories
    detections = sum(row["detections"] for row in rows)
    hits = sum(round(row["precision"] * row["detections"]) for row in rows)
    assert sum(row["support"] for row in rows) == 4  # two boxes, the image twice
    metric = result.metrics["objects"]
    assert metric["precision"] == pytest.approx(hits / detections if detections else 0.0, abs=1e-4)
    assert metric["recall"] == pytest.approx(hits / 4, abs=1e-4)
    curve = json.loads((tmp_path / "out" / "objects" / "pr_curve.json").read_text())
    assert len(curve["all"]["precision"]) == len(curve["all"]["recall"]) == min(detections, 500)
    assert curve["all"]["targets"] == 4
    assert Image.open(tmp_path / "out" / "objects" / "pr_curve.png").format == "PNG"
