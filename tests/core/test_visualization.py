"""BrickPerImageVisualization (torchbricks.visualization) and the tensor conversions (torchbricks.tensor_conversions).

The README's two visualization examples run with Pillow's built-in font (``ImageFont.load_default``)
instead of the README's TTF file, and produce real Pillow images with the class names drawn on them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from torchbricks import BrickCollection
from torchbricks.bricks import BrickTrainable
from torchbricks.errors import BrickDefinitionError, ExportError
from torchbricks.tensor_conversions import (
    float2uint8,
    function_composer,
    torch_to_numpy,
    unpack_batched_tensor_to_numpy_arrays,
    unpack_batched_tensor_to_numpy_channel_last_arrays,
    unpack_batched_tensor_to_pillow_images,
)
from torchbricks.visualization import BrickPerImageVisualization

FONT_SIZE = 30
CLASS_NAMES = ["cat", "dog"]
TEXT_ORIGIN = (25, 25)


# -- the README's examples (font: Pillow's default font instead of tests/data/font_ASMAN.TTF) ------------------------


class VisualizeImageClassification:
    def __init__(self, class_names: list, font_size: int = 50):
        self.class_names = class_names
        self.font = ImageFont.load_default(size=font_size)

    def __call__(self, input_image: np.ndarray, target_prediction: np.ndarray) -> Image.Image:
        """Draws image classification results"""
        assert input_image.ndim == 3  # Converted to single image channel last numpy array [H, W, C]
        image = Image.fromarray(float2uint8(input_image))
        draw = ImageDraw.Draw(image)
        draw.text((25, 25), text=self.class_names[target_prediction[0]], font=self.font)
        return image


class BrickVisualizeImageClassification(BrickPerImageVisualization):
    def __init__(self, input_image: str, target_name: str, class_names: list[str], output_name: str):
        self.class_names = class_names
        self.font = ImageFont.load_default(size=FONT_SIZE)
        super().__init__(
            callable=self.visualize_image_classification_pillow,
            input_names=[input_image, target_name],
            output_names=[output_name],
            unpack_functions_for_type={torch.Tensor: unpack_batched_tensor_to_pillow_images},
            unpack_functions_for_input_name={target_name: function_composer(torch_to_numpy, list)},
        )

    def visualize_image_classification_pillow(self, image: Image.Image, target_prediction: np.int64) -> Image.Image:
        """Draws image classification results"""
        draw = ImageDraw.Draw(image)

        draw.text((25, 25), text=self.class_names[target_prediction], font=self.font)
        return image


def batched_inputs(colour: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> dict[str, torch.Tensor]:
    """The README's inputs (a batch of two 100x200 images and targets [0, 1]), optionally coloured."""
    image = torch.tensor(colour, dtype=torch.float32).view(1, 3, 1, 1).expand(2, 3, 100, 200).clone()
    return {"input_image": image, "target": torch.tensor([0, 1], dtype=torch.int64)}


def assert_text_drawn_on_background(
    images: list[Image.Image], colour: tuple[float, float, float], font: ImageFont.FreeTypeFont
) -> None:
    """One RGB 200x100 image per batch item: background colour everywhere but where the class name is drawn."""
    background = float2uint8(np.array(colour))
    assert len(images) == len(CLASS_NAMES)
    arrays = []
    for image, class_name in zip(images, CLASS_NAMES, strict=True):
        assert isinstance(image, Image.Image)
        assert image.mode == "RGB"
        assert image.size == (200, 100)
        pixels = np.asarray(image)
        left, top, right, bottom = ImageDraw.Draw(Image.new("RGB", image.size)).textbbox(
            TEXT_ORIGIN, class_name, font=font
        )
        text_area = np.zeros(pixels.shape[:2], dtype=bool)
        text_area[top:bottom, left:right] = True
        assert (pixels[~text_area] == background).all(), f"'{class_name}' image changed outside its text"
        changed = (pixels[text_area] != background).any(axis=-1)
        assert changed.sum() > 20, f"no text drawn on the '{class_name}' image"
        arrays.append(pixels)
    assert not np.array_equal(arrays[0], arrays[1]), "'cat' and 'dog' images are identical"


@pytest.mark.parametrize("colour", [(0.0, 0.0, 0.0), (0.2, 0.4, 0.6)])
def test_readme_callable_class_visualization(colour: tuple[float, float, float]) -> None:
    drawer = VisualizeImageClassification(class_names=CLASS_NAMES, font_size=FONT_SIZE)
    bricks = {
        "visualizer": BrickPerImageVisualization(
            callable=drawer,
            input_names=["input_image", "target"],
            output_names=["visualization"],
        )
    }
    brick_collection = BrickCollection(bricks)
    outputs = brick_collection(named_inputs=batched_inputs(colour))
    assert_text_drawn_on_background(outputs["visualization"], colour, drawer.font)


@pytest.mark.parametrize("colour", [(0.0, 0.0, 0.0), (1.0, 0.5, 0.25)])
def test_readme_visualization_subclass(colour: tuple[float, float, float]) -> None:
    visualizer = BrickVisualizeImageClassification(
        input_image="input_image",
        target_name="target",
        class_names=CLASS_NAMES,
        output_name="VisualizeImageClassification",
    )
    outputs = visualizer(batched_inputs(colour))
    assert list(outputs) == ["VisualizeImageClassification"]
    assert_text_drawn_on_background(outputs["VisualizeImageClassification"], colour, visualizer.font)


def test_readme_visualization_subclass_in_a_collection_runs_only_for_visualization_groups() -> None:
    visualizer = BrickVisualizeImageClassification(
        input_image="input_image", target_name="target", class_names=CLASS_NAMES, output_name="drawn"
    )
    collection = BrickCollection({"visualizer": visualizer})
    assert visualizer.groups == {"VISUALIZATION"}
    assert "drawn" not in collection(batched_inputs(), groups="inference")
    assert len(collection(batched_inputs(), groups={"VISUALIZATION"})["drawn"]) == 2


# -- how batched inputs are unpacked ------------------------------------------------------------------------------


class Recorder:
    """Records the arguments of each per-image call and whether gradients were enabled."""

    def __init__(self, result: Any = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.keyword_calls: list[dict[str, Any]] = []
        self.grad_enabled: list[bool] = []
        self.result = result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(args)
        self.keyword_calls.append(kwargs)
        self.grad_enabled.append(torch.is_grad_enabled())
        return len(self.calls) if self.result is None else self.result(*args, **kwargs)


def run_brick(brick: BrickPerImageVisualization, **named_inputs: Any) -> dict[str, Any]:
    return BrickCollection({"visualize": brick})(named_inputs)


def test_image_batches_are_unpacked_to_channel_last_numpy_arrays() -> None:
    recorder = Recorder()
    batch = torch.arange(3 * 2 * 4 * 5, dtype=torch.float32).view(3, 2, 4, 5)
    outputs = run_brick(
        BrickPerImageVisualization(recorder, input_names=["images"], output_names=["out"]), images=batch
    )
    assert outputs["out"] == [1, 2, 3]
    assert len(recorder.calls) == 3
    for index, (image,) in enumerate(recorder.calls):
        assert isinstance(image, np.ndarray)
        assert image.shape == (4, 5, 2)
        np.testing.assert_array_equal(image, batch[index].permute(1, 2, 0).numpy())


def test_one_dimensional_batches_are_unpacked_to_arrays_of_shape_one() -> None:
    recorder = Recorder()
    brick = BrickPerImageVisualization(recorder, input_names=["target", "scores"], output_names=["out"])
    run_brick(brick, target=torch.tensor([4, 7]), scores=torch.tensor([[0.1, 0.9, 0.0], [0.5, 0.2, 0.3]]))
    assert [target.shape for target, _ in recorder.calls] == [(1,), (1,)]
    assert [int(target[0]) for target, _ in recorder.calls] == [4, 7]
    assert all(isinstance(target, np.ndarray) and target.dtype == np.int64 for target, _ in recorder.calls)
    np.testing.assert_allclose(recorder.calls[1][1], [0.5, 0.2, 0.3])  # [B, K] → arrays [K]


@pytest.mark.parametrize("container", [list, tuple])
def test_lists_and_tuples_are_already_per_image(container: type) -> None:
    recorder = Recorder()
    captions = container(["first caption", "second caption"])
    brick = BrickPerImageVisualization(recorder, input_names=["captions", "images"], output_names=["out"])
    run_brick(brick, captions=captions, images=torch.zeros(2, 3, 2, 2))
    assert [caption for caption, _ in recorder.calls] == ["first caption", "second caption"]


@pytest.mark.parametrize("value", [7, {"a": torch.zeros(2)}, "a string", None])
def test_unknown_input_types_raise_type_error_naming_the_input(value: Any) -> None:
    brick = BrickPerImageVisualization(Recorder(), input_names=["images", "metadata"], output_names=["out"])
    with pytest.raises(TypeError, match="'metadata'") as error:
        run_brick(brick, images=torch.zeros(2, 3, 2, 2), metadata=value)
    assert type(value).__name__ in str(error.value)


def test_unpack_by_input_name_overrides_unpack_by_type() -> None:
    recorder = Recorder()
    brick = BrickPerImageVisualization(
        recorder,
        input_names=["a", "b"],
        output_names=["out"],
        unpack_functions_for_type={torch.Tensor: lambda tensor: [f"type {int(v)}" for v in tensor]},
        unpack_functions_for_input_name={"b": lambda tensor: [f"name {int(v)}" for v in tensor]},
    )
    run_brick(brick, a=torch.tensor([1, 2]), b=torch.tensor([3, 4]))
    assert recorder.calls == [("type 1", "name 3"), ("type 2", "name 4")]


class Caption:
    def __init__(self, texts: list[str]) -> None:
        self.texts = texts


def test_unpack_by_type_handles_custom_types_and_subclasses() -> None:
    class LongCaption(Caption):
        pass

    recorder = Recorder()
    brick = BrickPerImageVisualization(
        recorder, input_names=["caption"], output_names=["out"], unpack_functions_for_type={Caption: lambda c: c.texts}
    )
    run_brick(brick, caption=LongCaption(["x", "y"]))
    assert recorder.calls == [("x",), ("y",)]


def test_multiple_output_names_each_receive_one_list() -> None:
    recorder = Recorder(result=lambda image, target: (float(image.sum()), int(target[0]) * 10))
    brick = BrickPerImageVisualization(recorder, input_names=["images", "target"], output_names=["sums", "tens"])
    outputs = run_brick(brick, images=torch.ones(3, 1, 2, 2), target=torch.tensor([1, 2, 3]))
    assert outputs["sums"] == [4.0, 4.0, 4.0]
    assert outputs["tens"] == [10, 20, 30]


def test_input_names_as_dict_pass_values_by_keyword() -> None:
    recorder = Recorder(result=lambda label, image: f"{label[0]}:{image.shape}")
    brick = BrickPerImageVisualization(
        recorder, input_names={"image": "input_image", "label": "target"}, output_names=["out"]
    )
    outputs = run_brick(brick, input_image=torch.zeros(2, 3, 4, 5), target=torch.tensor([0, 1]))
    assert outputs["out"] == ["0:(4, 5, 3)", "1:(4, 5, 3)"]
    assert recorder.calls == [(), ()]
    assert [sorted(kwargs) for kwargs in recorder.keyword_calls] == [["image", "label"], ["image", "label"]]


def test_inputs_with_different_batch_sizes_raise() -> None:
    brick = BrickPerImageVisualization(Recorder(), input_names=["images", "target"], output_names=["out"])
    with pytest.raises(ValueError, match="zip"):
        run_brick(brick, images=torch.zeros(3, 3, 2, 2), target=torch.tensor([0, 1]))


# -- groups, gradients, export, definition errors -------------------------------------------------------------------


def test_visualization_brick_is_in_the_visualization_group_by_default() -> None:
    brick = BrickPerImageVisualization(Recorder(), input_names=["images"], output_names=["out"])
    assert brick.groups == {"VISUALIZATION"}
    other = BrickPerImageVisualization(Recorder(), input_names=["images"], output_names=["out"], group="DEBUG")
    assert other.groups == {"DEBUG"}


def test_visualization_runs_without_gradients() -> None:
    seen_requires_grad: list[bool] = []

    def draw(image: torch.Tensor) -> torch.Tensor:
        result = image * 2
        seen_requires_grad.append(result.requires_grad)
        return result

    recorder = Recorder(result=draw)
    brick = BrickPerImageVisualization(
        recorder, input_names=["images"], output_names=["out"], unpack_functions_for_input_name={"images": list}
    )
    images = torch.rand(2, 3, 2, 2, requires_grad=True)
    assert torch.is_grad_enabled()
    outputs = run_brick(brick, images=images)
    assert recorder.grad_enabled == [False, False]
    assert seen_requires_grad == [False, False]
    assert not any(output.requires_grad for output in outputs["out"])
    assert torch.is_grad_enabled()


def test_visualization_is_skipped_for_inference_and_runs_when_its_group_is_asked_for() -> None:
    recorder = Recorder()
    collection = BrickCollection(
        {
            "model": BrickTrainable(nn.Identity(), input_names=["raw"], output_names=["prediction"]),
            "visualize": BrickPerImageVisualization(
                recorder, input_names=["raw", "prediction", "caption"], output_names=["drawing"]
            ),
        }
    )
    raw = torch.zeros(2, 3, 2, 2)
    assert collection.required_inputs("inference") == ("raw",)
    outputs = collection({"raw": raw}, groups="inference")
    assert "drawing" not in outputs
    assert recorder.calls == []
    outputs = collection({"raw": raw}, groups="train")
    assert "drawing" not in outputs
    assert recorder.calls == []
    outputs = collection({"raw": raw, "caption": ["a", "b"]}, groups={"MODEL", "VISUALIZATION"})
    assert outputs["drawing"] == [1, 2]
    outputs = collection({"raw": raw, "caption": ["a", "b"]})  # all groups
    assert outputs["drawing"] == [3, 4]


def test_visualization_brick_is_not_exportable() -> None:
    from torchbricks.export import export_bricks

    collection = BrickCollection(
        {
            "model": BrickTrainable(nn.Identity(), input_names=["raw"], output_names=["prediction"]),
            "visualize": BrickPerImageVisualization(Recorder(), input_names=["prediction"], output_names=["drawing"]),
        }
    )
    with pytest.raises(ExportError, match="'visualize'"):
        export_bricks(collection, {"raw": torch.zeros(2, 3)}, groups={"MODEL", "VISUALIZATION"})


def test_unpack_function_for_an_unknown_input_name_is_a_definition_error() -> None:
    with pytest.raises(BrickDefinitionError, match="tagret") as error:
        BrickPerImageVisualization(
            Recorder(),
            input_names=["image", "target"],
            output_names=["out"],
            unpack_functions_for_input_name={"tagret": list},
        )
    assert "target" in str(error.value).replace("tagret", "")


def test_a_non_callable_is_a_definition_error() -> None:
    with pytest.raises(BrickDefinitionError, match="callable"):
        BrickPerImageVisualization("draw", input_names=["image"], output_names=["out"])


# -- tensor conversions ----------------------------------------------------------------------------------------------


def test_float2uint8_clips_and_rounds() -> None:
    values = np.array([-0.5, 0.0, 1.4 / 255, 1.6 / 255, 0.25, 1.0, 1.7], dtype=np.float32)
    result = float2uint8(values)
    assert result.dtype == np.uint8
    np.testing.assert_array_equal(result, [0, 0, 1, 2, 64, 255, 255])


def test_float2uint8_keeps_the_shape_of_images() -> None:
    image = np.full((4, 5, 3), 0.5)
    result = float2uint8(image)
    assert result.shape == (4, 5, 3)
    assert set(np.unique(result)) == {128}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_torch_to_numpy_converts_half_precision_to_float32(dtype: torch.dtype) -> None:
    tensor = torch.tensor([0.5, -1.25, 3.0], dtype=dtype, requires_grad=True)
    array = torch_to_numpy(tensor * 1)
    assert isinstance(array, np.ndarray)
    assert array.dtype == np.float32
    np.testing.assert_array_equal(array, [0.5, -1.25, 3.0])


def test_torch_to_numpy_keeps_other_dtypes_and_detaches() -> None:
    assert torch_to_numpy(torch.tensor([1, 2])).dtype == np.int64
    weights = torch.ones(2, requires_grad=True)
    array = torch_to_numpy(weights * 3)
    assert array.dtype == np.float32
    np.testing.assert_array_equal(array, [3.0, 3.0])


def test_pillow_images_from_three_channel_float_batch() -> None:
    batch = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    images = unpack_batched_tensor_to_pillow_images(batch)
    assert len(images) == 2
    for image, tensor in zip(images, batch, strict=True):
        assert image.mode == "RGB"
        assert image.size == (5, 4)
        np.testing.assert_array_equal(np.asarray(image), float2uint8(tensor.permute(1, 2, 0).numpy()))


def test_pillow_images_from_one_channel_batch_are_greyscale() -> None:
    batch = torch.linspace(0, 1, 2 * 1 * 4 * 5).view(2, 1, 4, 5)
    images = unpack_batched_tensor_to_pillow_images(batch)
    assert [image.mode for image in images] == ["L", "L"]
    assert [image.size for image in images] == [(5, 4), (5, 4)]
    np.testing.assert_array_equal(np.asarray(images[1]), float2uint8(batch[1, 0].numpy()))


def test_pillow_images_from_uint8_batch_keep_their_values() -> None:
    batch = torch.tensor([10, 128, 200], dtype=torch.uint8).view(1, 3, 1, 1).expand(2, 3, 2, 3).contiguous()
    images = unpack_batched_tensor_to_pillow_images(batch)
    assert [image.mode for image in images] == ["RGB", "RGB"]
    assert [image.size for image in images] == [(3, 2), (3, 2)]
    assert images[0].getpixel((0, 0)) == (10, 128, 200)
    assert images[1].getpixel((2, 1)) == (10, 128, 200)


def test_pillow_images_need_a_four_dimensional_batch() -> None:
    with pytest.raises(ValueError, match=r"\(3, 4, 5\)"):
        unpack_batched_tensor_to_pillow_images(torch.zeros(3, 4, 5))


def test_numpy_array_unpacking_by_rank() -> None:
    assert [array.shape for array in unpack_batched_tensor_to_numpy_channel_last_arrays(torch.zeros(2, 3, 4, 5))] == [
        (4, 5, 3),
        (4, 5, 3),
    ]
    assert [array.shape for array in unpack_batched_tensor_to_numpy_arrays(torch.zeros(3))] == [(1,), (1,), (1,)]
    assert [array.shape for array in unpack_batched_tensor_to_numpy_arrays(torch.zeros(2, 7))] == [(7,), (7,)]
    assert [array.shape for array in unpack_batched_tensor_to_numpy_arrays(torch.zeros(2, 6, 7))] == [(6, 7), (6, 7)]
    with pytest.raises(ValueError, match="scalar"):
        unpack_batched_tensor_to_numpy_arrays(torch.tensor(1.0))


def test_function_composer_applies_functions_left_to_right() -> None:
    composed = function_composer(lambda x: x + 1, lambda x: x * 10, str)
    assert composed(2) == "30"
    unpack_targets = function_composer(torch_to_numpy, list)
    values = unpack_targets(torch.tensor([0, 1]))
    assert isinstance(values, list)
    assert [type(value) for value in values] == [np.int64, np.int64]


def test_the_conversions_live_in_tensor_conversions_and_stay_importable_from_visualization() -> None:
    import warnings

    import torchbricks.tensor_conversions as conversions
    import torchbricks.visualization as visualization

    for name in conversions.__all__:
        with warnings.catch_warnings():  # the ones visualization does not use itself are old names there
            warnings.simplefilter("ignore", FutureWarning)
            assert getattr(visualization, name) is getattr(conversions, name), name
        assert name not in visualization.__all__, name
