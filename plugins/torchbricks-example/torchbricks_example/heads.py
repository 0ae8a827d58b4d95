"""Heads: turn features into task outputs.

Registered in ``pyproject.toml``::

    [project.entry-points."torchbricks.heads"]
    example_linear_head = "torchbricks_example.heads:example_linear_head"

Wrap the built module in a brick to name what it reads and writes::

    from torchbricks import BrickTrainable
    from torchbricks.registry import create

    head = BrickTrainable(create("heads", "example_linear_head", in_channels=256, num_classes=3),
                          input_names=["features"], output_names=["logits"])

The head also starts from pretrained weights: ``weights="default"`` (or the tag ``"demo"``, or
``"example_linear_head.demo"``) loads the pack's registered entry (``pretrained_weights.py``) through the
core's public API; a path loads a local file of the head's own tensors (safetensors or a state dict).

Example:
    >>> import torch
    >>> head = example_linear_head(in_channels=8, num_classes=3)
    >>> head(torch.rand(2, 8, 4, 4)).shape
    torch.Size([2, 3])
    >>> example_linear_head(weights="default").linear.weight.shape
    torch.Size([10, 256])
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from torchbricks.errors import MissingWeightsError, WeightsMismatchError


class LinearHead(nn.Module):
    """Global average pooling, dropout and a linear layer; accepts ``[B, C, H, W]`` or ``[B, C]`` features."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_channels, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() == 4:
            features = features.mean(dim=(2, 3))
        return self.linear(self.dropout(features))


# A factory function gives the brick a stable, documented signature, independent of how the module
# class is written. Give every argument a type hint and, where sensible, a default: `torchbricks info`
# shows them, and `create` checks keyword arguments against them.
def example_linear_head(
    in_channels: int = 256, num_classes: int = 10, dropout: float = 0.0, weights: str | Path | None = None
) -> LinearHead:
    """Classify pooled features with a linear layer; returns logits ``[B, num_classes]``.

    Args:
        in_channels: channels of the input features.
        num_classes: number of classes (the size of the logits).
        dropout: dropout probability before the linear layer.
        weights: pretrained weights: a tag of this head (``default``, ``demo``), a registered name
            (``example_linear_head.demo``), or a local weights file. ``None``: random weights.
    """
    head = LinearHead(in_channels=in_channels, num_classes=num_classes, dropout=dropout)
    if weights is not None:
        arguments = {"in_channels": in_channels, "num_classes": num_classes}
        state, origin = _pretrained_state(weights, arguments)
        try:
            head.load_state_dict(state)
        except RuntimeError as error:  # missing, extra or other-shaped tensors
            raise WeightsMismatchError(f"{origin} do not fit example_linear_head{arguments}: {error}") from error
    return head


def _pretrained_state(weights: str | Path, arguments: dict[str, int]) -> tuple[dict[str, torch.Tensor], str]:
    """The tensors ``weights`` names and where they came from; only the core's public API is used.

    ``fetch_weights`` finds a checked file (here: the one shipped in the pack; for entries with URLs or a
    Hub file: the cache, mirrors, then a download unless ``TORCHBRICKS_OFFLINE=1``); ``read_state_dict``
    reads it and applies the entry's key mapping.
    """
    from torchbricks.assembly import names_a_file
    from torchbricks.pretrained import fetch_weights, find_weights, read_state_dict

    if names_a_file(weights):
        from safetensors.torch import load_file

        path = Path(weights)
        if not path.is_file():
            raise MissingWeightsError(f"Weights file '{path}' for example_linear_head does not exist")
        if path.suffix == ".safetensors":
            return load_file(path), f"weights file '{path}'"
        return torch.load(path, map_location="cpu", weights_only=True), f"weights file '{path}'"
    name = str(weights)
    entry = find_weights(name) if "." in name or ":" in name else find_weights(("example_linear_head", name))
    origin = f"pretrained weights '{entry.name}'"
    if entry.brick.split(":")[-1] != "example_linear_head":
        raise WeightsMismatchError(f"{origin} are for '{entry.brick}', not example_linear_head")
    for key, needed in entry.arguments.items():
        if arguments.get(key) != needed:
            raise WeightsMismatchError(f"{origin} need {key}={needed!r}, got {arguments.get(key)!r}")
    return read_state_dict(entry, fetch_weights(entry)), origin
