"""The standard pack's losses and multi-task loss weighting, each checked on small hand-made cases."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional

from bag_of_bricks._detection import centre_focal_loss, render_heatmaps
from bag_of_bricks.losses import (
    BoxDetectionLoss,
    ClassificationLoss,
    DiceLoss,
    FixedWeighting,
    FocalLoss,
    MultiLabelLoss,
    PointDetectionLoss,
    SegmentationLoss,
    UncertaintyWeighting,
    binary_focal_loss,
)
from tests.helpers.tensors import seeded
from torchbricks import BrickCollection, registry
from torchbricks.bricks import BrickLoss

# -- losses --------------------------------------------------------------------------------------------------


def assert_zero_loss_that_backpropagates(loss: torch.Tensor, *inputs: torch.Tensor) -> None:
    """A zero loss still connected to the graph (so ``backward`` works); every gradient it gives is finite and 0."""
    assert loss.ndim == 0
    assert loss.requires_grad
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert inputs[0].grad is not None
    for tensor in inputs:
        if tensor.grad is not None:
            assert bool(torch.isfinite(tensor.grad).all())
            assert bool((tensor.grad == 0).all())


def test_classification_loss_value() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    loss = ClassificationLoss()(logits, torch.tensor([0, 2]))
    expected = (-math.log(math.exp(2) / (math.exp(2) + 2)) - math.log(1 / (math.e + 2))) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_classification_loss_label_smoothing_and_weights() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    targets = torch.tensor([0, 2])
    smoothed = ClassificationLoss(label_smoothing=0.1)(logits, targets)
    torch.testing.assert_close(smoothed, functional.cross_entropy(logits, targets, label_smoothing=0.1))
    weighted = ClassificationLoss(weight=[1.0, 1.0, 3.0])(logits, targets)
    torch.testing.assert_close(weighted, functional.cross_entropy(logits, targets, weight=torch.tensor([1.0, 1, 3])))


def test_classification_loss_skips_unlabelled_samples() -> None:
    logits = seeded(4, 3) * 4
    targets = torch.tensor([1, -1, 0, -1])
    loss = ClassificationLoss()(logits, targets)
    torch.testing.assert_close(loss, functional.cross_entropy(logits[[0, 2]], targets[[0, 2]]))


@pytest.mark.parametrize("batch", [0, 3])
def test_classification_loss_without_labels_is_zero_and_backpropagates(batch: int) -> None:
    logits = torch.randn(batch, 3, requires_grad=True)
    loss = ClassificationLoss()(logits, torch.full((batch,), -1))
    assert_zero_loss_that_backpropagates(loss, logits)


def test_multilabel_loss_value_is_binary_cross_entropy() -> None:
    logits = torch.zeros(2, 3)
    loss = MultiLabelLoss()(logits, torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]))
    assert float(loss) == pytest.approx(math.log(2), rel=1e-6)
    logits = torch.tensor([[2.0, -1.0]])
    expected = (math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(1.0))) / 2  # targets 1 and 1
    assert float(MultiLabelLoss()(logits, torch.tensor([[1.0, 1.0]]))) == pytest.approx(expected, rel=1e-6)


def test_multilabel_focal_loss_value() -> None:
    # logit 0 → p = 0.5 for every label: focal weight (1 - 0.5)^2 = 0.25 times log 2
    loss = MultiLabelLoss(gamma=2.0)(torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]))
    assert float(loss) == pytest.approx(0.25 * math.log(2), rel=1e-6)
    # a confident correct prediction is down-weighted much more than a confident wrong one
    easy = binary_focal_loss(torch.tensor([3.0]), torch.tensor([1.0]), gamma=2.0)
    hard = binary_focal_loss(torch.tensor([-3.0]), torch.tensor([1.0]), gamma=2.0)
    expected_easy = (1 - torch.sigmoid(torch.tensor(3.0))) ** 2 * math.log(1 + math.exp(-3.0))
    assert float(easy) == pytest.approx(float(expected_easy), rel=1e-5)
    assert float(hard) > 100 * float(easy)


def test_binary_focal_loss_pos_weight() -> None:
    logits, targets = torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.0])
    loss = binary_focal_loss(logits, targets, gamma=0.0, pos_weight=3.0)
    assert float(loss) == pytest.approx((3 * math.log(2) + math.log(2)) / 2, rel=1e-6)


def test_multilabel_loss_skips_rows_with_ignore_values() -> None:
    logits = seeded(3, 3) * 4 - 2
    targets = torch.tensor([[1.0, 0.0, 1.0], [-1.0, -1.0, -1.0], [0.0, 1.0, 0.0]])
    loss = MultiLabelLoss()(logits, targets)
    expected = functional.binary_cross_entropy_with_logits(logits[[0, 2]], targets[[0, 2]])
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("batch", [0, 2])
def test_multilabel_loss_without_labels_is_zero_and_backpropagates(batch: int) -> None:
    logits = torch.randn(batch, 3, requires_grad=True)
    assert_zero_loss_that_backpropagates(MultiLabelLoss(gamma=2.0)(logits, torch.full((batch, 3), -1.0)), logits)


def test_focal_loss_value() -> None:
    # two classes with equal logits: p = 0.5, focal loss = (1 - 0.5)^2 * log 2
    loss = FocalLoss(gamma=2.0)(torch.zeros(1, 2), torch.tensor([0]))
    assert float(loss) == pytest.approx(0.25 * math.log(2), rel=1e-6)


def test_focal_loss_with_gamma_zero_is_cross_entropy() -> None:
    logits, targets = seeded(4, 3) * 3, torch.tensor([0, 2, 1, 1])
    torch.testing.assert_close(FocalLoss(gamma=0.0)(logits, targets), functional.cross_entropy(logits, targets))


def test_focal_loss_skips_ignore_values() -> None:
    logits, targets = seeded(4, 3) * 3, torch.tensor([0, -1, 1, -1])
    torch.testing.assert_close(FocalLoss()(logits, targets), FocalLoss()(logits[[0, 2]], targets[[0, 2]]))


def test_focal_loss_on_dense_targets_skips_pixels_of_255() -> None:
    logits = seeded(1, 3, 2, 2) * 3
    targets = torch.tensor([[[0, 255], [2, 255]]])
    loss = FocalLoss(gamma=0.0, ignore_index=255)(logits, targets)
    expected = functional.cross_entropy(logits, targets, ignore_index=255)
    torch.testing.assert_close(loss, expected)


def test_focal_loss_without_labels_is_zero_and_backpropagates() -> None:
    logits = torch.randn(2, 3, requires_grad=True)
    assert_zero_loss_that_backpropagates(FocalLoss()(logits, torch.tensor([-1, -1])), logits)


def test_dice_loss_value() -> None:
    # probabilities 0.5 everywhere; one pixel of each class: per class (2·0.5 + 1) / (1 + 1 + 1) = 2/3
    loss = DiceLoss()(torch.zeros(1, 2, 1, 2), torch.tensor([[[0, 1]]]))
    assert float(loss) == pytest.approx(1 / 3, rel=1e-6)


def test_dice_loss_is_near_zero_for_a_perfect_prediction() -> None:
    targets = torch.tensor([[[0, 1, 2, 2], [1, 1, 0, 2]]])
    logits = functional.one_hot(targets, 3).permute(0, 3, 1, 2).float() * 50
    assert float(DiceLoss(smooth=0.0)(logits, targets)) == pytest.approx(0.0, abs=1e-6)


def test_dice_loss_skips_pixels_of_255() -> None:
    logits = torch.zeros(1, 2, 1, 3)
    logits[0, :, 0, 2] = torch.tensor([5.0, -5.0])  # an arbitrary prediction on the ignored pixel
    loss = DiceLoss()(logits, torch.tensor([[[0, 1, 255]]]))
    assert float(loss) == pytest.approx(1 / 3, rel=1e-6)


def test_segmentation_loss_is_cross_entropy_plus_weighted_dice() -> None:
    logits = seeded(2, 3, 4, 4) * 3
    targets = (seeded(2, 4, 4, seed=1) * 3).long()
    targets[0, 0, :] = 255
    cross_entropy = functional.cross_entropy(logits, targets, ignore_index=255)
    dice = DiceLoss()(logits, targets)
    torch.testing.assert_close(SegmentationLoss(dice_weight=0.0)(logits, targets), cross_entropy)
    torch.testing.assert_close(SegmentationLoss(dice_weight=0.5)(logits, targets), cross_entropy + 0.5 * dice)


def test_segmentation_loss_ignores_unlabelled_images() -> None:
    logits = seeded(2, 3, 4, 4) * 3
    targets = (seeded(2, 4, 4, seed=1) * 3).long()
    targets[1] = 255
    torch.testing.assert_close(SegmentationLoss()(logits, targets), SegmentationLoss()(logits[:1], targets[:1]))


@pytest.mark.parametrize("loss_class", [SegmentationLoss, DiceLoss])
@pytest.mark.parametrize("batch", [0, 2])
def test_segmentation_losses_without_labels_are_zero_and_backpropagate(loss_class, batch: int) -> None:
    logits = torch.randn(batch, 3, 4, 4, requires_grad=True)
    assert_zero_loss_that_backpropagates(loss_class()(logits, torch.full((batch, 4, 4), 255)), logits)


def test_point_detection_loss_on_an_empty_batch_is_zero_and_backpropagates() -> None:
    heatmap = torch.randn(0, 3, 8, 8, requires_grad=True)
    offsets = torch.randn(0, 2, 8, 8, requires_grad=True)
    loss = PointDetectionLoss(num_classes=3)(heatmap, offsets, torch.zeros(0, 3, 3))
    assert_zero_loss_that_backpropagates(loss, heatmap, offsets)


def test_box_detection_loss_on_an_empty_batch_is_zero_and_backpropagates() -> None:
    heatmap = torch.randn(0, 2, 8, 8, requires_grad=True)
    regression = torch.randn(0, 4, 8, 8, requires_grad=True)
    loss = BoxDetectionLoss(num_classes=2)(heatmap, regression, torch.zeros(0, 2, 5))
    assert_zero_loss_that_backpropagates(loss, heatmap, regression)


def test_detection_losses_on_images_without_objects_are_finite() -> None:
    heatmap = torch.randn(2, 3, 8, 8, requires_grad=True)
    offsets = torch.randn(2, 2, 8, 8, requires_grad=True)
    loss = PointDetectionLoss(num_classes=3)(heatmap, offsets, torch.full((2, 3, 3), -1.0))
    assert math.isfinite(float(loss.detach()))
    assert float(loss.detach()) > 0
    loss.backward()
    assert bool(torch.isfinite(heatmap.grad).all())
    regression = torch.randn(2, 4, 8, 8, requires_grad=True)
    box_loss = BoxDetectionLoss(num_classes=3)(heatmap.detach(), regression, torch.full((2, 1, 5), -1.0))
    assert math.isfinite(float(box_loss.detach()))


def test_centre_focal_loss_is_low_for_a_matching_heatmap() -> None:
    targets, _, _ = render_heatmaps(torch.tensor([[[14.0, 18.0, 0.0]]]), 1, (8, 8), stride=4)
    good = centre_focal_loss(torch.logit(targets, eps=1e-4), targets)
    bad = centre_focal_loss(torch.zeros_like(targets), targets)
    assert float(good) < 0.1 * float(bad)


def test_point_detection_loss_ignores_padding_rows() -> None:
    heatmap, offsets = seeded(1, 3, 8, 8) * 4 - 2, seeded(1, 2, 8, 8, seed=1)
    loss = PointDetectionLoss(num_classes=3)
    points = torch.tensor([[[10.0, 12.0, 1.0]]])
    padded = torch.tensor([[[10.0, 12.0, 1.0], [-1.0, -1.0, -1.0], [-1.0, -1.0, -1.0]]])
    torch.testing.assert_close(loss(heatmap, offsets, points), loss(heatmap, offsets, padded))


# -- multi-task weighting ------------------------------------------------------------------------------------


def test_fixed_weighting_is_the_weighted_sum() -> None:
    weighting = FixedWeighting({"a": 1.0, "b": 0.5, "c": 2.0})
    assert weighting.task_names == ("a", "b", "c")
    total = weighting(torch.tensor(2.0), torch.tensor(4.0), torch.tensor(0.25))
    assert float(total) == pytest.approx(2.0 + 2.0 + 0.5)


def test_fixed_weighting_needs_one_loss_per_task() -> None:
    with pytest.raises(ValueError, match=r"zip\(\)"):
        FixedWeighting({"a": 1.0, "b": 1.0})(torch.tensor(1.0))


def test_uncertainty_weighting_math() -> None:
    weighting = UncertaintyWeighting(["a", "b"])
    assert weighting.task_names == ("a", "b")
    losses = torch.tensor(2.0), torch.tensor(4.0)
    assert float(weighting(*losses).detach()) == pytest.approx(6.0)  # s = 0: plain sum
    with torch.no_grad():
        weighting.log_variances.copy_(torch.tensor([math.log(2.0), -1.0]))
    expected = 2.0 / 2.0 + math.log(2.0) + 4.0 * math.e - 1.0
    assert float(weighting(*losses).detach()) == pytest.approx(expected, rel=1e-6)


def test_uncertainty_weighting_parameters_get_gradients() -> None:
    weighting = UncertaintyWeighting(["a", "b"])
    loss_a = torch.tensor(2.0, requires_grad=True)
    loss_b = torch.tensor(4.0, requires_grad=True)
    weighting(loss_a, loss_b).backward()
    # d/ds_t [exp(-s_t) L_t + s_t] = 1 - exp(-s_t) L_t = 1 - L_t at s = 0
    torch.testing.assert_close(weighting.log_variances.grad, torch.tensor([-1.0, -3.0]))
    assert float(loss_a.grad) == pytest.approx(1.0)
    assert list(dict(weighting.named_parameters())) == ["log_variances"]


def test_uncertainty_weighting_as_a_loss_brick_trains_its_parameters() -> None:
    weighting = UncertaintyWeighting(["a", "b"])
    model = BrickCollection({"total": BrickLoss(weighting, ["a/loss", "b/loss"], ["loss"])})
    outputs = model({"a/loss": torch.tensor(3.0), "b/loss": torch.tensor(0.5)}, groups="train")
    assert list(model.extract_losses(outputs)) == ["loss"]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.extract_losses(outputs)["loss"].backward()
    optimizer.step()
    # the task with the larger loss gets a larger log-variance (a smaller weight)
    assert float(weighting.log_variances[0].detach()) > float(weighting.log_variances[1].detach())


def test_loss_bricks_are_registered() -> None:
    for name, expected in {
        "classification_loss": ClassificationLoss,
        "multilabel_loss": MultiLabelLoss,
        "focal_loss": FocalLoss,
        "dice_loss": DiceLoss,
        "segmentation_loss": SegmentationLoss,
        "fixed_weighting": FixedWeighting,
        "uncertainty_weighting": UncertaintyWeighting,
    }.items():
        assert registry.get("losses", name) is expected
