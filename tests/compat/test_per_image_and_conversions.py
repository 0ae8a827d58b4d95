"""Per-image visualization and tensor conversions as the original documented them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from bag_of_bricks.brick_visualizer import UNPACK_NO_CONVERSION, UNPACK_TENSORS_TO_NDARRAYS
from torchbricks.bag_of_bricks.brick_visualizer import BrickPerImageVisualization
from torchbricks.brick_collection import BrickCollection
from torchbricks.bricks import BrickNotTrainable
from torchbricks.errors import BatchSizeError, PerImageUnpackError
from torchbricks.tensor_conversions import (
    batched_tensor_to_batched_np_array_channel_last,
    batched_tensor_to_channel_last,
    function_composer,
    unpack_batched_array_to_arrays,
    unpack_batched_tensor_to_numpy_format,
    unpack_batched_tensor_to_pillow_images,
    unpack_batched_tensor_to_torchvision_format,
)

pytestmark = pytest.mark.usefixtures("single_thread")


class Recorder:
    """Records the arguments of each per-image call and returns the first one."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(args + tuple(kwargs[key] for key in sorted(kwargs)))
        return (args + tuple(kwargs.values()))[0]


# -- conversions ------------------------------------------------------------------------------------------------

SHAPES = [(5,), (5, 3), (5, 3, 10), (5, 3, 10, 20), (5, 3, 10, 20, 30)]


@pytest.mark.parametrize(
    ("shape", "channel_last"),
    list(zip(SHAPES, [(5,), (5, 3), (5, 10, 3), (5, 10, 20, 3), (5, 10, 20, 30, 3)], strict=True)),
)
def test_channel_last_moves_dimension_one_to_the_end_from_three_dimensions(
    shape: tuple[int, ...], channel_last: tuple[int, ...]
) -> None:
    tensor = torch.arange(int(np.prod(shape))).reshape(shape)
    moved = batched_tensor_to_channel_last(tensor)
    assert tuple(moved.shape) == channel_last
    array = batched_tensor_to_batched_np_array_channel_last(tensor)
    assert isinstance(array, np.ndarray)
    assert np.array_equal(array, moved.numpy())
    if len(shape) >= 3:
        assert moved[1, ..., 2].equal(tensor[1, 2])


@pytest.mark.parametrize(
    ("shape", "per_image"),
    list(zip(SHAPES, [(1,), (3,), (10, 3), (10, 20, 3), (10, 20, 30, 3)], strict=True)),
)
def test_numpy_format_gives_channel_last_arrays_per_image(shape: tuple[int, ...], per_image: tuple[int, ...]) -> None:
    arrays = unpack_batched_tensor_to_numpy_format(torch.ones(shape))
    assert len(arrays) == 5
    assert all(isinstance(array, np.ndarray) and array.shape == per_image for array in arrays)


@pytest.mark.parametrize("shape", SHAPES)
def test_torchvision_format_gives_tensors_per_image_unchanged(shape: tuple[int, ...]) -> None:
    tensor = torch.rand(shape)
    tensors = unpack_batched_tensor_to_torchvision_format(tensor)
    assert len(tensors) == 5
    assert all(isinstance(item, torch.Tensor) and item.shape == shape[1:] for item in tensors)
    assert torch.equal(tensors[3], tensor[3])


def test_arrays_unpack_per_image_and_1d_arrays_become_shape_1() -> None:
    assert [array.shape for array in unpack_batched_array_to_arrays(np.zeros((2, 4, 4, 3)))] == [(4, 4, 3)] * 2
    assert [array.tolist() for array in unpack_batched_array_to_arrays(np.array([7, 8]))] == [[7], [8]]
    with pytest.raises(ValueError, match="0-dimensional"):
        unpack_batched_array_to_arrays(np.array(1.0))


def test_pillow_images_and_function_composer() -> None:
    images = unpack_batched_tensor_to_pillow_images(torch.ones(5, 3, 10, 20))
    assert len(images) == 5
    assert isinstance(images[0], Image.Image)
    assert (images[0].height, images[0].width) == (10, 20)
    assert function_composer(lambda value: value * 2, list)(torch.ones(3)) == [2, 2, 2]


# -- BrickPerImageVisualization --------------------------------------------------------------------------------


def test_unpack_tensors_to_ndarrays_gives_channel_last_numpy_arrays() -> None:
    recorder = Recorder()
    brick = BrickPerImageVisualization(
        recorder,
        input_names=["raw", "scores"],
        output_names=["out"],
        unpack_functions_for_type=UNPACK_TENSORS_TO_NDARRAYS,
    )
    brick({"raw": torch.rand(4, 3, 10, 20), "scores": torch.rand(4, 2, 7)})
    assert len(recorder.calls) == 4
    assert [(raw.shape, scores.shape) for raw, scores in recorder.calls] == [((10, 20, 3), (7, 2))] * 4


def test_unpack_no_conversion_keeps_tensors_channel_first() -> None:
    recorder = Recorder()
    brick = BrickPerImageVisualization(
        recorder, input_names=["raw"], output_names=["out"], unpack_functions_for_type=UNPACK_NO_CONVERSION
    )
    outputs = brick({"raw": torch.rand(3, 3, 10, 20)})
    assert [type(image) for (image,) in recorder.calls] == [torch.Tensor] * 3
    assert [tuple(image.shape) for image in outputs["out"]] == [(3, 10, 20)] * 3


@pytest.mark.parametrize("input_names", [["raw", "processed"], {"array": "raw", "tensor": "processed"}])
def test_an_input_name_mapped_to_none_is_passed_whole_and_unconverted(input_names: Any) -> None:
    recorder = Recorder()
    processed = torch.rand(5, 3, 10, 20)
    brick = BrickPerImageVisualization(
        recorder,
        input_names=input_names,
        output_names=["out"],
        unpack_functions_for_type=UNPACK_TENSORS_TO_NDARRAYS,
        unpack_functions_for_input_name={"processed": None},
    )
    brick({"raw": torch.rand(5, 3, 20, 20), "processed": processed})
    assert len(recorder.calls) == 5
    for array, tensor in recorder.calls:
        assert isinstance(array, np.ndarray)
        assert array.shape == (20, 20, 3)
        assert tensor is processed


def test_a_type_mapped_to_none_is_passed_whole() -> None:
    recorder = Recorder()
    brick = BrickPerImageVisualization(
        recorder, input_names=["images", "lookup"], output_names=["out"], unpack_functions_for_type={dict: None}
    )
    lookup = {"cat": 0}
    brick({"images": torch.zeros(2, 3, 4, 4), "lookup": lookup})
    assert [call[1] for call in recorder.calls] == [lookup, lookup]


@pytest.mark.parametrize("input_names", [["raw", "__all__"], {"named_data": "__all__", "array": "raw"}])
def test_all_inputs_among_the_inputs_passes_the_named_data_whole_to_every_image(input_names: Any) -> None:
    seen: list[tuple[tuple[int, ...], list[str]]] = []

    def draw(array: np.ndarray, named_data: dict[str, Any]) -> np.ndarray:
        seen.append((array.shape, sorted(named_data)))
        return array

    brick = BrickPerImageVisualization(
        draw, input_names=input_names, output_names=["visualized"], unpack_functions_for_type=UNPACK_TENSORS_TO_NDARRAYS
    )
    outputs = brick({"raw": torch.rand(5, 3, 10, 20)})
    assert set(outputs) == {"visualized"}
    assert len(outputs["visualized"]) == 5
    assert seen == [((10, 20, 3), ["raw"])] * 5


def test_all_inputs_in_a_collection_sees_every_named_data_item() -> None:
    seen: list[list[str]] = []

    def draw(image: np.ndarray, named_data: dict[str, Any]) -> int:
        seen.append(sorted(named_data))
        return image.shape[0]

    model = BrickCollection(
        {
            "visualize": BrickPerImageVisualization(draw, input_names=["processed", "__all__"], output_names=["h"]),
            "preprocessor": BrickNotTrainable(torch.nn.Identity(), input_names=["raw"], output_names=["processed"]),
        }
    )
    outputs = model({"raw": torch.zeros(2, 3, 8, 6)})
    assert outputs["h"] == [8, 8]
    assert seen == [["processed", "raw"]] * 2


def test_a_batch_size_that_cannot_be_found_is_a_value_error() -> None:
    brick = BrickPerImageVisualization(
        lambda first, second: 0,
        input_names=["in0", "in1"],
        output_names=["out"],
        unpack_functions_for_input_name={"in0": None, "in1": None},
    )
    with pytest.raises(ValueError, match="batch size") as error:
        brick({"in0": torch.ones(3), "in1": torch.ones(3)})
    assert isinstance(error.value, BatchSizeError)
    assert "in0" in str(error.value)


def test_inputs_that_cannot_be_unpacked_are_a_value_error_too() -> None:
    brick = BrickPerImageVisualization(lambda first, second: 0, input_names=["in0", "in1"], output_names=["out"])
    with pytest.raises(ValueError, match="'in0'") as error:
        brick({"in0": {}, "in1": {}})
    assert isinstance(error.value, PerImageUnpackError)
    assert isinstance(error.value, TypeError)


def test_different_batch_sizes_are_a_value_error_naming_the_sizes() -> None:
    brick = BrickPerImageVisualization(lambda first, second: 0, input_names=["in0", "in1"], output_names=["out"])
    with pytest.raises(BatchSizeError, match="batch size is not the same") as error:
        brick({"in0": torch.ones(3, 100), "in1": torch.ones(2, 100)})
    assert "'in0': 3" in str(error.value)
    assert "'in1': 2" in str(error.value)


def test_numpy_arrays_unpack_per_image_by_default() -> None:
    recorder = Recorder()
    brick = BrickPerImageVisualization(recorder, input_names=["labels"], output_names=["out"])
    brick({"labels": np.array([3, 4])})
    assert [labels.tolist() for (labels,) in recorder.calls] == [[3], [4]]
