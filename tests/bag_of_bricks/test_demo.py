"""The shapes demo: the generated data set, its augmentation, and the whole demo end to end in its quick setting."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from bag_of_bricks.datasets import dihedral
from bag_of_bricks.datasets import shapes as shapes_dataset
from bag_of_bricks.demo.run import DEMO_CONFIG, DEMO_TRAIN_CONFIG, QUICK_OVERRIDES, TARGETS, run_demo
from bag_of_bricks.shapes import CLASS_NAMES, MAX_SHAPES, SHAPE_NAMES, make_shapes_batch
from torchbricks import onnx_max_abs_differences
from torchbricks.assembly import CONFIG_FILE, WEIGHTS_FOLDER, load_model, resolve_config

TASKS = ("shapes", "segmentation", "centres")
MAX_RADIUS = 14


# -- the generated shapes --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shapes() -> dict[str, torch.Tensor]:
    return make_shapes_batch(16, seed=11)


def valid_points(points: torch.Tensor) -> torch.Tensor:
    return points[points[:, 2] >= 0]


def test_shapes_batch_layout(shapes: dict[str, torch.Tensor]) -> None:
    assert shapes["images"].shape == (16, 3, 64, 64)
    assert shapes["images"].dtype == torch.uint8
    assert shapes["shape_present"].shape == (16, len(SHAPE_NAMES))
    assert shapes["segmentation"].shape == (16, 64, 64)
    assert shapes["segmentation"].dtype == torch.int64
    assert shapes["points"].shape == (16, MAX_SHAPES, 3)
    assert ("background", *SHAPE_NAMES) == CLASS_NAMES


def test_shapes_are_deterministic_per_seed() -> None:
    first, second, other = make_shapes_batch(4, seed=5), make_shapes_batch(4, seed=5), make_shapes_batch(4, seed=6)
    for name in first:
        assert torch.equal(first[name], second[name]), name
    assert not torch.equal(first["images"], other["images"])


def test_shapes_image_size_and_radius_are_configurable() -> None:
    batch = make_shapes_batch(3, seed=0, image_size=32, radius_range=(4, 8))
    assert batch["images"].shape == (3, 3, 32, 32)
    points = valid_points(batch["points"].reshape(-1, 3))
    assert bool(((points[:, :2] >= 4) & (points[:, :2] <= 28)).all())


def test_points_are_inside_the_image_and_padded_at_the_end(shapes: dict[str, torch.Tensor]) -> None:
    for points in shapes["points"]:
        valid = points[:, 2] >= 0
        count = int(valid.sum())
        assert 1 <= count <= MAX_SHAPES
        assert bool(valid[:count].all())  # valid rows first, then padding
        assert bool((points[count:] == -1).all())
        kept = points[:count]
        assert bool(((kept[:, :2] > 0) & (kept[:, :2] < 64)).all())
        assert set(kept[:, 2].tolist()) <= {0.0, 1.0, 2.0}


def test_labels_of_the_three_tasks_agree(shapes: dict[str, torch.Tensor]) -> None:
    for present, mask, points in zip(shapes["shape_present"], shapes["segmentation"], shapes["points"], strict=True):
        kinds = {int(kind) for kind in valid_points(points)[:, 2].tolist()}
        assert present.tolist() == [1.0 if kind in kinds else 0.0 for kind in range(len(SHAPE_NAMES))]
        assert set(mask.unique().tolist()) == {0} | {kind + 1 for kind in kinds}


def test_every_shape_is_visible(shapes: dict[str, torch.Tensor]) -> None:
    ys, xs = torch.meshgrid(torch.arange(64) + 0.5, torch.arange(64) + 0.5, indexing="ij")
    for mask, points in zip(shapes["segmentation"], shapes["points"], strict=True):
        kept = valid_points(points)
        for x, y, kind in kept.tolist():
            near = (xs - x) ** 2 + (ys - y) ** 2 <= MAX_RADIUS**2
            assert int((mask[near] == int(kind) + 1).sum()) >= 5
        x, y, kind = kept[-1].tolist()  # the last shape is drawn on top: its centre shows its class
        assert int(mask[math.floor(y), math.floor(x)]) == int(kind) + 1


def test_shapes_differ_from_their_background(shapes: dict[str, torch.Tensor]) -> None:
    images = shapes["images"].float()
    for image, mask in zip(images, shapes["segmentation"], strict=True):
        background = image[:, mask == 0].mean(dim=1)
        for kind in mask.unique().tolist():
            if kind:
                shape_colour = image[:, mask == kind].mean(dim=1)
                assert float((shape_colour - background).norm()) > 30


# -- augmentation ----------------------------------------------------------------------------------------------


def augment(batch: dict[str, torch.Tensor], variant: int) -> dict[str, torch.Tensor]:
    """The dataset's per-sample ``dihedral`` applied to every sample of a batch."""
    samples = [
        dihedral({name: value[i] for name, value in batch.items()}, variant) for i in range(len(batch["images"]))
    ]
    return {name: torch.stack([sample[name] for sample in samples]) for name in batch}


@pytest.mark.parametrize("variant", range(8))
def test_augment_moves_points_with_the_image_and_mask(shapes: dict[str, torch.Tensor], variant: int) -> None:
    augmented = augment(shapes, variant)
    for index in range(len(shapes["images"])):
        before, after = shapes["points"][index], augmented["points"][index]
        for (x, y, kind), (new_x, new_y, new_kind) in zip(before.tolist(), after.tolist(), strict=True):
            if kind < 0:
                assert (new_x, new_y, new_kind) == (-1.0, -1.0, -1.0)
                continue
            assert new_kind == kind
            assert 0 < new_x < 64
            assert 0 < new_y < 64
            old_pixel, new_pixel = (math.floor(y), math.floor(x)), (math.floor(new_y), math.floor(new_x))
            assert augmented["segmentation"][index][new_pixel] == shapes["segmentation"][index][old_pixel]
            old_colour = shapes["images"][index][:, old_pixel[0], old_pixel[1]]
            assert torch.equal(augmented["images"][index][:, new_pixel[0], new_pixel[1]], old_colour)


@pytest.mark.parametrize("variant", range(8))
def test_augment_transforms_images_and_masks_alike(shapes: dict[str, torch.Tensor], variant: int) -> None:
    coded = {**shapes, "images": (shapes["segmentation"] * 50).to(torch.uint8).unsqueeze(1).expand(-1, 3, -1, -1)}
    augmented = augment(coded, variant)
    assert augmented["images"].is_contiguous()
    assert torch.equal(augmented["images"][:, 0], (augmented["segmentation"] * 50).to(torch.uint8))
    assert torch.equal(augmented["shape_present"], shapes["shape_present"])


def test_augment_variants_are_the_eight_symmetries(shapes: dict[str, torch.Tensor]) -> None:
    variants = [augment(shapes, variant)["images"] for variant in range(8)]
    assert torch.equal(variants[0], shapes["images"])
    for first in range(8):
        for second in range(first + 1, 8):
            assert not torch.equal(variants[first], variants[second]), (first, second)
    assert not torch.equal(augment(shapes, 1)["points"], shapes["points"])
    assert torch.equal(shapes["points"], make_shapes_batch(16, seed=11)["points"])  # the input is not changed


def test_augmented_shapes_are_shuffled_and_reproducible_from_the_seed() -> None:
    from torchbricks.training import collate

    data = shapes_dataset(count=16, seed=11, augment=True)

    def first_batches(seed: int) -> list[dict[str, torch.Tensor]]:
        torch.manual_seed(seed)  # the train run seeds everything (Lightning's seed_everything)
        generator = torch.Generator().manual_seed(seed)
        loader = torch.utils.data.DataLoader(data, batch_size=4, shuffle=True, collate_fn=collate, generator=generator)
        return [batch for _ in range(2) for batch in loader]  # two passes over the 16 images

    first, again = first_batches(0), first_batches(0)
    assert all(batch["images"].shape == (4, 3, 64, 64) for batch in first)
    for batch, repeated in zip(first, again, strict=True):
        for name in batch:
            assert torch.equal(batch[name], repeated[name])
    other = first_batches(1)
    assert not all(torch.equal(a["images"], b["images"]) for a, b in zip(first, other, strict=True))
    plain = shapes_dataset(count=16, seed=11)
    assert any(not torch.equal(first[0]["images"][i], plain[i]["images"]) for i in range(4))  # flipped or turned


# -- the demo's train config -------------------------------------------------------------------------------------


def test_the_demo_is_a_train_run_of_fixed_seeded_steps() -> None:
    from torchbricks.training import load_train_config

    settings = load_train_config(DEMO_TRAIN_CONFIG)
    assert settings["trainer"]["max_steps"] == 400  # steps, not seconds: the same figures on any machine
    assert "max_time" not in settings["trainer"]
    assert settings["model"] == resolve_config(DEMO_CONFIG)
    assert [spec["name"] for spec in settings["data"]["train"]] == ["shapes"]
    quick = load_train_config(DEMO_TRAIN_CONFIG, QUICK_OVERRIDES)
    assert quick["trainer"]["max_steps"] < 20
    assert quick["data"]["batch_size"] <= quick["data"]["train"][0]["count"] < settings["data"]["train"][0]["count"]


def test_print_config_gives_a_config_that_torchbricks_train_accepts(tmp_path: Path, capsys) -> None:
    from torchbricks.cli import main
    from torchbricks.training import load_train_config

    assert main(["demo", "--print-config", "--steps", "7"]) == 0
    path = tmp_path / "demo.yaml"
    path.write_text(capsys.readouterr().out)
    settings = load_train_config(path)
    assert settings["trainer"]["max_steps"] == 7
    assert settings == load_train_config(DEMO_TRAIN_CONFIG, ["trainer.max_steps=7"])


# -- the demo end to end (quick setting) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    output = tmp_path_factory.mktemp("demo")
    report = run_demo(output, quick=True, show_progress=False)
    return output, report


@pytest.mark.slow
def test_demo_writes_every_output(demo: tuple[Path, dict[str, Any]]) -> None:
    output, _ = demo
    assert (output / "model" / CONFIG_FILE).is_file()
    assert (output / "model" / WEIGHTS_FOLDER / "backbone.safetensors").is_file()
    assert (output / "model.onnx").stat().st_size > 0
    assert (output / "graph.md").is_file()
    assert (output / "config.json").is_file()
    assert (output / "checkpoints" / "last.ckpt").is_file()
    assert sorted(path.name for path in (output / "visualizations").glob("*.png")) == sorted(
        f"{task}.png" for task in TASKS
    )


@pytest.mark.slow
def test_demo_metrics(demo: tuple[Path, dict[str, Any]]) -> None:
    output, report = demo
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics == {task: report[task] for task in TASKS}  # only the metrics: the same run, the same file
    assert {"exact_match", "f1"} <= set(metrics["shapes"])
    assert "mean_iou" in metrics["segmentation"]
    assert {"f1", "precision", "recall"} <= set(metrics["centres"])
    for task in TASKS:
        assert all(0.0 <= value <= 1.0 for value in metrics[task].values()), metrics[task]
    run = json.loads((output / "run.json").read_text())
    assert run == report["_run"]
    assert run["onnx_max_abs_difference"] < 1e-3
    assert run["steps"] == 4
    assert run["train_seconds"] <= run["total_seconds"]


@pytest.mark.slow
def test_demo_visualizations_are_pngs(demo: tuple[Path, dict[str, Any]]) -> None:
    output, _ = demo
    for task in TASKS:
        with Image.open(output / "visualizations" / f"{task}.png") as picture:
            assert picture.format == "PNG"
            width, height = picture.size
            assert height > 2 * width  # rows of image | ground truth | prediction, one per picked image
            pixels = np.asarray(picture.convert("RGB"))
        assert pixels.std() > 0


@pytest.mark.slow
def test_demo_graph_is_a_mermaid_block(demo: tuple[Path, dict[str, Any]]) -> None:
    output, _ = demo
    text = (output / "graph.md").read_text()
    assert text.startswith("```mermaid\n")
    assert text.rstrip().endswith("```")
    assert "flowchart" in text
    for name in ("backbone", "neck", *TASKS):
        assert name in text


def evaluate(model: torch.nn.Module, data: dict[str, torch.Tensor], batch_size: int) -> dict[str, dict[str, float]]:
    """Held-out metrics per task, computed here by plain PyTorch: ``{"task": {"metric": value}}``."""
    model.eval()
    with torch.no_grad():
        for start in range(0, len(data["images"]), batch_size):
            model({name: value[start : start + batch_size] for name, value in data.items()}, groups="validation")
    metrics: dict[str, dict[str, float]] = {}
    for key, value in model.summarize(reset=True).items():
        task, _, metric = key.partition("/")
        metrics.setdefault(task, {})[metric] = float(value)
    return metrics


@pytest.mark.slow
def test_demo_model_folder_reloads_with_the_same_results(demo: tuple[Path, dict[str, Any]]) -> None:
    output, report = demo
    model = load_model(output / "model")
    assert {key: value for key, value in model.config.items() if key != "input"} == resolve_config(DEMO_CONFIG)
    assert model.config["input"]["size"] == DEMO_CONFIG["input_shape"][1:]
    spec = json.loads((output / "config.json").read_text())["data"]["validation"][0]
    validation = make_shapes_batch(spec["count"], seed=spec["seed"])
    # the reloaded model gives what the trained model exported to ONNX ...
    differences = onnx_max_abs_differences(output / "model.onnx", model, {"images": validation["images"][:3]})
    assert max(differences.values()) < 1e-3
    # ... and the held-out metrics the train run reported
    metrics = evaluate(model, validation, 32)
    for task in TASKS:
        assert metrics[task] == pytest.approx(report[task], abs=2e-3), task


@pytest.mark.slow
def test_the_same_demo_command_writes_the_same_metrics_json(demo: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """Training is counted in seeded steps, so a second run lands exactly the same figures."""
    output, first = demo
    again = run_demo(tmp_path / "again", quick=True, show_progress=False)
    assert (tmp_path / "again" / "metrics.json").read_bytes() == (output / "metrics.json").read_bytes()
    assert again["_run"]["steps"] == first["_run"]["steps"]


@pytest.mark.slow
def test_the_demo_command_does_not_judge_a_quick_run_against_the_full_targets(tmp_path: Path, capsys) -> None:
    from torchbricks.cli import main

    assert main(["demo", "--quick", "--output", str(tmp_path / "quick")]) == 0
    printed = capsys.readouterr().out
    assert "below target" not in printed
    assert "(quick run: the full demo's target is 0.95)" in printed
    assert (tmp_path / "quick" / "metrics.json").is_file()
    assert set(TARGETS) == set(TASKS)


@pytest.mark.slow
def test_demo_pictures_show_image_truth_and_prediction_and_the_training_curves(
    demo: tuple[Path, dict[str, Any]],
) -> None:
    output, _ = demo
    for task in TASKS:
        with Image.open(output / "pictures" / f"{task}.png") as picture:
            assert picture.format == "PNG"
            width, height = picture.size
        assert width == 3 * 192  # image | ground truth | prediction
        assert height > 4 * 192  # four rows, a header and a legend
    header = (output / "logs" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {f"train/{task}/loss" for task in TASKS} <= set(header)  # each task's loss over the steps...
    assert {"train/segmentation/mean_iou", "val/segmentation/mean_iou", "train/shapes/exact_match"} <= set(header)
    with Image.open(output / "pictures" / "training.png") as plot:
        assert plot.format == "PNG"
        assert np.asarray(plot.convert("L")).std() > 0
