"""What a timm backbone's ``weights`` argument names, and the verified local file it comes to.

``weights`` is a local file, a pretrained tag of the architecture (``a1_in1k``, ``default``), or a
weights name (``resnet50.a1_in1k``, ``torchbricks-timm:resnet50.a1_in1k``). A tag or name is found in the
``weights`` registry (the pack registers timm's tags, :mod:`torchbricks_timm.weights`) and fetched by
:func:`torchbricks.pretrained.fetch_weights`: the caches, the Hugging Face cache, mirror folders, then
the network unless offline, and checked against its sha256 before it is used. timm publishes no sha256 for
its Hugging Face Hub files; the core looks up the Hub's (the file's LFS oid) at fetch time.

Example:
    >>> names_a_file("weights/resnet18.safetensors"), names_a_file("a1_in1k"), names_a_file("resnet18.a1_in1k")
    (True, False, False)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchbricks.errors import CorruptWeightsError, MissingWeightsError, WeightsMismatchError

if TYPE_CHECKING:
    import torch

    from torchbricks.pretrained import PretrainedWeights

PACK = "torchbricks-timm"
WEIGHTS_FILE_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".tar")
"""Suffixes that make a ``weights`` string a file path rather than a tag or weights name."""


def names_a_file(weights: str | os.PathLike[str]) -> bool:
    """A path (a ``Path``, an existing file, a path with a folder, or a weights file suffix), not a tag or name."""
    if isinstance(weights, os.PathLike):
        return True
    text = str(weights)
    return "/" in text or "\\" in text or text.endswith(WEIGHTS_FILE_SUFFIXES) or Path(text).is_file()


def find_timm_weights(architecture: str, weights: str) -> PretrainedWeights:
    """The registered weights that ``weights`` (a tag or a weights name) names for ``architecture``.

    Raises:
        UnknownWeightsError: no such weights (the message lists the architecture's tags).
        WeightsMismatchError: the weights are for another brick.
    """
    from torchbricks.pretrained import find_weights

    brick = f"{PACK}:{architecture}"
    named_brick = weights.rpartition(".")[0] if "." in weights else brick
    if named_brick not in (architecture, brick):
        raise WeightsMismatchError(_other_brick(weights, named_brick, brick, architecture))
    found = find_weights(f"{brick}.{weights.rpartition('.')[2]}")
    if found.brick != brick or found.kind != "backbones":
        raise WeightsMismatchError(_other_brick(found.name, f"{found.kind} '{found.brick}'", brick, architecture))
    return found


def _other_brick(name: str, other: str, brick: str, architecture: str) -> str:
    return (
        f"Pretrained weights '{name}' are for {other}, not backbone '{brick}'; give it one of its own tags "
        f"(torchbricks weights list '{architecture}.*')"
    )


def fetch_timm_weights(weights: PretrainedWeights, *, progress: bool = True) -> Path:
    """A verified local file of ``weights`` (:func:`torchbricks.pretrained.fetch_weights`).

    Raises :class:`~torchbricks.errors.WeightsUnavailableError` (one line: the places looked in, the command
    that fetches them elsewhere) or :class:`~torchbricks.errors.WeightsChecksumError`.
    """
    from torchbricks.pretrained import fetch_weights

    return fetch_weights(weights, progress=progress)


def read_weights_file(path: Path, architecture: str) -> dict[str, torch.Tensor]:
    """The tensors of a local file: safetensors, or a state dict read with ``weights_only=True`` (no code runs).

    A checkpoint that wraps its state dict (``state_dict``, ``model``, timm's ``state_dict_ema``) is unwrapped.
    """
    import torch

    if not path.is_file():
        raise MissingWeightsError(f"Weights file '{path}' for timm backbone '{architecture}' does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # safetensors and the unpickler raise many types for bad or hostile files
        raise CorruptWeightsError(
            f"Cannot read weights file '{path}' for timm backbone '{architecture}' (truncated, not safetensors "
            f"nor a tensors-only state dict; pickled code is never run): {type(error).__name__}: {error}"
        ) from error
    for key in ("state_dict_ema", "model_ema", "state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
            break
    if not isinstance(state, Mapping) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        raise CorruptWeightsError(f"Weights file '{path}' for timm backbone '{architecture}' holds no state dict")
    return {key.removeprefix("module."): value for key, value in state.items()}
