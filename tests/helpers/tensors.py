"""Seeded random tensors and exact comparisons of named tensors."""

from __future__ import annotations

from collections.abc import Mapping

import torch


def seeded(*shape: int, seed: int = 0) -> torch.Tensor:
    """``torch.rand(*shape)`` from its own generator seeded with ``seed`` (the global RNG is left alone)."""
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def assert_tensors_equal(actual: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> None:
    """The same names, and every tensor equal to the bit (``torch.equal``)."""
    assert set(actual) == set(expected)
    for name, value in expected.items():
        assert torch.equal(actual[name], value), f"{name}: {actual[name]} != {value}"
