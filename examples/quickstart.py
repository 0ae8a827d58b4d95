"""Quickstart: build a two-task model from bricks, train it for a few steps, save and reload it.

Run with ``.venv/bin/python examples/quickstart.py`` (see README.md). Everything is generated here:
random images whose brightness decides the class, so the model can learn it in a few steps.
"""

from __future__ import annotations

import tempfile

import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from bag_of_bricks.heads import ImageClassifier
from bag_of_bricks.preprocessors import Preprocessor
from torchbricks import BrickCollection, BrickLoss, BrickMetricSingle, BrickNotTrainable, BrickTrainable, Stage


def classification_task(num_classes: int, features: str, targets: str) -> dict[str, nn.Module]:
    """A task as a dict of bricks with relative names: head, loss and accuracy."""
    return {
        "classify": BrickTrainable(
            ImageClassifier(num_classes=num_classes, n_features=16),
            input_names=[features],
            output_names=["./logits", "./probabilities", "./class_prediction"],
        ),
        "loss": BrickLoss(nn.CrossEntropyLoss(), input_names=["./logits", targets], output_names=["./loss"]),
        "accuracy": BrickMetricSingle(
            MulticlassAccuracy(num_classes=num_classes), input_names=["./class_prediction", targets]
        ),
    }


def build_model() -> BrickCollection:
    """Preprocessor and backbone shared by two classification tasks."""
    backbone = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
    return BrickCollection(
        {
            "preprocessor": BrickNotTrainable(Preprocessor(), input_names=["images"], output_names=["normalized"]),
            "backbone": BrickTrainable(backbone, input_names=["normalized"], output_names=["features"]),
            "brightness": classification_task(2, features="features", targets="is_bright"),
            "colour": classification_task(3, features="features", targets="dominant_channel"),
        }
    )


def make_batch(generator: torch.Generator, batch_size: int = 32) -> dict[str, torch.Tensor]:
    """Random images with two labels: bright or dark, and which colour channel dominates."""
    images = torch.rand(batch_size, 3, 16, 16, generator=generator) * 0.5
    is_bright = torch.randint(0, 2, (batch_size,), generator=generator)
    dominant_channel = torch.randint(0, 3, (batch_size,), generator=generator)
    images += is_bright.view(-1, 1, 1, 1) * 0.4
    images[torch.arange(batch_size), dominant_channel] += 0.1
    return {
        "images": (images.clamp(0, 1) * 255).to(torch.uint8),
        "is_bright": is_bright,
        "dominant_channel": dominant_channel,
    }


def main() -> None:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = build_model()
    print(model)
    print("Execution order:", model.execution_order())
    print(
        "Needs for training:",
        model.required_inputs(Stage.TRAIN),
        "| for inference:",
        model.required_inputs("inference"),
    )

    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(60):
        named_outputs = model(make_batch(generator), groups=Stage.TRAIN)
        losses = model.extract_losses(named_outputs)
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        if step % 20 == 0:
            print(f"step {step:3d} loss {total.item():.3f}")
    model.reset_metrics()

    model.eval()
    with torch.no_grad():
        for _ in range(5):
            model(make_batch(generator), groups=Stage.VALIDATION)
    metrics = {name: round(float(value), 3) for name, value in model.summarize(reset=True).items()}
    print("Validation metrics:", metrics)

    with tempfile.TemporaryDirectory() as folder:
        written = model.save_bricks(folder, exist_ok=True)
        print("Saved:", sorted(str(path.relative_to(folder)) for path in written))
        reloaded = build_model()
        reloaded.load_bricks(folder, strict=True)
        reloaded.eval()
        batch = make_batch(generator)
        with torch.no_grad():
            same = torch.equal(
                model(batch, groups="inference")["colour/logits"], reloaded(batch, groups="inference")["colour/logits"]
            )
        print("Reloaded model gives identical outputs:", same)


if __name__ == "__main__":
    main()
