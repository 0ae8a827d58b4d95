"""The standard pack's preprocessors: scaling, normalisation, their statistics and the input-range warning."""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator

import pytest
import torch

from bag_of_bricks.preprocessors import IMAGENET_MEAN, IMAGENET_STD, Preprocessor, normalize
from tests.helpers.modules import TinyBackbone
from tests.helpers.tensors import seeded
from torchbricks import registry
from torchbricks.assembly import assemble_model
from torchbricks.errors import InputRangeWarning

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


# -- the input contract: uint8 in 0–255 or float in 0–1 ------------------------------------------------------


@contextlib.contextmanager
def no_range_warning() -> Iterator[None]:
    """Fail on any InputRangeWarning raised inside."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputRangeWarning)
        yield


def test_float_images_in_0_255_warn_once_with_the_contract() -> None:
    preprocessor = normalize()
    images = seeded(2, 3, 16, 16) * 255
    with pytest.warns(InputRangeWarning) as caught:
        preprocessor(images)
    message = str(caught[0].message)
    assert message.startswith("Preprocessor got float32 images with values in [")
    assert "it expects uint8 images in 0–255 or float images in 0–1" in message
    assert "Divide float images by 255" in message
    with no_range_warning():  # once per preprocessor: later batches are not checked again
        preprocessor(images)
        preprocessor(images * 2)
    with pytest.warns(InputRangeWarning):  # another preprocessor warns for itself
        normalize()(images)


@pytest.mark.parametrize(
    ("images", "reported"),
    [
        (torch.full((1, 3, 8, 8), -2.0), "float32 images with values in [-2, -2]"),  # normalised twice
        (torch.full((1, 3, 8, 8), 200, dtype=torch.int64), "int64 images with values in [200, 200]"),  # not uint8
        (torch.full((1, 3, 8, 8), 100.0, dtype=torch.float16), "float16 images with values in [100, 100]"),
    ],
)
def test_other_out_of_contract_images_warn(images: torch.Tensor, reported: str) -> None:
    with pytest.warns(InputRangeWarning, match=re.escape(reported)):
        Preprocessor(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))(images)


@pytest.mark.parametrize(
    "images",
    [
        (seeded(2, 3, 16, 16) * 255).to(torch.uint8),
        seeded(2, 3, 16, 16),
        seeded(2, 3, 16, 16) * 1.4 - 0.2,  # augmentation overshoot stays quiet
        torch.zeros(0, 3, 16, 16),
    ],
    ids=["uint8", "float-0-1", "float-overshoot", "empty-batch"],
)
def test_images_in_contract_do_not_warn(images: torch.Tensor) -> None:
    with no_range_warning():
        normalize()(images)


def test_an_assembled_model_warns_where_images_enter() -> None:
    model = assemble_model(backbone=TinyBackbone(), tasks={"kind": {"task": "image_classification", "num_classes": 2}})
    with pytest.warns(InputRangeWarning, match="Preprocessor got float32 images"):
        model({"images": seeded(2, 3, 32, 32) * 255}, groups="inference")
    with no_range_warning():
        model({"images": (seeded(2, 3, 32, 32) * 255).to(torch.uint8)}, groups="inference")


def test_compiled_and_exported_preprocessors_do_not_check_or_break_the_graph() -> None:
    images = seeded(2, 3, 8, 8) * 255
    with no_range_warning():
        compiled = torch.compile(normalize(), backend="eager", fullgraph=True)  # a graph break would raise
        torch.testing.assert_close(compiled(images), (images - compiled.mean) / compiled.std)
        program = torch.export.export(normalize(), (images,))
        torch.testing.assert_close(program.module()(images), (images - program.module().mean) / program.module().std)
        scripted = torch.jit.script(normalize())
        torch.testing.assert_close(scripted(images), (images - scripted.mean) / scripted.std)
