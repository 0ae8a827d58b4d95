"""The task factories: each builds head, loss, metrics and visualizer bricks with relative names, trains on
generated data, and leaves unlabelled samples (a ``labelled`` flag or an ignore value) out of its loss and
metrics."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from bag_of_bricks import tasks
from bag_of_bricks.metrics import map_backend
from bag_of_bricks.shapes import make_shapes_batch
from torchbricks import BrickCollection, registry
from torchbricks.bricks import BrickLoss, BrickTrainable

IMAGE_SIZE = 32
CHANNELS = 16
MAP_METRICS = ("map", "map_50", "map_75", "mar_100")


class TinyStem(nn.Module):
    """uint8 images → stride-4 features with ``CHANNELS`` channels."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, CHANNELS, kernel_size=3, stride=2, padding=1),
            nn.BatchNorm2d(CHANNELS),
            nn.ReLU(),
            nn.Conv2d(CHANNELS, CHANNELS, kernel_size=3, stride=2, padding=1),
            nn.ReLU(),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images.float() / 255.0 - 0.5)


def shapes_batch(count: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    batch = make_shapes_batch(count, seed=seed, image_size=IMAGE_SIZE, radius_range=(4, 8))
    batch["label"] = batch["points"][:, 0, 2].long()  # the kind of the first shape drawn
    return batch


def boxes_batch(count: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    """Black images with 1–2 filled rectangles: class 0 red, class 1 green; boxes ``[B, 2, 5]`` padded with -1."""
    generator = np.random.default_rng(seed)
    images = np.zeros((count, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    boxes = np.full((count, 2, 5), -1.0, dtype=np.float32)
    for index in range(count):
        for slot in range(int(generator.integers(1, 3))):
            kind = int(generator.integers(0, 2))
            width, height = (int(value) for value in generator.integers(6, 14, size=2))
            x1 = int(generator.integers(0, IMAGE_SIZE - width))
            y1 = int(generator.integers(0, IMAGE_SIZE - height))
            images[index, y1 : y1 + height, x1 : x1 + width, kind] = 255
            boxes[index, slot] = (x1, y1, x1 + width, y1 + height, kind)
    return {"images": torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), "boxes": torch.from_numpy(boxes)}


@dataclass(frozen=True)
class TaskCase:
    factory: Callable[..., dict[str, Any]]
    arguments: dict[str, Any]
    make_batch: Callable[..., dict[str, torch.Tensor]]
    outputs: tuple[str, ...]
    metrics: tuple[str, ...]
    feature_kind: str
    max_stride: int | None


CASES = {
    "image_classification": TaskCase(
        tasks.image_classification,
        {"num_classes": 3, "targets": "label"},
        shapes_batch,
        ("logits", "probabilities", "class_prediction", "loss"),
        ("accuracy", "f1"),
        "global",
        None,
    ),
    "multilabel_classification": TaskCase(
        tasks.multilabel_classification,
        {"num_classes": 3, "targets": "shape_present", "hidden": 16},
        shapes_batch,
        ("logits", "probabilities", "present", "loss"),
        ("exact_match", "f1"),
        "global",
        None,
    ),
    "semantic_segmentation": TaskCase(
        tasks.semantic_segmentation,
        {"num_classes": 4, "targets": "segmentation", "stride": 4, "hidden": 16},
        shapes_batch,
        ("logits", "class_map", "loss"),
        ("mean_iou",),
        "dense",
        16,
    ),
    "point_detection": TaskCase(
        tasks.point_detection,
        {"num_classes": 3, "targets": "points", "stride": 4, "hidden": 16, "max_points": 5},
        shapes_batch,
        ("heatmap", "offsets", "points", "loss"),
        ("f1", "precision", "recall"),
        "dense",
        8,
    ),
    "object_detection": TaskCase(
        tasks.object_detection,
        {"num_classes": 2, "targets": "boxes", "stride": 4, "hidden": 16, "max_boxes": 5},
        boxes_batch,
        ("heatmap", "regression", "boxes", "loss"),
        ("f1", "precision", "recall", *(MAP_METRICS if map_backend() else ())),  # mAP by default when it can run
        "dense",
        16,
    ),
}
TASK_NAMES = sorted(CASES)
TARGETS = {name: case.arguments["targets"] for name, case in CASES.items()}


def build(task: str, name: str = "task", **overrides: Any) -> BrickCollection:
    """A tiny stem (``images`` → ``features``) plus the task's bricks under ``name``."""
    case = CASES[task]
    arguments = {**case.arguments, "features": "features", "in_channels": CHANNELS, **overrides}
    return BrickCollection(
        {"stem": BrickTrainable(TinyStem(), ["images"], ["features"]), name: case.factory(**arguments)}
    )


def as_float(value: torch.Tensor) -> float:
    return float(value.detach())


def summary_floats(model: BrickCollection) -> dict[str, float]:
    return {key: as_float(value) for key, value in model.summarize(reset=True).items()}


def select(batch: dict[str, torch.Tensor], keep: list[int]) -> dict[str, torch.Tensor]:
    return {name: value[keep] for name, value in batch.items()}


# -- building and naming -------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASK_NAMES)
def test_task_factory_is_registered_with_its_feature_kind(task: str) -> None:
    factory = registry.get("tasks", task)
    assert factory is CASES[task].factory
    assert factory.feature_kind == CASES[task].feature_kind
    assert factory.max_stride == CASES[task].max_stride


@pytest.mark.parametrize("task", TASK_NAMES)
def test_task_returns_head_loss_metrics_and_visualizer(task: str) -> None:
    bricks = CASES[task].factory(**CASES[task].arguments, features="features", in_channels=CHANNELS)
    assert {"head", "loss", "metrics", "visualizer"} <= set(bricks)
    assert set(bricks) - {"head", "loss", "metrics", "visualizer"} <= {"select_rows"}  # ignore-row filtering only
    assert isinstance(bricks["loss"], BrickLoss)
    assert all(name.startswith("./") for name in bricks["head"].output_names)
    assert bricks["head"].input_names == ["features"]


@pytest.mark.parametrize("task", TASK_NAMES)
def test_task_outputs_use_relative_names_under_the_task_name(task: str) -> None:
    model = build(task, name="mine")
    batch = CASES[task].make_batch(4)
    outputs = model(batch, groups="train")
    produced = {name for name in outputs if name.startswith("mine/") and not name.startswith("mine/rows/")}
    assert produced == {f"mine/{output}" for output in CASES[task].outputs}
    assert list(model.extract_losses(outputs)) == ["mine/loss"]
    assert outputs["mine/loss"].ndim == 0
    assert "mine/visualization" not in outputs  # visualizers run only when asked for


@pytest.mark.parametrize("task", TASK_NAMES)
def test_task_forward_and_backward_reach_the_features(task: str) -> None:
    model = build(task)
    outputs = model(CASES[task].make_batch(4), groups="train")
    loss = outputs["task/loss"]
    assert math.isfinite(as_float(loss))
    loss.backward()
    stem = model["stem"].model.layers[0]
    assert stem.weight.grad is not None
    assert float(stem.weight.grad.abs().sum()) > 0
    for name, parameter in model["task"]["head"].named_parameters():
        assert parameter.grad is not None, name


@pytest.mark.parametrize("task", TASK_NAMES)
def test_task_loss_decreases_on_generated_data(task: str) -> None:
    torch.manual_seed(0)
    model = build(task)
    batch = CASES[task].make_batch(6, seed=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(12):
        loss = model(batch, groups="train")["task/loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(as_float(loss))
    assert all(math.isfinite(value) for value in losses)
    assert losses[-1] < 0.75 * losses[0], losses


@pytest.mark.parametrize("task", TASK_NAMES)
def test_task_metrics_are_summarised_under_the_task_name(task: str) -> None:
    model = build(task, name="mine").eval()
    with torch.no_grad():
        model(CASES[task].make_batch(4), groups="test")
    summary = summary_floats(model)
    assert set(summary) == {f"mine/{metric}" for metric in CASES[task].metrics}
    assert all(0.0 <= value <= 1.0 for value in summary.values())


@pytest.mark.parametrize("task", TASK_NAMES)
def test_task_visualizer_draws_one_picture_per_image(task: str) -> None:
    model = build(task).eval()
    with torch.no_grad():
        outputs = model(CASES[task].make_batch(3), groups={"MODEL", "VISUALIZATION"})
    pictures = outputs["task/visualization"]
    assert len(pictures) == 3
    assert all(isinstance(picture, Image.Image) and picture.size == (IMAGE_SIZE, IMAGE_SIZE) for picture in pictures)


@pytest.mark.skipif(map_backend() is None, reason="needs pycocotools or faster-coco-eval")
def test_object_detection_with_mean_average_precision_summarises_map_next_to_f1() -> None:
    torch.manual_seed(0)
    model = build("object_detection", mean_average_precision=True, score_threshold=0.0).eval()
    with torch.no_grad():
        model(boxes_batch(4), groups="validation")
    summary = summary_floats(model)
    assert set(summary) == {f"task/{metric}" for metric in ("f1", "precision", "recall", *MAP_METRICS)}
    assert all(0.0 <= value <= 1.0 for value in summary.values())


def test_object_detection_without_mean_average_precision_summarises_f1_only() -> None:
    model = build("object_detection", mean_average_precision=False, score_threshold=0.0).eval()
    with torch.no_grad():
        model(boxes_batch(4), groups="validation")
    assert set(summary_floats(model)) == {"task/f1", "task/precision", "task/recall"}


def test_two_tasks_of_one_factory_live_side_by_side() -> None:
    stem = BrickTrainable(TinyStem(), ["images"], ["features"])
    first = tasks.image_classification(num_classes=3, features="features", in_channels=CHANNELS, targets="label")
    second = tasks.image_classification(num_classes=2, features="features", in_channels=CHANNELS, targets="other")
    model = BrickCollection({"stem": stem, "first": first, "second": second})
    batch = shapes_batch(4)
    outputs = model({**batch, "other": batch["label"] % 2}, groups="train")
    assert outputs["first/logits"].shape == (4, 3)
    assert outputs["second/logits"].shape == (4, 2)
    assert sorted(model.extract_losses(outputs)) == ["first/loss", "second/loss"]


def test_segmentation_task_with_a_detail_input() -> None:
    bricks = tasks.semantic_segmentation(
        num_classes=4, features="features", in_channels=CHANNELS, targets="segmentation", detail="detail", hidden=16
    )
    assert bricks["head"].input_names == ["features", "detail"]
    model = BrickCollection({"stem": BrickTrainable(TinyStem(), ["images"], ["features"]), "seg": bricks})
    batch = shapes_batch(2)
    outputs = model({**batch, "detail": batch["images"].float() / 255}, groups="train")
    assert outputs["seg/logits"].shape == (2, 4, IMAGE_SIZE, IMAGE_SIZE)


def test_classification_task_uses_class_names_in_its_visualizer() -> None:
    bricks = tasks.image_classification(num_classes=2, in_channels=4, class_names=["cat", "dog"])
    assert bricks["visualizer"].model.class_names == ["cat", "dog"]
    default = tasks.image_classification(num_classes=2, in_channels=4)
    assert default["visualizer"].model.class_names == ["0", "1"]


# -- partial labels: a labelled flag -------------------------------------------------------------------------
#
# The semantic tests below give the targets a name of their own ("target"), so that they check what the flag does
# whatever the target names; test_labelled_flag_with_the_default_target_names builds with the defaults.

FLAGS = torch.tensor([True, False, True, True, False, True])
LABELLED = [index for index, flag in enumerate(FLAGS.tolist()) if flag]
# detection heads start with low scores: a zero threshold makes them predict points/boxes to match
DETECTION_OVERRIDES = {
    "point_detection": {"score_threshold": 0.0, "max_distance": 8.0},
    "object_detection": {"score_threshold": 0.0},
}


def labelled_model(task: str, **overrides: Any) -> BrickCollection:
    return build(task, labelled="has_label", targets="target", **overrides)


def labelled_batch(task: str, count: int, seed: int = 0, flags: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    batch = CASES[task].make_batch(count, seed=seed)
    batch["target"] = batch.pop(TARGETS[task])
    batch["has_label"] = FLAGS if flags is None else flags
    return batch


def scrambled_unlabelled_targets(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch with the targets of the unlabelled samples replaced by other samples' targets."""
    scrambled = batch["target"].clone()
    unlabelled = (~FLAGS).nonzero().flatten()
    scrambled[unlabelled] = batch["target"][unlabelled.flip(0) - 1]
    return {**batch, "target": scrambled}


def loss_and_metrics(model: BrickCollection, batch: dict[str, torch.Tensor]) -> tuple[float, dict[str, float]]:
    """The task loss on ``batch``, and its metrics: the summary and the accumulated metric states (counts)."""
    with torch.no_grad():
        outputs = model(batch, groups="test")
    states = {
        f"{name}.{key}": float(value.double().sum())
        for name, metric in model["task"]["metrics"].metrics.items()
        for key, value in metric.metric_state.items()
        if isinstance(value, torch.Tensor)
    }
    return as_float(outputs["task/loss"]), {**summary_floats(model), **states}


@pytest.mark.parametrize("task", TASK_NAMES)
def test_labelled_flag_with_the_default_target_names(task: str) -> None:
    model = build(task, labelled="has_label")
    outputs = model({**CASES[task].make_batch(len(FLAGS)), "has_label": FLAGS}, groups="train")
    assert math.isfinite(as_float(outputs["task/loss"]))


@pytest.mark.parametrize("task", TASK_NAMES)
def test_labelled_flag_leaves_unlabelled_samples_out_of_loss_and_metrics(task: str) -> None:
    torch.manual_seed(0)
    model = labelled_model(task, **DETECTION_OVERRIDES.get(task, {}))
    batch = labelled_batch(task, len(FLAGS), seed=2)
    with torch.no_grad():  # one pass in train mode: batch-norm statistics away from their defaults
        model({**batch, "has_label": torch.ones(len(FLAGS), dtype=torch.bool)}, groups="train")
    model.reset_metrics()
    model.eval()
    full_loss, full_metrics = loss_and_metrics(model, batch)
    scrambled_loss, scrambled_metrics = loss_and_metrics(model, scrambled_unlabelled_targets(batch))
    subset = {**select(batch, LABELLED), "has_label": torch.ones(len(LABELLED), dtype=torch.bool)}
    subset_loss, subset_metrics = loss_and_metrics(model, subset)
    assert full_loss == pytest.approx(subset_loss, rel=1e-5, abs=1e-6)
    assert scrambled_loss == pytest.approx(subset_loss, rel=1e-5, abs=1e-6)
    assert full_metrics == pytest.approx(subset_metrics, abs=1e-6)
    assert scrambled_metrics == pytest.approx(subset_metrics, abs=1e-6)


@pytest.mark.parametrize("task", TASK_NAMES)
def test_labelled_flag_selects_predictions_under_the_task(task: str) -> None:
    model = labelled_model(task)
    outputs = model(labelled_batch(task, len(FLAGS)), groups="train")
    selected = [name for name in outputs if name.startswith("task/labelled/")]
    assert "task/labelled/target" in selected
    assert all(outputs[name].shape[0] == len(LABELLED) for name in selected)
    assert "has_label" in model.required_inputs("train")
    assert "has_label" not in model.required_inputs("inference")


@pytest.mark.parametrize("task", TASK_NAMES)
def test_unlabelled_samples_get_no_gradient(task: str) -> None:
    case = CASES[task]
    bricks = case.factory(
        **{**case.arguments, "targets": "target"}, features="features", in_channels=CHANNELS, labelled="has_label"
    )
    model = BrickCollection({"task": bricks}).eval()  # batch norm on running statistics: samples do not interact
    features = torch.rand(len(FLAGS), CHANNELS, IMAGE_SIZE // 4, IMAGE_SIZE // 4, requires_grad=True)
    outputs = model({**labelled_batch(task, len(FLAGS)), "features": features}, groups="train")
    outputs["task/loss"].backward()
    per_sample = features.grad.abs().flatten(1).sum(dim=1)
    assert bool((per_sample[~FLAGS] == 0).all())
    assert bool((per_sample[FLAGS] > 0).any())


@pytest.mark.parametrize("task", TASK_NAMES)
def test_a_batch_without_labelled_samples_gives_a_zero_loss(task: str) -> None:
    model = labelled_model(task)
    outputs = model(labelled_batch(task, 3, flags=torch.zeros(3, dtype=torch.bool)), groups="train")
    loss = outputs["task/loss"]
    assert as_float(loss) == 0.0
    loss.backward()
    for parameter in model.parameters():
        if parameter.grad is not None:
            assert bool(torch.isfinite(parameter.grad).all())


# -- partial labels: ignore values ---------------------------------------------------------------------------


def ignore_compare(task: str, ignored: dict[str, torch.Tensor], keep: list[int], batch: dict[str, torch.Tensor]):
    torch.manual_seed(0)
    model = build(task).eval()
    full = loss_and_metrics(model, ignored)
    subset = loss_and_metrics(model, select(batch, keep))
    return full, subset


def test_classification_ignores_class_minus_one() -> None:
    batch = shapes_batch(6, seed=3)
    ignored = {**batch, "label": batch["label"].clone()}
    ignored["label"][[1, 4]] = -1
    (full_loss, full_metrics), (subset_loss, subset_metrics) = ignore_compare(
        "image_classification", ignored, [0, 2, 3, 5], batch
    )
    assert full_loss == pytest.approx(subset_loss, rel=1e-5)
    assert full_metrics == pytest.approx(subset_metrics, abs=1e-6)


def multilabel_with_ignored_rows() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    batch = shapes_batch(6, seed=3)
    ignored = {**batch, "shape_present": batch["shape_present"].clone()}
    ignored["shape_present"][[1, 4]] = -1
    return batch, ignored


def test_multilabel_loss_ignores_rows_of_minus_one() -> None:
    batch, ignored = multilabel_with_ignored_rows()
    (full_loss, _), (subset_loss, _) = ignore_compare("multilabel_classification", ignored, [0, 2, 3, 5], batch)
    assert full_loss == pytest.approx(subset_loss, rel=1e-5)


def test_multilabel_metrics_ignore_rows_of_minus_one() -> None:
    batch, ignored = multilabel_with_ignored_rows()
    (_, full_metrics), (_, subset_metrics) = ignore_compare("multilabel_classification", ignored, [0, 2, 3, 5], batch)
    assert full_metrics == pytest.approx(subset_metrics, abs=1e-6)


def test_segmentation_ignores_pixels_of_255() -> None:
    batch = shapes_batch(6, seed=3)
    ignored = {**batch, "segmentation": batch["segmentation"].clone()}
    ignored["segmentation"][[1, 4]] = 255
    (full_loss, full_metrics), (subset_loss, subset_metrics) = ignore_compare(
        "semantic_segmentation", ignored, [0, 2, 3, 5], batch
    )
    assert full_loss == pytest.approx(subset_loss, rel=1e-5)
    assert full_metrics == pytest.approx(subset_metrics, abs=1e-6)


@pytest.mark.parametrize("task", ["image_classification", "multilabel_classification", "semantic_segmentation"])
def test_a_batch_where_every_sample_has_the_ignore_value_gives_a_zero_loss(task: str) -> None:
    batch = shapes_batch(3)
    target = TARGETS[task]
    batch[target] = torch.full_like(batch[target], 255 if task == "semantic_segmentation" else -1)
    model = build(task)
    loss = model(batch, groups="train")["task/loss"]
    assert as_float(loss) == 0.0
    loss.backward()
