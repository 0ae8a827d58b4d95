"""Exporting brick collections: ONNX files run in onnxruntime, and torch.export programs.

ONNX exports take seconds each, so each exported file is made once per module and shared. Numerical
agreement is checked with ``numpy.testing.assert_allclose(onnx, torch, rtol=RTOL, atol=ATOL)`` on
every output; integer outputs (class predictions) must be equal.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from bag_of_bricks.image_classification import ImageClassifier
from bag_of_bricks.preprocessors import Preprocessor
from tests.helpers.modules import nested_resnet_collection
from tests.helpers.tensors import seeded
from torchbricks import BrickCollection
from torchbricks.bricks import BrickLoss, BrickMetricSingle, BrickNotTrainable, BrickTrainable
from torchbricks.errors import ExportError
from torchbricks.export import (
    export_bricks,
    export_bricks_as_onnx,
    onnx_max_abs_differences,
)
from torchbricks.visualization import BrickPerImageVisualization

ATOL = 1e-5  # absolute tolerance between onnxruntime and PyTorch outputs (small CNN, float32)
RTOL = 1e-4
IMAGE_SIZE = 16
N_FEATURES = 8
EXPORT_OUTPUTS = (
    "normalized",
    "features",
    "head0/logits",
    "head0/probabilities",
    "head0/class_prediction",
    "head1/logits",
    "head1/probabilities",
    "head1/class_prediction",
)


pytestmark = pytest.mark.usefixtures("single_thread")


# -- a small multi-task CNN ----------------------------------------------------------------------------------------


class ConvBackbone(nn.Module):
    def __init__(self, n_features: int = N_FEATURES) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(6, n_features, kernel_size=3, stride=2, padding=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.conv2(torch.relu(self.conv1(images)))


def mean_brightness(image: np.ndarray, class_prediction: np.ndarray) -> float:
    return float(image.mean()) + float(class_prediction[0])


def classification_head(num_classes: int, targets_name: str) -> dict[str, Any]:
    return {
        "classify": BrickTrainable(
            ImageClassifier(num_classes=num_classes, n_features=N_FEATURES),
            input_names=["features"],
            output_names=["./logits", "./probabilities", "./class_prediction"],
        ),
        "loss": BrickLoss(nn.CrossEntropyLoss(), input_names=["./logits", targets_name], output_names=["./loss_ce"]),
        "accuracy": BrickMetricSingle(
            MulticlassAccuracy(num_classes=num_classes), input_names=["./class_prediction", targets_name]
        ),
        "visualize": BrickPerImageVisualization(
            mean_brightness, input_names=["raw", "./class_prediction"], output_names=["./brightness"]
        ),
    }


def small_cnn_collection(seed: int = 0) -> BrickCollection:
    """Preprocessor, conv backbone and two heads with loss, metric and visualization bricks."""
    torch.manual_seed(seed)
    return BrickCollection(
        {
            "preprocessor": BrickNotTrainable(
                Preprocessor(mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3)),
                input_names=["raw"],
                output_names=["normalized"],
            ),
            "backbone": BrickTrainable(ConvBackbone(), input_names=["normalized"], output_names=["features"]),
            "head0": classification_head(3, "targets0"),
            "head1": classification_head(5, "targets1"),
        }
    )


def images(batch_size: int, seed: int = 1) -> torch.Tensor:
    return seeded(batch_size, 3, IMAGE_SIZE, IMAGE_SIZE, seed=seed)


def targets(batch_size: int, num_classes: int) -> torch.Tensor:
    return torch.arange(batch_size) % num_classes


def eager_eval_outputs(collection: BrickCollection, named_inputs: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """The MODEL outputs of an eval-mode copy of the collection (the collection itself is left as it is)."""
    reference = copy.deepcopy(collection).eval()
    with torch.no_grad():
        return reference(dict(named_inputs), groups={"MODEL"})


def run_onnx(path: Path, named_inputs: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {item.name: named_inputs[item.name].numpy() for item in session.get_inputs()}
    names = [item.name for item in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds), strict=True))


def assert_outputs_match(onnx_outputs: Mapping[str, np.ndarray], torch_outputs: Mapping[str, Any]) -> None:
    for name, value in onnx_outputs.items():
        expected = torch_outputs[name].numpy()
        assert value.shape == expected.shape, name
        if np.issubdtype(expected.dtype, np.integer):
            np.testing.assert_array_equal(value, expected, err_msg=name)
        else:
            np.testing.assert_allclose(value, expected, rtol=RTOL, atol=ATOL, err_msg=name)


def onnx_dims(path: Path) -> dict[str, list[int | str]]:
    """Per graph input/output: each dimension as its fixed size, or its symbolic name."""
    graph = onnx.load(str(path)).graph
    return {
        item.name: [dim.dim_param or dim.dim_value for dim in item.type.tensor_type.shape.dim]
        for item in [*graph.input, *graph.output]
    }


def metric_update_counts(collection: BrickCollection) -> dict[str, int]:
    return {
        f"{path}/{name}": metric.update_count
        for path, brick in collection.named_bricks()
        if isinstance(brick, BrickMetricSingle)
        for name, metric in brick.metrics.items()
    }


def training_flags(collection: BrickCollection) -> dict[str, bool]:
    return {name: module.training for name, module in collection.named_modules()}


def state_snapshot(collection: BrickCollection) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in collection.state_dict().items()}


# -- module-scoped exports -------------------------------------------------------------------------------------------


@dataclass
class Exported:
    collection: BrickCollection
    path: Path
    flags_before: dict[str, bool]
    flags_after: dict[str, bool]
    updates_before: dict[str, int]
    updates_after: dict[str, int]
    summary_before: dict[str, Any]
    summary_after: dict[str, Any]


@pytest.fixture(scope="module")
def dynamic_export(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """Export with a batch of 1 and dynamic_batch_size=True, after one training step updated the metrics."""
    collection = small_cnn_collection()
    collection({"raw": images(4), "targets0": targets(4, 3), "targets1": targets(4, 5)}, groups="train")
    collection["head1"]["classify"].eval()  # a mixed train/eval state that export must leave alone
    flags_before, updates_before = training_flags(collection), metric_update_counts(collection)
    summary_before = collection.summarize()
    path = tmp_path_factory.mktemp("dynamic") / "model.onnx"
    written = export_bricks_as_onnx(path, collection, {"raw": images(1)}, dynamic_batch_size=True)
    assert written == path
    return Exported(
        collection,
        path,
        flags_before,
        training_flags(collection),
        updates_before,
        metric_update_counts(collection),
        summary_before,
        collection.summarize(),
    )


@pytest.fixture(scope="module")
def static_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[BrickCollection, Path]:
    collection = small_cnn_collection(seed=1)
    path = tmp_path_factory.mktemp("static") / "model.onnx"
    export_bricks_as_onnx(path, collection, {"raw": images(2)}, dynamic_batch_size=False)
    return collection, path


SUBSET = ("head1/probabilities", "head0/class_prediction")


@pytest.fixture(scope="module")
def subset_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[BrickCollection, Path]:
    """Export of two outputs, over a stale file that the export must replace."""
    collection = small_cnn_collection(seed=2)
    path = tmp_path_factory.mktemp("subset") / "model.onnx"
    path.write_bytes(b"stale, not an onnx file")
    export_bricks_as_onnx(path, collection, {"raw": images(3), "targets0": targets(3, 3)}, output_names=list(SUBSET))
    return collection, path


# -- names -----------------------------------------------------------------------------------------------------------


def test_onnx_inputs_are_the_required_export_inputs_without_targets(dynamic_export: Exported) -> None:
    session = onnxruntime.InferenceSession(str(dynamic_export.path), providers=["CPUExecutionProvider"])
    names = [item.name for item in session.get_inputs()]
    assert names == list(dynamic_export.collection.required_inputs("export")) == ["raw"]


def test_onnx_outputs_are_the_export_outputs_in_execution_order(dynamic_export: Exported) -> None:
    session = onnxruntime.InferenceSession(str(dynamic_export.path), providers=["CPUExecutionProvider"])
    names = [item.name for item in session.get_outputs()]
    assert names == list(dynamic_export.collection.output_names("export")) == list(EXPORT_OUTPUTS)


def test_output_names_subset_exports_exactly_those_outputs(subset_export: tuple[BrickCollection, Path]) -> None:
    collection, path = subset_export
    named_inputs = {"raw": images(3, seed=5)}
    outputs = run_onnx(path, named_inputs)
    assert list(outputs) == list(SUBSET)
    assert [
        item.name for item in onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()
    ] == ["raw"]
    assert_outputs_match(outputs, eager_eval_outputs(collection, named_inputs))


def test_export_replaces_an_existing_file_without_leaving_temporary_files(
    subset_export: tuple[BrickCollection, Path],
) -> None:
    _, path = subset_export
    onnx.checker.check_model(onnx.load(str(path)))
    assert sorted(item.name for item in path.parent.iterdir()) == [path.name]


# -- numbers ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 4])
def test_dynamic_onnx_matches_pytorch_on_every_output(dynamic_export: Exported, batch_size: int) -> None:
    """Exported with a batch of 1 (the size torch.export would specialise) and run with 1 and 4."""
    named_inputs = {"raw": images(batch_size, seed=10 + batch_size)}
    outputs = run_onnx(dynamic_export.path, named_inputs)
    assert set(outputs) == set(EXPORT_OUTPUTS)
    assert outputs["head1/probabilities"].shape == (batch_size, 5)
    assert_outputs_match(outputs, eager_eval_outputs(dynamic_export.collection, named_inputs))


def test_dynamic_export_has_a_symbolic_batch_dimension(dynamic_export: Exported) -> None:
    dims = onnx_dims(dynamic_export.path)
    assert isinstance(dims["raw"][0], str)
    assert dims["raw"][1:] == [3, IMAGE_SIZE, IMAGE_SIZE]
    assert dims["head0/logits"] == [dims["raw"][0], 3]


def test_static_export_fixes_the_batch_dimension(static_export: tuple[BrickCollection, Path]) -> None:
    collection, path = static_export
    dims = onnx_dims(path)
    assert dims["raw"] == [2, 3, IMAGE_SIZE, IMAGE_SIZE]
    assert dims["head1/logits"] == [2, 5]
    named_inputs = {"raw": images(2, seed=3)}
    assert_outputs_match(run_onnx(path, named_inputs), eager_eval_outputs(collection, named_inputs))
    with pytest.raises(InvalidArgument, match="raw"):
        run_onnx(path, {"raw": images(3)})


@pytest.mark.parametrize("batch_size", [1, 5])
def test_onnx_max_abs_differences_per_output_are_below_tolerance(dynamic_export: Exported, batch_size: int) -> None:
    differences = onnx_max_abs_differences(dynamic_export.path, dynamic_export.collection, {"raw": images(batch_size)})
    assert list(differences) == list(EXPORT_OUTPUTS)
    assert all(isinstance(value, float) for value in differences.values())
    assert max(differences.values()) < ATOL


def test_onnx_max_abs_differences_detects_a_different_model(static_export: tuple[BrickCollection, Path]) -> None:
    _, path = static_export
    other = small_cnn_collection(seed=7)  # same architecture, other weights
    differences = onnx_max_abs_differences(path, other, {"raw": images(2)})
    assert differences["normalized"] < ATOL  # same preprocessor
    assert differences["features"] > 1e-3


# -- side effects ----------------------------------------------------------------------------------------------------


def test_export_leaves_metric_state_unchanged(dynamic_export: Exported) -> None:
    assert dynamic_export.updates_before == {
        "head0/accuracy/MulticlassAccuracy": 1,
        "head1/accuracy/MulticlassAccuracy": 1,
    }
    assert dynamic_export.updates_after == dynamic_export.updates_before
    assert dynamic_export.summary_after.keys() == dynamic_export.summary_before.keys()
    for key, value in dynamic_export.summary_before.items():
        assert torch.equal(dynamic_export.summary_after[key], value), key


def test_export_leaves_train_and_eval_flags_as_they_were(dynamic_export: Exported) -> None:
    flags = dynamic_export.flags_after
    assert flags == dynamic_export.flags_before
    assert flags[""] is True
    assert flags["head1.classify"] is False
    assert flags["preprocessor.model"] is False  # BrickNotTrainable keeps its model in eval mode


class NoisyNet(nn.Module):
    """Batch norm and dropout: outputs differ between train and eval mode."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(4)
        self.dropout = nn.Dropout(p=0.5)
        self.fc = nn.Linear(4, 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.dropout(torch.relu(self.norm(self.conv(images))))
        return self.fc(features.mean(dim=(2, 3)))


@dataclass
class NoisyExport:
    collection: BrickCollection
    path: Path
    state_before: dict[str, torch.Tensor]
    state_after: dict[str, torch.Tensor]
    flags_before: dict[str, bool]
    flags_after: dict[str, bool]


@pytest.fixture(scope="module")
def noisy_export(tmp_path_factory: pytest.TempPathFactory) -> NoisyExport:
    """A batch-norm/dropout model exported while in train mode."""
    torch.manual_seed(3)
    collection = BrickCollection({"net": BrickTrainable(NoisyNet(), input_names=["x"], output_names=["y"])}).train()
    with torch.no_grad():  # give batch norm non-trivial running statistics
        for seed in range(3):
            collection({"x": images(8, seed=seed) * 3 + 1})
    state_before, flags_before = state_snapshot(collection), training_flags(collection)
    path = tmp_path_factory.mktemp("noisy") / "noisy.onnx"
    export_bricks_as_onnx(path, collection, {"x": images(4)})
    return NoisyExport(
        collection, path, state_before, state_snapshot(collection), flags_before, training_flags(collection)
    )


def test_export_in_train_mode_writes_the_eval_mode_model(noisy_export: NoisyExport) -> None:
    named_inputs = {"x": images(4, seed=20)}
    expected = eager_eval_outputs(noisy_export.collection, named_inputs)
    assert_outputs_match(run_onnx(noisy_export.path, named_inputs), expected)
    with torch.no_grad():
        train_mode = copy.deepcopy(noisy_export.collection).train()(named_inputs)["y"]
    assert (train_mode - expected["y"]).abs().max() > 1e-3  # the check above can tell the modes apart


def test_export_restores_train_mode(noisy_export: NoisyExport) -> None:
    assert noisy_export.flags_after == noisy_export.flags_before
    assert all(noisy_export.flags_after.values())


def test_export_does_not_change_batch_norm_running_statistics(noisy_export: NoisyExport) -> None:
    """Exporting must not train: running_mean/var and num_batches_tracked stay as they were."""
    changed = [
        name
        for name, value in noisy_export.state_before.items()
        if not torch.equal(value, noisy_export.state_after[name])
    ]
    assert changed == []


def test_onnx_max_abs_differences_compares_with_the_eval_mode_model(noisy_export: NoisyExport) -> None:
    """The file holds the eval-mode model; comparing with a collection left in train mode must still agree."""
    collection = copy.deepcopy(noisy_export.collection)
    state_before = state_snapshot(collection)
    differences = onnx_max_abs_differences(noisy_export.path, collection, {"x": images(4, seed=21)})
    assert differences["y"] < ATOL
    assert collection.training
    assert all(torch.equal(value, collection.state_dict()[name]) for name, value in state_before.items())


# -- errors ----------------------------------------------------------------------------------------------------------


def test_unknown_output_name_raises_export_error_with_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"head0/logit\b") as error:
        export_bricks_as_onnx(
            tmp_path / "m.onnx", small_cnn_collection(), {"raw": images(2)}, output_names=["head0/logit"]
        )
    assert "Did you mean 'head0/logits'" in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_output_name_of_a_skipped_brick_is_unknown(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="head0/loss_ce"):
        export_bricks_as_onnx(
            tmp_path / "m.onnx", small_cnn_collection(), {"raw": images(2)}, output_names=["head0/loss_ce"]
        )


def test_missing_example_input_raises_export_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"\['raw'\]") as error:
        export_bricks_as_onnx(tmp_path / "m.onnx", small_cnn_collection(), {"raws": images(2)})
    assert "Did you mean 'raws'" in str(error.value)
    with pytest.raises(ExportError, match="'raw'"):
        export_bricks(small_cnn_collection(), {"targets0": targets(2, 3)})


@pytest.mark.parametrize(
    ("groups", "culprit", "brick_type"),
    [
        ("train", "head0/accuracy", "BrickMetricSingle"),
        ({"MODEL", "LOSS", "METRIC"}, "head0/accuracy", "BrickMetricSingle"),
        ({"MODEL", "VISUALIZATION"}, "head0/visualize", "BrickPerImageVisualization"),
    ],
)
def test_non_exportable_brick_in_exported_groups_raises_export_error(
    tmp_path: Path, groups: Any, culprit: str, brick_type: str
) -> None:
    named_inputs = {"raw": images(2), "targets0": targets(2, 3), "targets1": targets(2, 5)}
    for export in (
        lambda: export_bricks_as_onnx(tmp_path / "m.onnx", small_cnn_collection(), named_inputs, groups=groups),
        lambda: export_bricks(small_cnn_collection(), named_inputs, groups=groups),
    ):
        with pytest.raises(ExportError) as error:
            export()
        message = str(error.value)
        assert f"'{culprit}'" in message
        assert brick_type in message
        assert "groups={'MODEL'}" in message  # how to leave it out
    assert list(tmp_path.iterdir()) == []


class SplitToList(nn.Module):
    def forward(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        return list(tensor.unbind(dim=1))


def test_brick_writing_a_non_tensor_raises_export_error_naming_brick_and_data(tmp_path: Path) -> None:
    collection = BrickCollection(
        {
            "stem": BrickTrainable(nn.Identity(), input_names=["x"], output_names=["y"]),
            "head": {"split": BrickTrainable(SplitToList(), input_names=["y"], output_names=["./parts"])},
        }
    )
    with pytest.raises(ExportError) as error:
        export_bricks_as_onnx(tmp_path / "m.onnx", collection, {"x": torch.rand(2, 3)})
    message = str(error.value)
    assert "'head/split'" in message
    assert "'head/parts'" in message
    assert "list" in message
    assert list(tmp_path.iterdir()) == []


# -- no half-written files -------------------------------------------------------------------------------------------


GOOD_BYTES = b"a good model file from an earlier export"


@pytest.mark.parametrize("existing", [False, True])
def test_export_error_leaves_no_file_and_keeps_an_existing_one(tmp_path: Path, existing: bool) -> None:
    target = tmp_path / "models" / "model.onnx"
    if existing:
        target.parent.mkdir()
        target.write_bytes(GOOD_BYTES)
    with pytest.raises(ExportError):
        export_bricks_as_onnx(target, small_cnn_collection(), {"raws": images(2)})
    if existing:
        assert target.read_bytes() == GOOD_BYTES
        assert list(target.parent.iterdir()) == [target]
    else:
        assert not target.exists()
        assert [path for path in tmp_path.rglob("*") if path.is_file()] == []


@pytest.mark.parametrize("exception", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("existing", [False, True])
def test_failing_onnx_exporter_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool, exception: type[BaseException]
) -> None:
    written: list[Path] = []

    def half_write_then_fail(model: Any, args: Any, f: Any, *rest: Any, **kwargs: Any) -> None:
        Path(f).write_bytes(b"half an onnx file")
        written.append(Path(f))
        raise exception("exporter crashed")

    monkeypatch.setattr(torch.onnx, "export", half_write_then_fail)
    target = tmp_path / "model.onnx"
    if existing:
        target.write_bytes(GOOD_BYTES)
    with pytest.raises(exception, match="exporter crashed"):
        export_bricks_as_onnx(target, small_cnn_collection(), {"raw": images(2)})
    assert written, "the exporter was not called"
    assert written[0] != target  # the exporter writes elsewhere, never over the target
    assert not written[0].exists()
    if existing:
        assert target.read_bytes() == GOOD_BYTES
        assert list(tmp_path.iterdir()) == [target]
    else:
        assert list(tmp_path.iterdir()) == []


# -- torch.export ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported_program() -> tuple[BrickCollection, torch.export.ExportedProgram]:
    collection = small_cnn_collection(seed=4)
    return collection, export_bricks(collection, {"raw": images(1)}, groups={"MODEL"}, dynamic_batch_size=True)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_export_bricks_program_matches_eager_outputs(
    exported_program: tuple[BrickCollection, torch.export.ExportedProgram], batch_size: int
) -> None:
    collection, program = exported_program
    named_inputs = {"raw": images(batch_size, seed=30)}
    with torch.no_grad():
        outputs = program.module()(named_inputs=named_inputs)
    assert list(outputs) == list(collection.output_names({"MODEL"})) == list(EXPORT_OUTPUTS)
    expected = eager_eval_outputs(collection, named_inputs)
    for name, value in outputs.items():
        assert value.shape[0] == batch_size
        torch.testing.assert_close(value, expected[name], rtol=RTOL, atol=ATOL)


def test_export_bricks_program_takes_only_the_model_inputs(
    exported_program: tuple[BrickCollection, torch.export.ExportedProgram],
) -> None:
    _, program = exported_program
    assert set(program.example_inputs[1]["named_inputs"]) == {"raw"}


# -- the README's ONNX example -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_readme_onnx_example_with_nested_resnet_heads(tmp_path: Path) -> None:
    brick_collection = nested_resnet_collection(seed=0)
    batch = torch.rand((2, 3, 64, 64), generator=torch.Generator().manual_seed(0))
    named_inputs = {"raw": batch, "targets0": targets(2, 3), "targets1": targets(2, 5)}
    path_build = tmp_path / "build"
    path_build.mkdir(exist_ok=True)
    path_onnx = path_build / "readme_model.onnx"

    export_bricks_as_onnx(
        path_onnx=path_onnx, brick_collection=brick_collection, named_inputs=named_inputs, dynamic_batch_size=True
    )

    session = onnxruntime.InferenceSession(str(path_onnx), providers=["CPUExecutionProvider"])
    assert [item.name for item in session.get_inputs()] == ["raw"]
    expected_names = list(brick_collection.output_names("export"))
    assert [item.name for item in session.get_outputs()] == expected_names
    assert "head1/class_prediction" in expected_names
    for batch_size in (2, 3):
        inputs = {"raw": torch.rand((batch_size, 3, 64, 64), generator=torch.Generator().manual_seed(batch_size))}
        outputs = run_onnx(path_onnx, inputs)
        expected = eager_eval_outputs(brick_collection, inputs)
        for name in ("features", "head0/logits", "head1/probabilities"):
            # a deeper network: looser tolerance (rtol=1e-3, atol=1e-4)
            np.testing.assert_allclose(outputs[name], expected[name].numpy(), rtol=1e-3, atol=1e-4, err_msg=name)
        assert outputs["head0/probabilities"].shape == (batch_size, 3)
