"""The standard pack's detection metrics: matching, thresholds, accumulation."""

from __future__ import annotations

import warnings

import pytest
import torch

from bag_of_bricks.metrics import BoxDetectionF1, PointDetectionF1
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
