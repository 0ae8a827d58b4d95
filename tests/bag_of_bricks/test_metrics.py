"""The standard pack's detection metrics: matching, thresholds, accumulation."""

from __future__ import annotations

import warnings

import pytest
import torch

from bag_of_bricks.metrics import BoxDetectionF1, BoxMeanAveragePrecision, PointDetectionF1, map_backend
from torchbricks import registry

# -- detection metrics ---------------------------------------------------------------------------------------


def point_metric(predictions: list, targets: list, max_distance: float = 4.0) -> dict[str, float]:
    metric = PointDetectionF1(max_distance=max_distance)
    metric.update(torch.tensor([predictions]).reshape(1, -1, 4), torch.tensor([targets]).reshape(1, -1, 3))
    return {name: round(float(value), 4) for name, value in metric.compute().items()}


def test_point_f1_counts_a_match_of_the_same_class() -> None:
    assert point_metric([[10.0, 10.0, 1.0, 0.9]], [[11.0, 12.0, 1.0]]) == {"f1": 1.0, "precision": 1.0, "recall": 1.0}


def test_point_f1_class_mismatch_is_a_miss() -> None:
    assert point_metric([[10.0, 10.0, 0.0, 0.9]], [[10.0, 10.0, 1.0]]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_point_f1_distance_just_inside_and_just_outside() -> None:
    assert point_metric([[13.0, 14.0, 0.0, 0.9]], [[10.0, 10.0, 0.0]], max_distance=5.0)["f1"] == 1.0  # exactly 5
    assert point_metric([[13.0, 14.01, 0.0, 0.9]], [[10.0, 10.0, 0.0]], max_distance=5.0)["f1"] == 0.0


def test_point_f1_duplicates_count_once() -> None:
    result = point_metric([[10.0, 10.0, 0.0, 0.9], [10.5, 10.0, 0.0, 0.8]], [[10.0, 10.0, 0.0]])
    assert result == {"f1": round(2 / 3, 4), "precision": 0.5, "recall": 1.0}


def test_point_f1_ignores_padding_rows() -> None:
    predictions = [[10.0, 10.0, 0.0, 0.9], [-1.0, -1.0, -1.0, -1.0], [-1.0, -1.0, -1.0, -1.0]]
    targets = [[10.0, 10.0, 0.0], [-1.0, -1.0, -1.0]]
    assert point_metric(predictions, targets) == {"f1": 1.0, "precision": 1.0, "recall": 1.0}


def test_point_f1_matches_higher_scores_first() -> None:
    # the low-scored prediction (listed first) is close to both targets, the high-scored one to the first only:
    # matching by score lets both match; matching in list order would leave the high-scored one without a target
    predictions = [[5.0, 0.0, 0.0, 0.2], [3.0, 0.0, 0.0, 0.9]]
    targets = [[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]]
    assert point_metric(predictions, targets, max_distance=5.0) == {"f1": 1.0, "precision": 1.0, "recall": 1.0}


def test_point_f1_accumulates_over_batches_and_resets() -> None:
    metric = PointDetectionF1()
    predictions = torch.tensor([[[10.0, 10.0, 0.0, 0.9]], [[50.0, 50.0, 0.0, 0.9]]])
    metric.update(predictions, torch.tensor([[[10.0, 10.0, 0.0]], [[10.0, 10.0, 0.0]]]))
    metric.update(torch.tensor([[[-1.0, -1.0, -1.0, -1.0]]]), torch.tensor([[[20.0, 20.0, 1.0]]]))
    result = metric.compute()
    assert (float(result["precision"]), float(result["recall"])) == pytest.approx((0.5, 1 / 3))
    metric.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torchmetrics: compute before update
        empty = metric.compute()
    assert float(empty["f1"]) == 0.0
    assert not any(bool(torch.isnan(value)) for value in empty.values())


def box_metric(predictions: list, targets: list, iou_threshold: float = 0.5) -> dict[str, float]:
    metric = BoxDetectionF1(iou_threshold=iou_threshold)
    metric.update(torch.tensor([predictions]).reshape(1, -1, 6), torch.tensor([targets]).reshape(1, -1, 5))
    return {name: round(float(value), 4) for name, value in metric.compute().items()}


def test_box_f1_iou_just_inside_and_just_outside() -> None:
    target = [[0.0, 0.0, 10.0, 10.0, 0.0]]
    assert box_metric([[0.0, 0.0, 10.0, 5.0, 0.0, 0.9]], target)["f1"] == 1.0  # IoU exactly 0.5
    assert box_metric([[0.0, 0.0, 10.0, 4.9, 0.0, 0.9]], target)["f1"] == 0.0  # IoU 0.49


def test_box_f1_class_mismatch_and_duplicates() -> None:
    target = [[0.0, 0.0, 10.0, 10.0, 1.0]]
    assert box_metric([[0.0, 0.0, 10.0, 10.0, 0.0, 0.9]], target)["f1"] == 0.0
    duplicates = [[0.0, 0.0, 10.0, 10.0, 1.0, 0.9], [0.5, 0.0, 10.0, 10.0, 1.0, 0.8]]
    assert box_metric(duplicates, target) == {"f1": round(2 / 3, 4), "precision": 0.5, "recall": 1.0}


def test_box_f1_with_no_targets_counts_false_positives() -> None:
    result = box_metric([[0.0, 0.0, 10.0, 10.0, 0.0, 0.9]], [[-1.0, -1.0, -1.0, -1.0, -1.0]])
    assert result == {"f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_detection_metrics_are_registered() -> None:
    assert registry.get("metrics", "point_detection_f1") is PointDetectionF1
    assert registry.get("metrics", "box_detection_f1") is BoxDetectionF1


# -- box mean average precision ------------------------------------------------------------------------------

needs_map_backend = pytest.mark.skipif(map_backend() is None, reason="needs pycocotools or faster-coco-eval")
MAP_KEYS = {"map", "map_50", "map_75", "mar_100"}
PREDICTION_PADDING = [-1.0] * 6
TARGET_PADDING = [-1.0] * 5

# two images with boxes of classes 0, 1 and 2; perfect predictions of them with scores
MAP_TARGETS = [
    [[0.0, 0.0, 10.0, 10.0, 0.0], [20.0, 20.0, 36.0, 30.0, 1.0]],
    [[5.0, 5.0, 25.0, 15.0, 2.0], [30.0, 0.0, 40.0, 12.0, 0.0]],
]
MAP_PERFECT = [[[*box, score] for box, score in zip(image, (0.9, 0.7), strict=True)] for image in MAP_TARGETS]


def as_floats(values: dict[str, torch.Tensor]) -> dict[str, float]:
    return {name: float(value) for name, value in values.items()}


def average_precision(predictions: list, targets: list) -> dict[str, float]:
    """``BoxMeanAveragePrecision`` of one batch; ``predictions`` and ``targets`` hold the rows of each image."""
    metric = BoxMeanAveragePrecision()
    metric.update(
        torch.tensor(predictions).reshape(len(predictions), -1, 6),
        torch.tensor(targets).reshape(len(targets), -1, 5),
    )
    return as_floats(metric.compute())


@needs_map_backend
def test_box_map_of_perfect_predictions_is_one() -> None:
    result = average_precision(MAP_PERFECT, MAP_TARGETS)
    assert result == {
        "map": pytest.approx(1.0),
        "map_50": pytest.approx(1.0),
        "map_75": pytest.approx(1.0),
        "mar_100": pytest.approx(1.0),
    }


@needs_map_backend
def test_box_map_class_mismatch_is_a_miss() -> None:
    target = [[[0.0, 0.0, 10.0, 10.0, 1.0]]]
    assert average_precision([[[0.0, 0.0, 10.0, 10.0, 1.0, 0.9]]], target)["map_50"] == pytest.approx(1.0)
    assert average_precision([[[0.0, 0.0, 10.0, 10.0, 0.0, 0.9]]], target)["map_50"] == 0.0


@needs_map_backend
def test_box_map_iou_below_one_half_is_a_miss() -> None:
    target = [[[0.0, 0.0, 10.0, 10.0, 0.0]]]
    assert average_precision([[[0.0, 0.0, 10.0, 5.5, 0.0, 0.9]]], target)["map_50"] == pytest.approx(1.0)  # IoU 0.55
    assert average_precision([[[0.0, 0.0, 10.0, 4.5, 0.0, 0.9]]], target)["map_50"] == 0.0  # IoU 0.45


@needs_map_backend
def test_box_map_ignores_padding_rows() -> None:
    # a confident wrong prediction and a missed target: the result is neither 0 nor 1
    predictions = [[*MAP_PERFECT[0], [50.0, 50.0, 60.0, 60.0, 1.0, 0.95]], MAP_PERFECT[1][:1]]
    unpadded = BoxMeanAveragePrecision()
    for image_predictions, image_targets in zip(predictions, MAP_TARGETS, strict=True):  # one image a batch
        unpadded.update(torch.tensor([image_predictions]), torch.tensor([image_targets]))
    expected = as_floats(unpadded.compute())
    assert 0.0 < expected["map"] < 1.0
    padded_predictions = [[*predictions[0], PREDICTION_PADDING], [*predictions[1], *[PREDICTION_PADDING] * 3]]
    padded_targets = [[*image, TARGET_PADDING, TARGET_PADDING] for image in MAP_TARGETS]
    assert average_precision(padded_predictions, padded_targets) == expected


def random_detections(seed: int, images: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded ``predictions [B, 8, 6]`` and ``targets [B, 5, 5]``: jittered targets, some missed, plus false alarms."""
    generator = torch.Generator().manual_seed(seed)
    predictions = torch.full((images, 8, 6), -1.0)
    targets = torch.full((images, 5, 5), -1.0)
    for image in range(images):
        count = int(torch.randint(2, 6, (1,), generator=generator))
        corners = torch.rand(count, 2, generator=generator) * 40
        sizes = torch.rand(count, 2, generator=generator) * 15 + 5
        classes = torch.randint(0, 3, (count, 1), generator=generator).float()
        targets[image, :count] = torch.cat([corners, corners + sizes, classes], dim=1)
        found = count - 1  # the last target is missed
        jitter = (torch.rand(found, 4, generator=generator) - 0.5) * 6
        alarms = 2
        alarm_corners = torch.rand(alarms, 2, generator=generator) * 40
        alarm_boxes = torch.cat([alarm_corners, alarm_corners + 8], dim=1)
        boxes = torch.cat([targets[image, :found, :4] + jitter, alarm_boxes])
        labels = torch.cat([classes[:found], torch.randint(0, 3, (alarms, 1), generator=generator).float()])
        scores = torch.rand(found + alarms, 1, generator=generator)
        predictions[image, : found + alarms] = torch.cat([boxes, labels, scores], dim=1)
    return predictions, targets


def as_dicts(predictions: torch.Tensor, targets: torch.Tensor) -> tuple[list[dict], list[dict]]:
    """What torchmetrics' ``MeanAveragePrecision`` reads, written out by hand from the padded tensors."""
    detections, truths = [], []
    for image_predictions, image_targets in zip(predictions.tolist(), targets.tolist(), strict=True):
        kept = torch.tensor([row for row in image_predictions if row[4] != -1])
        truth = torch.tensor([row for row in image_targets if row[4] != -1])
        detections.append({"boxes": kept[:, :4], "scores": kept[:, 5], "labels": kept[:, 4].long()})
        truths.append({"boxes": truth[:, :4], "labels": truth[:, 4].long()})
    return detections, truths


@needs_map_backend
def test_box_map_equals_torchmetrics_mean_average_precision_over_batches() -> None:
    from torchmetrics.detection import MeanAveragePrecision

    metric = BoxMeanAveragePrecision()
    reference = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend=map_backend())
    for seed in (0, 1):
        predictions, targets = random_detections(seed)
        metric.update(predictions, targets)
        reference.update(*as_dicts(predictions, targets))
    result = as_floats(metric.compute())
    expected = reference.compute()
    assert result == {name: pytest.approx(float(expected[name]), abs=1e-6) for name in MAP_KEYS}
    assert 0.0 < result["map"] < result["map_50"] < 1.0  # a case that tells the metrics apart


@needs_map_backend
def test_box_map_compute_returns_the_four_scalars() -> None:
    metric = BoxMeanAveragePrecision()
    metric.update(*random_detections(2))
    result = metric.compute()
    assert set(result) == MAP_KEYS
    assert all(isinstance(value, torch.Tensor) and value.ndim == 0 for value in result.values())


@needs_map_backend
def test_box_map_reset_clears_the_state() -> None:
    wrong_class = torch.tensor([[[0.0, 0.0, 10.0, 10.0, 0.0, 0.9]]])
    target = torch.tensor([[[0.0, 0.0, 10.0, 10.0, 1.0]]])
    metric = BoxMeanAveragePrecision()
    metric.update(torch.tensor([[[0.0, 0.0, 10.0, 10.0, 1.0, 0.9]]]), target)
    assert float(metric.compute()["map_50"]) == pytest.approx(1.0)
    metric.reset()
    metric.update(wrong_class, target)  # kept with the first update, this would give 0.5
    assert float(metric.compute()["map_50"]) == 0.0


@needs_map_backend
def test_box_map_forward_accumulates_like_update() -> None:
    batches = [random_detections(seed) for seed in (0, 1)]
    updated, forwarded = BoxMeanAveragePrecision(), BoxMeanAveragePrecision()
    for predictions, targets in batches:
        updated.update(predictions, targets)
        forwarded(predictions, targets)  # what a MetricCollection does with return_metrics=True
    assert as_floats(forwarded.compute()) == as_floats(updated.compute())


def test_box_map_is_registered() -> None:
    assert registry.get("metrics", "box_mean_average_precision") is BoxMeanAveragePrecision
