"""Fixtures of the pretrained-weights tests: a private cache, torch home and Hugging Face home per test, a
local HTTP server, and generated weights files registered as entries of the running program."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import save

from tests.pretrained.server import WeightsServer
from torchbricks import registry
from torchbricks.pretrained import PretrainedWeights

SETTINGS = (
    "TORCHBRICKS_WEIGHTS_MIRROR",
    "TORCHBRICKS_OFFLINE",
    "HF_HUB_OFFLINE",
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache, torch home and Hugging Face home; never the user's; no proxy."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TORCHBRICKS_CACHE_DIR", str(tmp_path / "torchbricks-cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("TORCHBRICKS_DOWNLOAD_TIMEOUT", "5")
    return tmp_path


@pytest.fixture
def server() -> Iterator[WeightsServer]:
    with WeightsServer() as running:
        yield running


def safetensors_bytes(seed: int = 0) -> bytes:
    """A small safetensors file: a linear layer's tensors (and a classifier a key mapping may drop)."""
    generator = torch.Generator().manual_seed(seed)
    tensors = {
        "linear.weight": torch.randn(4, 3, generator=generator),
        "linear.bias": torch.randn(4, generator=generator),
        "fc.weight": torch.randn(2, 4, generator=generator),
    }
    return save(tensors)


def state_dict_bytes(seed: int = 0) -> bytes:
    """The same tensors as a ``torch.save``'d state dict."""
    generator = torch.Generator().manual_seed(seed)
    buffer = io.BytesIO()
    torch.save({"linear.weight": torch.randn(4, 3, generator=generator)}, buffer)
    return buffer.getvalue()


def sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


Register = Callable[..., PretrainedWeights]


@pytest.fixture
def register() -> Iterator[Register]:
    """``register(**fields)``: a :class:`PretrainedWeights` registered (as the running program's) for the test."""
    names: list[str] = []

    def add(**fields: object) -> PretrainedWeights:
        weights = PretrainedWeights(**fields)  # type: ignore[arg-type]
        registry.register("weights", weights.name, lambda: weights, summary=weights.summary or None, replace=True)
        names.append(weights.name)
        return weights

    yield add
    for name in names:
        registry.unregister("weights", name)


@pytest.fixture
def served(server: WeightsServer, register: Register) -> Callable[..., PretrainedWeights]:
    """``served(name, behaviour="ok", **fields)``: a generated file on the server and its entry ``tiny.<name>``."""

    def add(tag: str, behaviour: str = "ok", *, payload: bytes | None = None, **fields: object) -> PretrainedWeights:
        payload = safetensors_bytes() if payload is None else payload
        url = server.serve(f"tiny-{tag}.safetensors", payload, behaviour)  # type: ignore[arg-type]
        fields = {"sha256": sha256(payload), "size": len(payload), "urls": (url,), **fields}
        return register(brick="tiny", tag=tag, **fields)

    return add
