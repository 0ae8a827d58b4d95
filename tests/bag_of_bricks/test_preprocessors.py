"""The standard pack's preprocessors: scaling, normalisation and their statistics."""

from __future__ import annotations

import pytest
import torch

from bag_of_bricks.preprocessors import IMAGENET_MEAN, IMAGENET_STD, Preprocessor, normalize
from tests.helpers.tensors import seeded
from torchbricks import registry

# -- preprocessors -------------------------------------------------------------------------------------------


def test_preprocessor_scales_uint8_to_unit_range_then_normalises() -> None:
    images = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 1, 3).expand(1, 3, 1, 3).contiguous()
    output = Preprocessor(mean=(0.2, 0.2, 0.2), std=(0.5, 0.5, 0.5))(images)
    assert output.dtype == torch.float32
    expected = (torch.tensor([0.0, 0.2, 1.0]) - 0.2) / 0.5
    torch.testing.assert_close(output[0, 0, 0], expected)


def test_preprocessor_leaves_float_images_unscaled_and_normalises_per_channel() -> None:
    images = torch.full((2, 3, 4, 4), 0.5)
    output = Preprocessor(mean=(0.5, 0.0, 1.0), std=(1.0, 0.5, 0.25))(images)
    torch.testing.assert_close(output[:, 0], torch.zeros(2, 4, 4))
    torch.testing.assert_close(output[:, 1], torch.ones(2, 4, 4))
    torch.testing.assert_close(output[:, 2], torch.full((2, 4, 4), -2.0))


def test_preprocessor_uint8_and_float_inputs_agree() -> None:
    images = (seeded(1, 3, 8, 8) * 255).round().to(torch.uint8)
    preprocessor = normalize()
    torch.testing.assert_close(preprocessor(images), preprocessor(images.float() / 255.0))


def test_preprocessor_statistics_are_configuration_not_weights() -> None:
    preprocessor = normalize()
    assert preprocessor.state_dict() == {}
    torch.testing.assert_close(preprocessor.mean.flatten(), torch.tensor(IMAGENET_MEAN))
    torch.testing.assert_close(preprocessor.std.flatten(), torch.tensor(IMAGENET_STD))


@pytest.mark.parametrize(
    ("mean", "std", "culprit"),
    [((0.5, 0.5), (0.5, 0.5, 0.5), "differ in length"), ((0.5, 0.5, 0.5), (0.5, 0.0, 0.5), "positive")],
)
def test_preprocessor_rejects_bad_statistics(mean: tuple, std: tuple, culprit: str) -> None:
    with pytest.raises(ValueError, match=culprit):
        Preprocessor(mean=mean, std=std)


def test_normalize_is_the_registered_preprocessor() -> None:
    assert registry.get("preprocessors", "normalize") is normalize
