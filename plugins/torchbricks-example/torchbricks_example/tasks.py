"""Task factories: a whole task (head, loss, metrics, visualizer) as one dict of bricks.

Registered in ``pyproject.toml``::

    [project.entry-points."torchbricks.tasks"]
    example_classification = "torchbricks_example.tasks:example_classification"

A config names the task and the assembler connects it (``torchbricks build``, ``torchbricks train``)::

    tasks:
      stripes: {task: example_classification, num_classes: 2}

The task-factory contract (the guide's "Factories" section):

- Return ``dict[str, Brick]`` whose own data names are relative (``./logits``): the assembler nests the
  dict under the task's name, so the same factory serves any number of tasks (``stripes/logits``).
- Accept the keyword arguments the assembler supplies: ``features`` (the data name of the feature map
  to read), ``in_channels`` (its channels) and ``image`` (the raw images, for the visualizer); also
  ``stride`` and ``detail`` when a dense task needs them. A config must not give these.
- Declare which map to read with ``@task_kind``: ``"global"`` (the backbone's coarsest map) or
  ``"dense"`` (the finest map, at most ``max_stride``).
- Write the task's loss as ``./loss`` (one scalar): the model's loss weighting sums them.
- Partial labels: accept ``labelled`` (the name of a boolean ``[B]`` input, filled by the train run when
  only some datasets label this task) and leave the other samples out of the loss and the metrics. A batch
  without any labelled sample gives a loss of **zero that is still in the graph** (it backpropagates
  zero gradients, never NaN, never a missing loss).

Example:
    >>> import torch
    >>> from torchbricks import BrickCollection
    >>> task = example_classification(num_classes=2, features="features", in_channels=8, labelled="known")
    >>> sorted(task)
    ['head', 'loss', 'mask', 'metrics', 'visualizer']
    >>> model = BrickCollection({"stripes": task})
    >>> batch = {"features": torch.rand(2, 8, 4, 4), "targets": torch.tensor([1, 0])}
    >>> loss = model({**batch, "known": torch.tensor([False, False])}, groups="train")["stripes/loss"]
    >>> float(loss.detach()), loss.requires_grad
    (0.0, True)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from torchbricks import (
    LOSS,
    METRIC,
    BrickInterface,
    BrickLoss,
    BrickMetrics,
    BrickPerImageVisualization,
    BrickTrainable,
    task_kind,
)
from torchbricks_example.heads import LinearHead
from torchbricks_example.losses import FocalLoss
from torchbricks_example.visualizers import LabelOverlay

IGNORE = -1
"""The target value of an unlabelled sample (the loss and the metrics skip it)."""


class Classifier(nn.Module):
    """The pack's linear head, returning the logits and the predicted class of each sample."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.head = LinearHead(in_channels=in_channels, num_classes=num_classes, dropout=dropout)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.head(features)
        return logits, logits.argmax(dim=1)


class IgnoreUnlabelled(nn.Module):
    """Targets with ``-1`` where a sample is not labelled: the loss and metrics then skip it.

    Same shapes in and out (no boolean indexing), so it also compiles and exports.
    """

    def forward(self, targets: torch.Tensor, labelled: torch.Tensor) -> torch.Tensor:
        return torch.where(labelled.to(torch.bool), targets, torch.full_like(targets, IGNORE))


class LabelledFocalLoss(nn.Module):
    """The pack's focal loss averaged over the samples with a target ``>= 0``.

    With no such sample the loss is ``0 * (the per-sample losses)``: zero, and still in the graph.
    """

    def __init__(self, gamma: float = 2.0) -> None:
        super().__init__()
        self.focal = FocalLoss(gamma=gamma, reduction="none")

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        weights = (targets >= 0).to(logits.dtype)
        losses = self.focal(logits, targets.clamp(min=0))  # ignored samples get a valid class, then weight 0
        return (losses * weights).sum() / weights.sum().clamp(min=1.0)


@task_kind("global")
def example_classification(
    num_classes: int,
    *,
    features: str = "features",
    in_channels: int,
    targets: str = "targets",
    labelled: str | None = None,
    image: str = "images",
    class_names: Sequence[str] | None = None,
    gamma: float = 2.0,
    dropout: float = 0.0,
) -> dict[str, BrickInterface]:
    """Single-label classification: the pack's linear head and focal loss, accuracy, class names drawn.

    Args:
        num_classes: number of classes.
        features: data name of the feature map to classify (supplied by the assembler).
        in_channels: channels of that map (supplied by the assembler).
        targets: data name of the class indices ``[B]`` (``-1``: unlabelled).
        labelled: data name of a boolean ``[B]`` mask of the samples labelled for this task (partial labels).
        image: data name of the raw images, drawn on by the visualizer (supplied by the assembler).
        class_names: names drawn on the images, indexed by class.
        gamma: focal loss focusing parameter (0 gives cross-entropy).
        dropout: dropout probability before the linear layer.
    """
    from torchmetrics.classification import MulticlassAccuracy

    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(f"class_names has {len(class_names)} names for num_classes={num_classes}: {list(class_names)}")
    bricks: dict[str, BrickInterface] = {
        "head": BrickTrainable(
            Classifier(in_channels, num_classes, dropout), [features], ["./logits", "./class_prediction"]
        )
    }
    if labelled is not None:  # only the loss and the metrics need the masked targets
        bricks["mask"] = BrickTrainable(IgnoreUnlabelled(), [targets, labelled], ["./targets"], groups={LOSS, METRIC})
        targets = "./targets"
    bricks["loss"] = BrickLoss(LabelledFocalLoss(gamma=gamma), ["./logits", targets], ["./loss"])
    accuracy = MulticlassAccuracy(num_classes=num_classes, ignore_index=IGNORE, average="micro")
    bricks["metrics"] = BrickMetrics({"accuracy": accuracy}, ["./class_prediction", targets])
    bricks["visualizer"] = BrickPerImageVisualization(
        LabelOverlay(class_names=class_names),
        input_names=[image, "./class_prediction"],
        output_names=["./visualization"],
    )
    return bricks
