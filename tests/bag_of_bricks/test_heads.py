"""The standard pack's heads and the decoding of their outputs (and its inverse, rendering targets)."""

from __future__ import annotations

import math

import pytest
import torch

from bag_of_bricks._detection import decode_boxes, decode_points, render_heatmaps
from bag_of_bricks.heads import (
    BoxDetectionHead,
    ImageClassifier,
    MultiLabelClassifier,
    PointDetectionHead,
    SegmentationHead,
)
from bag_of_bricks.losses import BoxDetectionLoss
from tests.helpers.tensors import seeded
from torchbricks import registry

# -- heads ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("features", [seeded(2, 8, 4, 4), seeded(2, 8)])
def test_image_classifier_outputs(features: torch.Tensor) -> None:
    logits, probabilities, prediction = ImageClassifier(num_classes=3, n_features=8)(features)
    assert logits.shape == probabilities.shape == (2, 3)
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(2))
    assert torch.equal(prediction, logits.argmax(dim=1))


def test_image_classifier_pools_feature_maps() -> None:
    head = ImageClassifier(num_classes=3, n_features=8)
    features = seeded(2, 8, 4, 4)
    torch.testing.assert_close(head(features)[0], head(features.mean(dim=(2, 3)))[0])


@pytest.mark.parametrize("features", [seeded(2, 8, 4, 4), seeded(2, 8)])
def test_multilabel_classifier_outputs(features: torch.Tensor) -> None:
    head = MultiLabelClassifier(num_classes=4, n_features=8, hidden=16, threshold=0.5)
    logits, probabilities, present = head(features)
    assert logits.shape == probabilities.shape == present.shape == (2, 4)
    torch.testing.assert_close(probabilities, logits.sigmoid())
    assert torch.equal(present, (probabilities > 0.5).long())


@pytest.mark.parametrize("stride", [1, 2, 4, 8])
def test_segmentation_head_returns_full_resolution(stride: int) -> None:
    head = SegmentationHead(in_channels=8, num_classes=5, stride=stride, hidden=16)
    logits, classes = head(seeded(2, 8, 32 // stride, 32 // stride))
    assert logits.shape == (2, 5, 32, 32)
    assert classes.shape == (2, 32, 32)
    assert torch.equal(classes, logits.argmax(dim=1))


def test_segmentation_head_with_detail_input() -> None:
    head = SegmentationHead(in_channels=8, num_classes=3, stride=4, hidden=16, detail_channels=3)
    logits, _ = head(seeded(1, 8, 8, 8), seeded(1, 3, 32, 32))
    assert logits.shape == (1, 3, 32, 32)
    resized, _ = head(seeded(1, 8, 8, 8), seeded(1, 3, 16, 16))  # a detail of another size is resized
    assert resized.shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="detail"):
        head(seeded(1, 8, 8, 8))


@pytest.mark.parametrize("stride", [0, 3, 6])
def test_segmentation_head_rejects_strides_that_are_not_powers_of_two(stride: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        SegmentationHead(in_channels=8, num_classes=3, stride=stride)


def test_point_detection_head_outputs() -> None:
    head = PointDetectionHead(in_channels=8, num_classes=3, stride=4, hidden=16, max_points=7)
    heatmap, offsets, points = head(seeded(2, 8, 8, 8))
    assert heatmap.shape == (2, 3, 8, 8)
    assert offsets.shape == (2, 2, 8, 8)
    assert points.shape == (2, 7, 4)
    # a fresh head starts with low scores: nothing above the threshold yet
    assert bool((points == -1).all())


def test_box_detection_head_outputs() -> None:
    head = BoxDetectionHead(in_channels=8, num_classes=2, stride=4, hidden=16, max_boxes=5)
    heatmap, regression, boxes = head(seeded(2, 8, 8, 8))
    assert heatmap.shape == (2, 2, 8, 8)
    assert regression.shape == (2, 4, 8, 8)
    assert boxes.shape == (2, 5, 6)


def test_heads_are_registered() -> None:
    assert registry.get("heads", "image_classifier") is ImageClassifier
    assert registry.get("heads", "multilabel_classifier") is MultiLabelClassifier
    assert registry.get("heads", "segmentation_head") is SegmentationHead
    assert registry.get("heads", "point_detection_head") is PointDetectionHead
    assert registry.get("heads", "box_detection_head") is BoxDetectionHead


# -- decoding ↔ rendering ------------------------------------------------------------------------------------


def test_render_heatmaps_marks_centres_and_offsets() -> None:
    points = torch.tensor([[[10.0, 22.0, 1.0], [-1.0, -1.0, -1.0]]])
    heatmaps, offsets, centres = render_heatmaps(points, num_classes=2, size=(16, 16), stride=4, sigma=1.0)
    assert heatmaps.shape == (1, 2, 16, 16)
    # (10, 22) px → cell (2.0, 5.0): the peak sits exactly on a cell, with zero offsets
    assert float(heatmaps[0, 1, 5, 2]) == 1.0
    assert float(heatmaps[0, 0].max()) == 0.0
    assert float(heatmaps[0, 1, 5, 3]) == pytest.approx(math.exp(-0.5), rel=1e-6)
    assert centres.sum() == 1
    assert bool(centres[0, 5, 2])
    assert float(offsets.abs().max()) == 0.0


def test_render_heatmaps_without_points_is_empty() -> None:
    heatmaps, offsets, centres = render_heatmaps(torch.full((2, 3, 3), -1.0), 2, (4, 4), stride=4)
    assert float(heatmaps.abs().sum() + offsets.abs().sum()) == 0.0
    assert not bool(centres.any())


def test_decode_points_inverts_render_heatmaps() -> None:
    points = torch.tensor(
        [
            [[10.0, 22.0, 1.0], [41.3, 30.9, 0.0], [-1.0, -1.0, -1.0]],
            [[50.7, 6.2, 2.0], [-1.0, -1.0, -1.0], [-1.0, -1.0, -1.0]],
        ]
    )
    heatmaps, offsets, _ = render_heatmaps(points, num_classes=3, size=(16, 16), stride=4)
    decoded = decode_points(torch.logit(heatmaps, eps=1e-6), offsets, stride=4, max_points=5, score_threshold=0.5)
    assert decoded.shape == (2, 5, 4)
    for sample, targets in zip(decoded, points, strict=True):
        found = sample[sample[:, 2] >= 0]
        expected = targets[targets[:, 2] >= 0]
        assert len(found) == len(expected)
        order = lambda rows: rows[rows[:, 0].argsort()]  # noqa: E731
        torch.testing.assert_close(order(found)[:, :3], order(expected), atol=1e-4, rtol=0)
        assert bool((found[:, 3] > 0.99).all())
        assert bool((sample[len(found) :] == -1).all())


def test_decode_points_keeps_only_local_maxima_above_the_threshold() -> None:
    logits = torch.full((1, 1, 5, 5), -10.0)
    logits[0, 0, 2, 2] = 3.0
    logits[0, 0, 2, 3] = 2.0  # a neighbour of the peak: suppressed
    logits[0, 0, 0, 0] = -1.0  # a local maximum below the threshold
    decoded = decode_points(logits, torch.zeros(1, 2, 5, 5), stride=2, max_points=3, score_threshold=0.3)
    assert decoded[0, 0].tolist() == pytest.approx([5.0, 5.0, 0.0, float(torch.sigmoid(torch.tensor(3.0)))])
    assert bool((decoded[0, 1:] == -1).all())


def box_regression_for(boxes: torch.Tensor, size: tuple[int, int], stride: int) -> torch.Tensor:
    """The regression map a perfect box head would predict (as BoxDetectionLoss encodes its targets)."""
    regression = torch.zeros(boxes.shape[0], 4, *size)
    for sample, rows in enumerate(boxes):
        for x1, y1, x2, y2, kind in rows.tolist():
            if kind < 0:
                continue
            centre_x, centre_y = (x1 + x2) / 2 / stride - 0.5, (y1 + y2) / 2 / stride - 0.5
            column, row = round(centre_x), round(centre_y)
            regression[sample, :, row, column] = torch.tensor(
                [centre_x - column, centre_y - row, math.log((x2 - x1) / stride), math.log((y2 - y1) / stride)]
            )
    return regression


def test_decode_boxes_inverts_the_box_encoding() -> None:
    boxes = torch.tensor([[[4.0, 6.0, 21.0, 30.0, 0.0], [33.0, 35.0, 61.0, 47.0, 1.0], [-1, -1, -1, -1, -1]]])
    centres = torch.cat([(boxes[..., :2] + boxes[..., 2:4]) / 2, boxes[..., 4:]], dim=-1)
    heatmaps, _, _ = render_heatmaps(centres, num_classes=2, size=(16, 16), stride=4)
    regression = box_regression_for(boxes, (16, 16), 4)
    logits = torch.logit(heatmaps, eps=1e-6)
    decoded = decode_boxes(logits, regression, stride=4, max_boxes=6, score_threshold=0.99, iou_threshold=0.5)
    assert decoded.shape == (1, 6, 6)
    found = decoded[0][decoded[0, :, 4] >= 0]
    found = found[found[:, 4].argsort()]
    torch.testing.assert_close(found[:, :5], boxes[0, :2], atol=1e-4, rtol=0)
    assert bool((decoded[0, 2:] == -1).all())
    # the loss agrees: a perfect regression adds nothing to the heatmap loss
    with_regression = BoxDetectionLoss(2, stride=4, regression_weight=1.0)(logits, regression, boxes)
    without_regression = BoxDetectionLoss(2, stride=4, regression_weight=0.0)(logits, regression, boxes)
    assert float(with_regression) == pytest.approx(float(without_regression), abs=1e-5)


def test_decode_boxes_suppresses_overlapping_boxes_of_one_class_only() -> None:
    logits = torch.full((1, 2, 4, 4), -10.0)
    logits[0, 0, 1, 1], logits[0, 0, 1, 2] = 4.0, 3.0  # two overlapping class-0 boxes
    logits[0, 1, 1, 2] = 2.0  # a class-1 box at the same place as the weaker class-0 box
    regression = torch.zeros(1, 4, 4, 4)
    regression[0, 2:] = math.log(3.0)  # 12 × 12 px boxes at stride 4: neighbours overlap with IoU 0.5
    decoded = decode_boxes(logits, regression, stride=4, max_boxes=4, score_threshold=0.3, iou_threshold=0.4)
    kept = decoded[0][decoded[0, :, 4] >= 0]
    assert sorted(kept[:, 4].tolist()) == [0.0, 1.0]
    class0 = kept[kept[:, 4] == 0][0]
    assert class0[:4].tolist() == pytest.approx([0.0, 0.0, 12.0, 12.0])
