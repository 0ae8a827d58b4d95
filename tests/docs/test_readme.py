"""The README's examples: the README's Python blocks run, and the seed README's examples run with asserted results.

The README's blocks run in order, in one namespace (they assert their own results). The seed README
("Bricks by example") used 100x200 images; its examples here use 32x32 images to stay fast. Its ONNX,
visualization and mermaid graph examples are covered in ``tests/core`` (test_export, test_visualization,
test_graph).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.functional import cross_entropy
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassPrecision

from bag_of_bricks.backbones import BackboneResnet
from bag_of_bricks.image_classification import ImageClassifier
from bag_of_bricks.preprocessors import Preprocessor
from tests.helpers.modules import (
    MyNewPostProcessor,
    TinyModel,
    nested_resnet_collection,
    resnet_backbone_bricks,
    seed_bricks,
)
from tests.helpers.tensors import seeded
from torchbricks import BrickCollection
from torchbricks.bricks import (
    BrickInterface,
    BrickLoss,
    BrickMetrics,
    BrickMetricSingle,
    BrickNotTrainable,
    BrickTrainable,
)
from torchbricks.errors import BrickWeightsWarning, MissingInputsError

README = Path(__file__).resolve().parents[2] / "README.md"

pytestmark = pytest.mark.usefixtures("single_thread")  # the tensors are tiny: intra-op threads only add overhead

# -- the README: its Python blocks and its quickstart -----------------------------------------------------------


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_has_examples() -> None:
    assert len(python_blocks(README.read_text())) >= 5


def test_readme_examples_run() -> None:
    namespace: dict[str, object] = {"__name__": "readme"}
    for number, block in enumerate(python_blocks(README.read_text()), start=1):
        exec(compile(block, f"README.md python block {number}", "exec"), namespace)


def test_quickstart_holds_exactly_two_commands() -> None:
    quickstart = README.read_text().split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)```", quickstart, flags=re.DOTALL)
    assert len(commands) == 2
    assert "torchbricks demo" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command() -> None:
    quickstart = README.read_text().split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    test_command = re.findall(r"```bash\n(.*?)```", quickstart, flags=re.DOTALL)[1].strip()
    ci_script = (README.parent / ".ci" / "run").read_text()
    assert test_command in ci_script.splitlines()


# == the seed README ("Bricks by example"), with asserted results =================================================

BATCH_SIZE = 2
NUM_CLASSES = 10

SEED_GROUPED_REPR = """\
BrickCollection(
  (preprocessor): BrickNotTrainable(PreprocessorDummy, input_names=['raw_images'], output_names=['processed'], groups={'MODEL'})
  (backbone): BrickTrainable(TinyModel, input_names=['processed'], output_names=['embedding'], groups={'MODEL'})
  (head): BrickTrainable(ClassifierDummy, input_names=['embedding'], output_names=['logits', 'softmaxed'], groups={'MODEL'})
  (loss): BrickLoss(CrossEntropyLoss, input_names=['logits', 'targets'], output_names=['loss_ce'], groups={'LOSS'})
)"""  # noqa: E501 - copied verbatim from the README


def images(seed: int, batch_size: int = BATCH_SIZE) -> torch.Tensor:
    return seeded(batch_size, 3, 32, 32, seed=seed)


@pytest.fixture
def batched_images() -> torch.Tensor:
    return images(seed=0)


@pytest.fixture
def seed_collection() -> BrickCollection:
    """Concept 1: preprocessor → backbone → head."""
    return BrickCollection(seed_bricks())


@pytest.fixture
def grouped_seed_collection() -> BrickCollection:
    """Concept 2: the same bricks in group MODEL, plus a cross-entropy BrickLoss in group LOSS."""
    return BrickCollection(seed_bricks(group_names=True))


def macro_accuracy_by_hand(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int) -> float:
    """torchmetrics' macro MulticlassAccuracy: mean per-class recall over classes that occur (as target or guess)."""
    recalls = []
    for label in range(num_classes):
        true_positives = int(((predictions == label) & (targets == label)).sum())
        false_positives = int(((predictions == label) & (targets != label)).sum())
        false_negatives = int(((predictions != label) & (targets == label)).sum())
        if true_positives + false_positives + false_negatives == 0:
            continue
        support = true_positives + false_negatives
        recalls.append(true_positives / support if support else 0.0)
    return sum(recalls) / len(recalls)


# -- Concept 1: bricks are connected ------------------------------------------------------------------------


def test_concept1_outputs_every_named_tensor(seed_collection: BrickCollection, batched_images: torch.Tensor) -> None:
    named_outputs = seed_collection(named_inputs={"raw_images": batched_images})

    assert list(named_outputs.keys()) == ["raw_images", "processed", "embedding", "logits", "softmaxed"]


def test_concept1_passes_outputs_to_inputs_with_matching_names(
    seed_collection: BrickCollection, batched_images: torch.Tensor
) -> None:
    named_outputs = seed_collection(named_inputs={"raw_images": batched_images})

    expected_processed = batched_images / 2
    expected_embedding = seed_collection["backbone"].model.conv(expected_processed)
    expected_logits, expected_softmaxed = seed_collection["head"].model(expected_embedding)
    assert named_outputs["raw_images"] is batched_images
    torch.testing.assert_close(named_outputs["processed"], expected_processed)
    torch.testing.assert_close(named_outputs["embedding"], expected_embedding)
    torch.testing.assert_close(named_outputs["logits"], expected_logits)
    torch.testing.assert_close(named_outputs["softmaxed"], expected_softmaxed)
    assert named_outputs["logits"].shape == (BATCH_SIZE, 3)


def test_concept1_repr_lists_bricks_with_default_model_group(seed_collection: BrickCollection) -> None:
    without_loss = "\n".join(line for line in SEED_GROUPED_REPR.splitlines() if "(loss)" not in line)

    assert repr(seed_collection) == without_loss


def test_collection_acts_as_a_dict_of_bricks(seed_collection: BrickCollection, batched_images: torch.Tensor) -> None:
    head = seed_collection.pop("head")
    assert isinstance(head, BrickTrainable)
    assert list(seed_collection.keys()) == ["preprocessor", "backbone"]
    assert list(seed_collection({"raw_images": batched_images})) == ["raw_images", "processed", "embedding"]

    seed_collection.update({"head": head})

    assert seed_collection["head"] is head
    assert "softmaxed" in seed_collection({"raw_images": batched_images})


# -- Concept 2: bricks are grouped --------------------------------------------------------------------------


def test_concept2_repr_matches_readme(grouped_seed_collection: BrickCollection) -> None:
    assert repr(grouped_seed_collection) == SEED_GROUPED_REPR
    assert str(grouped_seed_collection) == SEED_GROUPED_REPR


def test_concept2_all_groups_run_model_and_loss(
    grouped_seed_collection: BrickCollection, batched_images: torch.Tensor
) -> None:
    targets = torch.ones((BATCH_SIZE,), dtype=torch.int64)

    named_outputs = grouped_seed_collection(named_inputs={"raw_images": batched_images, "targets": targets})

    assert grouped_seed_collection.required_inputs() == ("raw_images", "targets")
    assert list(named_outputs) == ["raw_images", "targets", "processed", "embedding", "logits", "softmaxed", "loss_ce"]
    torch.testing.assert_close(named_outputs["loss_ce"], cross_entropy(named_outputs["logits"], targets))


def test_concept2_model_group_needs_only_raw_images(
    grouped_seed_collection: BrickCollection, batched_images: torch.Tensor
) -> None:
    assert grouped_seed_collection.required_inputs(groups={"MODEL"}) == ("raw_images",)

    named_outputs = grouped_seed_collection(named_inputs={"raw_images": batched_images}, groups={"MODEL"})

    assert list(named_outputs) == ["raw_images", "processed", "embedding", "logits", "softmaxed"]


def test_concept2_model_group_skips_loss_even_when_targets_are_given(
    grouped_seed_collection: BrickCollection, batched_images: torch.Tensor
) -> None:
    named_inputs = {"raw_images": batched_images, "targets": torch.ones((BATCH_SIZE,), dtype=torch.int64)}

    named_outputs = grouped_seed_collection(named_inputs=named_inputs, groups={"MODEL"})

    assert "loss_ce" not in named_outputs
    assert "logits" in named_outputs


def test_concept2_model_and_loss_groups_equal_all_groups(
    grouped_seed_collection: BrickCollection, batched_images: torch.Tensor
) -> None:
    named_inputs = {"raw_images": batched_images, "targets": torch.tensor([0, 2])}

    explicit = grouped_seed_collection(named_inputs=named_inputs, groups={"MODEL", "LOSS"})
    everything = grouped_seed_collection(named_inputs=named_inputs)

    assert grouped_seed_collection.required_inputs(groups={"MODEL", "LOSS"}) == ("raw_images", "targets")
    assert list(explicit) == list(everything)
    torch.testing.assert_close(explicit["loss_ce"], everything["loss_ce"])


def test_concept2_missing_targets_names_input_and_brick(
    grouped_seed_collection: BrickCollection, batched_images: torch.Tensor
) -> None:
    with pytest.raises(MissingInputsError) as error:
        grouped_seed_collection(named_inputs={"raw_images": batched_images}, groups={"MODEL", "LOSS"})

    assert "'targets'" in str(error.value)
    assert "'loss'" in str(error.value)


# -- TorchMetrics --------------------------------------------------------------------------------------------


def create_readme_metrics_collection(seed: int = 0) -> BrickCollection:
    """The README's resnet18 + Preprocessor + ImageClassifier + accuracy + loss collection."""
    torch.manual_seed(seed)
    bricks = resnet_backbone_bricks(num_classes=NUM_CLASSES)
    n_features = bricks["backbone"].model.n_backbone_features
    bricks |= {
        "head": BrickTrainable(
            ImageClassifier(num_classes=NUM_CLASSES, n_features=n_features),
            input_names=["features"],
            output_names=["logits", "probabilities", "class_prediction"],
        ),
        "accuracy": BrickMetricSingle(
            MulticlassAccuracy(num_classes=NUM_CLASSES), input_names=["class_prediction", "targets"]
        ),
        "loss": BrickLoss(model=nn.CrossEntropyLoss(), input_names=["logits", "targets"], output_names=["loss_ce"]),
    }
    return BrickCollection(bricks)


@pytest.fixture(scope="module")
def readme_metrics_collection() -> BrickCollection:
    return create_readme_metrics_collection()


@pytest.fixture
def metrics_collection(readme_metrics_collection: BrickCollection) -> BrickCollection:
    readme_metrics_collection.reset_metrics()
    readme_metrics_collection.eval()
    return readme_metrics_collection


def simulated_dataloader(num_batches: int = 5) -> list[dict[str, torch.Tensor]]:
    """Batches with different images and mixed targets, so aggregation over batches is observable."""
    generator = torch.Generator().manual_seed(123)
    return [
        {"raw": images(seed=index), "targets": torch.randint(0, NUM_CLASSES, (BATCH_SIZE,), generator=generator)}
        for index in range(num_batches)
    ]


def test_torchmetrics_readme_loop_outputs_and_losses(metrics_collection: BrickCollection) -> None:
    named_input_simulated = {"raw": images(seed=0), "targets": torch.ones((BATCH_SIZE,), dtype=torch.int64)}
    dataloader_simulated = [named_input_simulated for _ in range(5)]

    for named_inputs in dataloader_simulated:
        named_outputs = metrics_collection(named_inputs=named_inputs)
        named_outputs_losses_only = metrics_collection.extract_losses(named_outputs=named_outputs)
    metrics = metrics_collection.summarize(reset=True)

    # The README also lists a 'stage' key, a leftover of an older API (its Concept 1 output has none).
    assert list(named_outputs) == [
        "raw", "targets", "normalized", "features", "logits", "probabilities", "class_prediction", "loss_ce"
    ]  # fmt: skip
    assert list(named_outputs_losses_only) == ["loss_ce"]
    assert named_outputs_losses_only["loss_ce"] is named_outputs["loss_ce"]
    assert list(metrics) == ["MulticlassAccuracy"]
    assert isinstance(metrics["MulticlassAccuracy"], torch.Tensor)
    assert metrics["MulticlassAccuracy"].ndim == 0


def test_torchmetrics_loss_is_cross_entropy_of_logits(metrics_collection: BrickCollection) -> None:
    named_inputs = simulated_dataloader(1)[0]

    named_outputs = metrics_collection(named_inputs=named_inputs)

    expected = cross_entropy(named_outputs["logits"], named_inputs["targets"])
    torch.testing.assert_close(metrics_collection.extract_losses(named_outputs)["loss_ce"], expected)


def test_torchmetrics_metrics_are_not_written_to_named_outputs(metrics_collection: BrickCollection) -> None:
    named_outputs = metrics_collection(named_inputs=simulated_dataloader(1)[0])

    assert "MulticlassAccuracy" not in named_outputs
    assert not any("accuracy" in name.lower() for name in named_outputs)


def test_torchmetrics_summarize_aggregates_over_all_batches(metrics_collection: BrickCollection) -> None:
    predictions, targets = [], []
    for named_inputs in simulated_dataloader(5):
        named_outputs = metrics_collection(named_inputs=named_inputs)
        predictions.append(named_outputs["class_prediction"])
        targets.append(named_inputs["targets"])

    metrics = metrics_collection.summarize(reset=True)

    all_predictions, all_targets = torch.cat(predictions), torch.cat(targets)
    reference = MulticlassAccuracy(num_classes=NUM_CLASSES)(all_predictions, all_targets)
    by_hand = macro_accuracy_by_hand(all_predictions, all_targets, NUM_CLASSES)
    assert list(metrics) == ["MulticlassAccuracy"]
    torch.testing.assert_close(metrics["MulticlassAccuracy"], reference)
    assert metrics["MulticlassAccuracy"].item() == pytest.approx(by_hand)


def test_torchmetrics_summarize_with_reset_starts_over(metrics_collection: BrickCollection) -> None:
    for named_inputs in simulated_dataloader(4):
        metrics_collection(named_inputs=named_inputs)
    metrics_collection.summarize(reset=True)

    assert metrics_collection["accuracy"].metrics["MulticlassAccuracy"].update_count == 0
    last_batch = simulated_dataloader(5)[-1]
    named_outputs = metrics_collection(named_inputs=last_batch)
    metrics = metrics_collection.summarize(reset=True)

    expected = macro_accuracy_by_hand(named_outputs["class_prediction"], last_batch["targets"], NUM_CLASSES)
    assert metrics["MulticlassAccuracy"].item() == pytest.approx(expected)


def test_torchmetrics_summarize_without_reset_keeps_accumulating(metrics_collection: BrickCollection) -> None:
    batches = simulated_dataloader(2)
    first = metrics_collection(named_inputs=batches[0])
    metrics_collection.summarize(reset=False)
    second = metrics_collection(named_inputs=batches[1])

    metrics = metrics_collection.summarize(reset=True)

    predictions = torch.cat([first["class_prediction"], second["class_prediction"]])
    targets = torch.cat([batches[0]["targets"], batches[1]["targets"]])
    assert metrics["MulticlassAccuracy"].item() == pytest.approx(
        macro_accuracy_by_hand(predictions, targets, NUM_CLASSES)
    )


def metric_collection_bricks(return_metrics: bool) -> dict[str, BrickInterface]:
    return {
        "head": BrickTrainable(
            ImageClassifier(num_classes=4, n_features=3),
            input_names=["features"],
            output_names=["logits", "probabilities", "class_prediction"],
        ),
        "metrics": BrickMetrics(
            MetricCollection([MulticlassAccuracy(num_classes=4), MulticlassPrecision(num_classes=4)]),
            input_names=["class_prediction", "targets"],
            return_metrics=return_metrics,
        ),
    }


def metric_batches() -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(7)
    return [
        {"features": torch.randn(6, 3, generator=generator), "targets": torch.randint(0, 4, (6,), generator=generator)}
        for _ in range(3)
    ]


def test_brick_metrics_return_metrics_writes_per_batch_values() -> None:
    torch.manual_seed(0)
    collection = BrickCollection(metric_collection_bricks(return_metrics=True))

    for batch in metric_batches():
        named_outputs = collection(named_inputs=batch)

        prediction, target = named_outputs["class_prediction"], batch["targets"]
        torch.testing.assert_close(
            named_outputs["MulticlassAccuracy"], MulticlassAccuracy(num_classes=4)(prediction, target)
        )
        torch.testing.assert_close(
            named_outputs["MulticlassPrecision"], MulticlassPrecision(num_classes=4)(prediction, target)
        )


def test_brick_metrics_collection_summarizes_every_metric_over_batches() -> None:
    torch.manual_seed(0)
    collection = BrickCollection(metric_collection_bricks(return_metrics=True))
    predictions, targets = [], []
    for batch in metric_batches():
        predictions.append(collection(named_inputs=batch)["class_prediction"])
        targets.append(batch["targets"])

    metrics = collection.summarize(reset=True)

    all_predictions, all_targets = torch.cat(predictions), torch.cat(targets)
    assert sorted(metrics) == ["MulticlassAccuracy", "MulticlassPrecision"]
    torch.testing.assert_close(
        metrics["MulticlassAccuracy"], MulticlassAccuracy(num_classes=4)(all_predictions, all_targets)
    )
    torch.testing.assert_close(
        metrics["MulticlassPrecision"], MulticlassPrecision(num_classes=4)(all_predictions, all_targets)
    )


def test_brick_metrics_without_return_metrics_writes_nothing() -> None:
    collection = BrickCollection(metric_collection_bricks(return_metrics=False))

    named_outputs = collection(named_inputs=metric_batches()[0])

    assert list(named_outputs) == ["features", "targets", "logits", "probabilities", "class_prediction"]


def test_returned_metrics_can_feed_another_brick() -> None:
    bricks = metric_collection_bricks(return_metrics=True)
    bricks["percent"] = BrickNotTrainable(
        lambda accuracy: accuracy * 100, input_names=["MulticlassAccuracy"], output_names=["accuracy_percent"]
    )
    collection = BrickCollection(bricks)

    named_outputs = collection(named_inputs=metric_batches()[0])

    torch.testing.assert_close(named_outputs["accuracy_percent"], named_outputs["MulticlassAccuracy"] * 100)


def test_brick_metric_single_return_metrics_writes_batch_value() -> None:
    collection = BrickCollection(
        {
            "accuracy": BrickMetricSingle(
                MulticlassAccuracy(num_classes=3, average="micro"),
                input_names=["class_prediction", "targets"],
                return_metrics=True,
            )
        }
    )

    named_outputs = collection({"class_prediction": torch.tensor([0, 1, 2, 2]), "targets": torch.tensor([0, 1, 1, 1])})

    torch.testing.assert_close(named_outputs["MulticlassAccuracy"], torch.tensor(0.5))


# -- Act as a nn.Module -----------------------------------------------------------------------------------------


def test_to_float16_and_back_to_float32(readme_metrics_collection: BrickCollection) -> None:
    readme_metrics_collection.to(torch.float16)
    try:
        assert {parameter.dtype for parameter in readme_metrics_collection.parameters()} == {torch.float16}
    finally:
        readme_metrics_collection.to(torch.float32)

    assert {parameter.dtype for parameter in readme_metrics_collection.parameters()} == {torch.float32}
    assert readme_metrics_collection["backbone"].model.stem[1].running_mean.dtype == torch.float32


def test_state_dict_round_trip_through_torch_save_reproduces_outputs(tmp_path: Path) -> None:
    original = create_readme_metrics_collection(seed=0)
    original.train()
    original({"raw": images(seed=1, batch_size=4), "targets": torch.zeros(4, dtype=torch.int64)})  # moves BN stats
    original.eval()
    path_model = tmp_path / "readme_model.pt"
    torch.save(original.state_dict(), path_model)

    restored = create_readme_metrics_collection(seed=1).eval()
    named_inputs = {"raw": images(seed=2), "targets": torch.tensor([1, 2])}
    assert not torch.equal(restored(named_inputs)["logits"], original(named_inputs)["logits"])
    restored.load_state_dict(torch.load(path_model, weights_only=True))

    torch.testing.assert_close(restored(named_inputs)["logits"], original(named_inputs)["logits"], rtol=0, atol=0)


def test_named_parameters_are_prefixed_by_brick_name(readme_metrics_collection: BrickCollection) -> None:
    names = [name for name, _ in readme_metrics_collection.named_parameters()]

    backbone_names = [
        f"backbone.model.{name}" for name, _ in readme_metrics_collection["backbone"].model.named_parameters()
    ]
    assert backbone_names
    assert set(backbone_names) <= set(names)
    assert {"head.model.fc.weight", "head.model.fc.bias"} <= set(names)
    assert len(names) == len(backbone_names) + 2
    assert not any(name.startswith(("preprocessor.", "accuracy.", "loss.")) for name in names)


def test_named_modules_include_bricks_and_wrapped_models(readme_metrics_collection: BrickCollection) -> None:
    modules = dict(readme_metrics_collection.named_modules())

    assert modules[""] is readme_metrics_collection
    assert isinstance(modules["preprocessor.model"], Preprocessor)
    assert isinstance(modules["backbone.model"], BackboneResnet)
    assert isinstance(modules["head.model.fc"], nn.Linear)
    assert isinstance(modules["accuracy"], BrickMetricSingle)
    assert isinstance(modules["loss.model"], nn.CrossEntropyLoss)


def test_torch_compile_traces_the_collection_as_one_graph(batched_images: torch.Tensor) -> None:
    torch._dynamo.reset()
    collection = BrickCollection(seed_bricks(group_names=True)).eval()
    named_inputs = {"raw_images": batched_images, "targets": torch.tensor([0, 2])}
    eager = collection(named_inputs=named_inputs)

    compiled = torch.compile(collection, backend="aot_eager", fullgraph=True)
    compiled_outputs = compiled(named_inputs=named_inputs)

    assert list(compiled_outputs) == list(eager)
    for name in ("processed", "embedding", "logits", "softmaxed", "loss_ce"):
        torch.testing.assert_close(compiled_outputs[name], eager[name])


@pytest.mark.slow
def test_torch_compile_with_default_backend_matches_eager(batched_images: torch.Tensor) -> None:
    torch._dynamo.reset()
    collection = BrickCollection(seed_bricks(group_names=True)).eval()
    named_inputs = {"raw_images": batched_images, "targets": torch.tensor([0, 2])}
    eager = collection(named_inputs=named_inputs)

    compiled = torch.compile(collection)
    compiled_outputs = compiled(named_inputs=named_inputs)

    assert list(compiled_outputs) == list(eager)
    for name in ("processed", "embedding", "logits", "softmaxed", "loss_ce"):
        torch.testing.assert_close(compiled_outputs[name], eager[name])


# -- Nested bricks and relative names ------------------------------------------------------------------------------


@pytest.fixture
def nested_collection() -> BrickCollection:
    return nested_resnet_collection(seed=0).eval()


def nested_inputs(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "raw": images(seed=seed, batch_size=4),
        "targets0": torch.randint(0, 3, (4,), generator=generator),
        "targets1": torch.randint(0, 5, (4,), generator=generator),
    }


def test_nested_relative_names_resolve_to_head_prefixed_names(nested_collection: BrickCollection) -> None:
    named_outputs = nested_collection(named_inputs=nested_inputs())

    for head, num_classes in (("head0", 3), ("head1", 5)):
        assert named_outputs[f"{head}/logits"].shape == (4, num_classes)
        assert named_outputs[f"{head}/probabilities"].shape == (4, num_classes)
        assert named_outputs[f"{head}/class_prediction"].shape == (4,)
        assert f"{head}/loss_ce" in named_outputs
    assert "logits" not in named_outputs
    assert nested_collection.external_inputs == ("raw", "targets0", "targets1")


def test_nested_collection_stores_heads_as_sub_collections(nested_collection: BrickCollection) -> None:
    assert isinstance(nested_collection["head0"], BrickCollection)
    assert nested_collection["head0"].path == "head0"
    assert [path for path, _ in nested_collection.named_bricks()] == [
        "preprocessor", "backbone",
        "head0/classify", "head0/accuracy", "head0/loss",
        "head1/classify", "head1/accuracy", "head1/loss",
    ]  # fmt: skip


def test_nested_heads_compute_their_own_losses(nested_collection: BrickCollection) -> None:
    named_inputs = nested_inputs()
    named_outputs = nested_collection(named_inputs=named_inputs)

    losses = nested_collection.extract_losses(named_outputs)

    assert sorted(losses) == ["head0/loss_ce", "head1/loss_ce"]
    for head in ("head0", "head1"):
        expected = cross_entropy(named_outputs[f"{head}/logits"], named_inputs[f"targets{head[-1]}"])
        torch.testing.assert_close(losses[f"{head}/loss_ce"], expected)


def test_nested_summarize_keys_metrics_by_head(nested_collection: BrickCollection) -> None:
    collected: dict[str, list[torch.Tensor]] = {"head0": [], "head1": [], "targets0": [], "targets1": []}
    for seed in range(3):
        named_inputs = nested_inputs(seed)
        named_outputs = nested_collection(named_inputs=named_inputs)
        for index, head in enumerate(("head0", "head1")):
            collected[head].append(named_outputs[f"{head}/class_prediction"])
            collected[f"targets{index}"].append(named_inputs[f"targets{index}"])

    metrics = nested_collection.summarize(reset=True)

    assert sorted(metrics) == ["head0/MulticlassAccuracy", "head1/MulticlassAccuracy"]
    for index, (head, num_classes) in enumerate((("head0", 3), ("head1", 5))):
        predictions, targets = torch.cat(collected[head]), torch.cat(collected[f"targets{index}"])
        expected = macro_accuracy_by_hand(predictions, targets, num_classes)
        assert metrics[f"{head}/MulticlassAccuracy"].item() == pytest.approx(expected)


def test_nested_head_can_be_removed_as_a_group(nested_collection: BrickCollection) -> None:
    del nested_collection["head1"]

    named_outputs = nested_collection(named_inputs={"raw": images(seed=0), "targets0": torch.tensor([0, 1])})

    assert nested_collection.external_inputs == ("raw", "targets0")
    assert not any(name.startswith("head1/") for name in named_outputs)
    assert "head0/loss_ce" in named_outputs


# -- save_bricks / load_bricks --------------------------------------------------------------------------------------


def test_save_bricks_writes_a_file_tree_mirroring_the_nesting(
    nested_collection: BrickCollection, tmp_path: Path
) -> None:
    path_model_folder = tmp_path / "bricks"

    written = nested_collection.save_bricks(path_model_folder=path_model_folder, exist_ok=True)

    files = sorted(path.relative_to(path_model_folder).as_posix() for path in path_model_folder.rglob("*.safetensors"))
    # Preprocessor (non-persistent buffers), metrics and CrossEntropyLoss have no state, so no file.
    assert files == ["backbone.safetensors", "head0/classify.safetensors", "head1/classify.safetensors"]
    assert sorted(path.relative_to(path_model_folder).as_posix() for path in written) == files


def test_save_bricks_with_exist_ok_overwrites_an_existing_folder(
    nested_collection: BrickCollection, tmp_path: Path
) -> None:
    path_model_folder = tmp_path / "bricks"
    path_model_folder.mkdir()
    nested_collection.save_bricks(path_model_folder=path_model_folder, exist_ok=True)

    second = nested_collection.save_bricks(path_model_folder=path_model_folder, exist_ok=True)

    assert len(second) == 3
    assert len(list(path_model_folder.rglob("*.safetensors"))) == 3


def test_load_bricks_into_fresh_collection_reproduces_outputs(tmp_path: Path) -> None:
    original = nested_resnet_collection(seed=0)
    original.train()
    original(named_inputs=nested_inputs(seed=5))  # moves batch-norm running statistics away from their defaults
    original.eval()
    path_model_folder = tmp_path / "bricks"
    original.save_bricks(path_model_folder=path_model_folder, exist_ok=True)
    fresh = nested_resnet_collection(seed=1).eval()
    named_inputs = nested_inputs(seed=9)
    assert not torch.equal(fresh(named_inputs)["head0/logits"], original(named_inputs)["head0/logits"])

    fresh.load_bricks(path_model_folder=path_model_folder)

    expected, restored = original(named_inputs), fresh(named_inputs)
    for name in ("features", "head0/logits", "head1/logits", "head0/loss_ce", "head1/loss_ce"):
        assert torch.equal(restored[name], expected[name]), name


def test_load_bricks_into_other_architecture_loads_matching_bricks_and_warns(tmp_path: Path) -> None:
    # The README saves the nested collection and then loads the folder into the flat metrics collection.
    brick_collections = nested_resnet_collection(seed=0)
    path_model_folder = tmp_path / "bricks"
    brick_collections.save_bricks(path_model_folder=path_model_folder, exist_ok=True)
    brick_collection = create_readme_metrics_collection(seed=1)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        brick_collection.load_bricks(path_model_folder=path_model_folder)

    messages = [str(warning.message) for warning in caught if issubclass(warning.category, BrickWeightsWarning)]
    assert any("'head'" in message for message in messages)
    assert any("head0/classify.safetensors" in message for message in messages)
    assert any("head1/classify.safetensors" in message for message in messages)
    saved_backbone = brick_collections["backbone"].state_dict()
    for key, tensor in brick_collection["backbone"].state_dict().items():
        assert torch.equal(tensor, saved_backbone[key]), key


# -- '__all__' ------------------------------------------------------------------------------------------------------


def test_all_inputs_passes_every_named_tensor_as_a_dict() -> None:
    torch.manual_seed(0)
    post_processor = MyNewPostProcessor()
    bricks = {
        "backbone": BrickTrainable(
            TinyModel(n_channels=3, n_features=10), input_names=["raw"], output_names=["embedding"]
        ),
        "post_processor": BrickNotTrainable(post_processor, input_names=["__all__"], output_names=["postprocessed"]),
    }
    brick_collection = BrickCollection(bricks)

    named_outputs = brick_collection(named_inputs={"raw": images(seed=0)})

    assert post_processor.seen_keys == ["raw", "embedding"]
    assert named_outputs["postprocessed"] is named_outputs["embedding"]
    assert list(named_outputs) == ["raw", "embedding", "postprocessed"]


def test_all_inputs_brick_runs_after_bricks_listed_later() -> None:
    post_processor = MyNewPostProcessor()
    bricks = {
        "post_processor": BrickNotTrainable(post_processor, input_names=["__all__"], output_names=["postprocessed"]),
        "backbone": BrickTrainable(
            TinyModel(n_channels=3, n_features=10), input_names=["raw"], output_names=["embedding"]
        ),
    }

    named_outputs = BrickCollection(bricks)(named_inputs={"raw": images(seed=0)})

    assert post_processor.seen_keys == ["raw", "embedding"]
    assert named_outputs["postprocessed"] is named_outputs["embedding"]
