"""Tests a pack author keeps: the pack is installed, every brick lists, builds and runs.

Run after installing the pack (``pip install -e .``)::

    python -m pytest
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchbricks import BrickCollection, BrickLoss, BrickTrainable
from torchbricks.features import FeatureSpec
from torchbricks.registry import create, get_entry, list_bricks

PACK = "torchbricks-example"
EXPECTED = {
    ("necks", "example_channel_mixer"),
    ("heads", "example_linear_head"),
    ("losses", "example_focal_loss"),
    ("visualizers", "example_label_overlay"),
    ("tasks", "example_classification"),
    ("datasets", "example_stripes"),
    ("weights", "example_linear_head.demo"),
}


def test_every_brick_is_registered_with_a_summary() -> None:
    entries = list_bricks(pack=PACK)
    assert {(entry.kind, entry.name) for entry in entries} == EXPECTED
    for entry in entries:
        assert entry.summary, f"{entry.qualified_name} has no docstring summary"
        assert entry.signature, f"{entry.qualified_name} has no signature"


def test_the_neck_declares_its_interface() -> None:
    interface = get_entry("necks", f"{PACK}:example_channel_mixer").interface
    assert interface is not None
    assert interface.channels == (128, 128, 128, 128)
    assert interface.strides == (4, 8, 16, 32)


def test_bricks_build_and_run_in_a_collection() -> None:
    collection = BrickCollection(
        {
            "neck": BrickTrainable(
                create(
                    "necks", f"{PACK}:example_channel_mixer", in_channels=(16, 32), in_strides=(8, 16), out_channels=8
                ),
                input_names=["c3", "c4"],
                output_names=["m3", "m4"],
            ),
            "head": BrickTrainable(
                create("heads", f"{PACK}:example_linear_head", in_channels=8, num_classes=3),
                input_names=["m4"],
                output_names=["logits"],
            ),
            "loss": BrickLoss(
                create("losses", f"{PACK}:example_focal_loss", gamma=2.0),
                input_names=["logits", "targets"],
                output_names=["loss_focal"],
            ),
        }
    )
    named_inputs = {"c3": torch.rand(2, 16, 8, 8), "c4": torch.rand(2, 32, 4, 4), "targets": torch.tensor([0, 2])}
    outputs = collection(named_inputs)
    assert outputs["m3"].shape == (2, 8, 8, 8)
    assert outputs["logits"].shape == (2, 3)
    assert outputs["loss_focal"].ndim == 0


class TinyBackbone(torch.nn.Module):
    """Two feature maps (strides 4 and 8) and the ``feature_spec`` every backbone declares."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, kernel_size=4, stride=4)
        self.down = torch.nn.Conv2d(8, 16, kernel_size=2, stride=2)
        self.feature_spec = FeatureSpec(names=("c2", "c3"), channels=(8, 16), strides=(4, 8))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c2 = self.stem(images)
        return c2, self.down(c2)


def test_the_neck_plugs_into_an_assembled_model() -> None:
    """The neck follows the standard neck convention, so the assembler can put it behind any backbone."""
    from torchbricks.assembly import assemble_model

    head = create("heads", f"{PACK}:example_linear_head", in_channels=128, num_classes=3)
    model = assemble_model(
        backbone=TinyBackbone(),
        neck=f"{PACK}:example_channel_mixer",  # gets in_channels=(8, 16), in_strides=(4, 8) from the backbone
        preprocessor=None,
        tasks={"kind": {"head": BrickTrainable(head, input_names=["neck/m3"], output_names=["./logits"])}},
        loss_weighting=None,
    )
    outputs = model({"images": torch.rand(2, 3, 32, 32)})
    assert outputs["neck/m2"].shape == (2, 128, 8, 8)
    assert outputs["kind/logits"].shape == (2, 3)


def test_the_visualizer_draws_a_pillow_image() -> None:
    overlay = create("visualizers", f"{PACK}:example_label_overlay", class_names=["cat", "dog"])
    picture = overlay(np.zeros((16, 24, 3), dtype=np.float32), np.array([1]))
    assert picture.size == (24, 16)


def test_a_misspelled_argument_is_rejected_before_building() -> None:
    with pytest.raises(TypeError, match="num_classes"):
        create("heads", f"{PACK}:example_linear_head", num_clases=3)
