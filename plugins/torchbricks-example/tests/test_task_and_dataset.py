"""The pack's task and dataset adapter: their contracts, and a real (tiny) train run of one on the other.

Run after installing the pack with its test extra (``pip install -e ".[test]"``: the train run needs
torchbricks' ``train`` extra)::

    python -m pytest
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from torchbricks import load_model, train
from torchbricks.assembly import assemble_model
from torchbricks.features import FeatureSpec
from torchbricks.registry import create

PACK = "torchbricks-example"


class TinyBackbone(torch.nn.Module):
    """One stride-4 feature map of 8 channels and the ``feature_spec`` every backbone declares."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, kernel_size=4, stride=4)
        self.feature_spec = FeatureSpec(names=("c2",), channels=(8,), strides=(4,))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.stem(images)


def test_the_dataset_gives_named_uint8_images_targets_and_class_names() -> None:
    data = create("datasets", f"{PACK}:example_stripes", count=6, image_size=12, targets="stripes", image="pixels")
    assert len(data) == 6
    assert data.names == ("pixels", "stripes")
    assert data.class_names == {"stripes": ["horizontal", "vertical"]}
    sample = data[3]
    assert set(sample) == set(data.names)
    assert sample["pixels"].dtype == torch.uint8
    assert sample["pixels"].shape == (3, 12, 12)
    assert sample["stripes"].dtype == torch.int64
    assert sample["stripes"].shape == ()
    assert [int(data[index]["stripes"]) for index in range(6)] == [0, 1, 0, 1, 0, 1]
    # horizontal stripes are constant along each row, vertical ones along each column
    assert bool((data[0]["pixels"] == data[0]["pixels"][:, :, :1]).all())
    assert bool((data[1]["pixels"] == data[1]["pixels"][:, :1, :]).all())
    # reproducible per seed (DataLoader workers agree), other images for another seed
    assert torch.equal(
        data[3]["pixels"], create("datasets", f"{PACK}:example_stripes", count=6, image_size=12)[3]["images"]
    )
    other = create("datasets", f"{PACK}:example_stripes", count=6, image_size=12, seed=1)
    assert not all(torch.equal(data[index]["pixels"], other[index]["images"]) for index in range(6))


def test_the_task_is_assembled_from_a_config_entry() -> None:
    model = assemble_model(
        backbone=TinyBackbone(),
        tasks={"stripes": {"task": f"{PACK}:example_classification", "num_classes": 2}},
        preprocessor=None,
    )
    assert model["stripes"]["head"].input_names == ["backbone/c2"]  # global features, supplied by the assembler
    outputs = model({"images": torch.rand(2, 3, 16, 16), "targets": torch.tensor([0, 1])}, groups="train")
    assert outputs["stripes/logits"].shape == (2, 2)
    assert outputs["stripes/class_prediction"].shape == (2,)
    assert outputs["loss"].ndim == 0
    assert float(outputs["loss"].detach()) > 0


def test_a_batch_without_labelled_samples_gives_a_zero_loss_still_in_the_graph() -> None:
    model = assemble_model(
        backbone=TinyBackbone(),
        tasks={"stripes": {"task": f"{PACK}:example_classification", "num_classes": 2, "labelled": "known"}},
        preprocessor=None,
        loss_weighting=None,
    )
    weight = model["stripes"]["head"].model.head.linear.weight
    batch = {"images": torch.rand(3, 3, 16, 16), "targets": torch.tensor([1, 0, 1])}

    unlabelled = model({**batch, "known": torch.tensor([False, False, False])}, groups="train")["stripes/loss"]
    assert float(unlabelled.detach()) == 0.0
    assert unlabelled.requires_grad  # in the graph: backward runs and leaves zero gradients, never NaN
    unlabelled.backward()
    assert weight.grad is not None
    assert bool((weight.grad == 0).all())

    weight.grad = None
    partly = model({**batch, "known": torch.tensor([True, False, False])}, groups="train")["stripes/loss"]
    only_first = model({**batch, "known": torch.tensor([True, False, False]), "targets": torch.tensor([1, 1, 0])})
    assert float(partly.detach()) > 0
    torch.testing.assert_close(partly, only_first["stripes/loss"])  # unlabelled samples' targets do not count
    partly.backward()
    assert bool(weight.grad.abs().sum() > 0)


def test_the_metrics_count_only_labelled_samples() -> None:
    model = assemble_model(
        backbone=TinyBackbone(),
        tasks={"stripes": {"task": f"{PACK}:example_classification", "num_classes": 2, "labelled": "known"}},
        preprocessor=None,
    )
    images = torch.rand(4, 3, 16, 16)
    predicted = model({"images": images}, groups="inference")["stripes/class_prediction"]
    targets = torch.stack([predicted[0], 1 - predicted[1], 1 - predicted[2], 1 - predicted[3]])
    known = torch.tensor([True, False, False, False])  # only the correctly predicted sample is labelled
    model({"images": images, "targets": targets, "known": known}, groups="validation")
    assert model.summarize(reset=True)["stripes/accuracy"] == 1.0


def test_training_the_task_on_the_dataset(tmp_path: Path) -> None:
    """A real train run: the pack's task on the pack's dataset, mixed with a dataset not labelled for it."""
    config = {
        "model": {
            "backbone": {"name": "resnet18", "levels": [2]},
            "tasks": {"stripes": {"task": f"{PACK}:example_classification", "num_classes": 2, "targets": "targets"}},
            "input_shape": [3, 16, 16],
        },
        "data": {
            "train": [
                {"name": f"{PACK}:example_stripes", "count": 4, "image_size": 16},
                # labelled for another target only: the run gives the task a `labelled` mask
                {"name": f"{PACK}:example_stripes", "count": 4, "image_size": 16, "seed": 2, "targets": "other"},
            ],
            "validation": [
                {"name": f"{PACK}:example_stripes", "count": 4, "image_size": 16, "seed": 1},
                {"name": f"{PACK}:example_stripes", "count": 2, "image_size": 16, "seed": 3, "targets": "other"},
            ],
            "batch_size": 4,
        },
        "trainer": {"max_steps": 3, "accelerator": "cpu", "enable_progress_bar": False},
        "seed": 0,
    }
    metrics = train(config, output=tmp_path / "run", progress=False)

    assert metrics["_run"]["steps"] == 3
    assert 0.0 <= metrics["stripes"]["accuracy"] <= 1.0
    saved = json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))
    assert saved["model"]["tasks"]["stripes"]["labelled"] == "targets_labelled"
    model = load_model(tmp_path / "run" / "model")
    images = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    assert model({"images": images}, groups="inference")["stripes/class_prediction"].shape == (2,)
    assert list((tmp_path / "run" / "visualizations").glob("*.png"))  # drawn by the pack's visualizer
