"""Pretrained weights as the standard pack's tests see them: torchvision-layout files registered as test entries.

Nothing touches the internet: a seeded torchvision model's state dict is saved under a torch.hub-style file
name (``resnet18-<sha256 prefix>.pth``) and registered, like torchvision's own entries, with the sha256
prefix and torchvision's key mapping — served from a mirror folder or a local HTTP server.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import torchvision

from tests.helpers.tensors import seeded
from torchbricks import registry
from torchbricks.pretrained import Preprocessing, PretrainedWeights

TEST_TAG = "test_seeded"
TEST_PREPROCESSING = Preprocessing(mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3), input_size=(64, 64))
"""Not ImageNet's values, so a test can tell that the model's preprocessor follows the weights."""
ENVIRONMENT = ("TORCHBRICKS_WEIGHTS_MIRROR", "TORCHBRICKS_OFFLINE", "HF_HUB_OFFLINE", "http_proxy", "HTTP_PROXY")


def isolate_weights(monkeypatch: pytest.MonkeyPatch, folder: Path) -> Path:
    """A private weights cache and torch home under ``folder``, no mirror, online, no proxy; returns the cache."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TORCHBRICKS_CACHE_DIR", str(folder / "torchbricks-cache"))
    monkeypatch.setenv("TORCH_HOME", str(folder / "torch-home"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("TORCHBRICKS_DOWNLOAD_TIMEOUT", "5")
    return folder / "torchbricks-cache"


def torchvision_model(architecture: str = "resnet18", seed: int = 0, size: int = 32) -> torch.nn.Module:
    """A seeded torchvision model in eval mode whose batch-norm statistics are not the defaults."""
    torch.manual_seed(seed)
    model = getattr(torchvision.models, architecture)(weights=None)
    with torch.no_grad():
        model.train()(seeded(2, 3, size, size, seed=seed + 5))
    return model.eval()


def torchvision_stage_outputs(model: torch.nn.Module, architecture: str, images: torch.Tensor) -> list[torch.Tensor]:
    """torchvision's own intermediate maps at strides 4, 8, 16, 32 (after layer1-4, or where features halve)."""
    with torch.no_grad():
        if architecture.startswith("resnet"):
            hidden = model.maxpool(model.relu(model.bn1(model.conv1(images))))
            outputs = []
            for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
                hidden = layer(hidden)
                outputs.append(hidden)
            return outputs
        by_stride: dict[int, torch.Tensor] = {}
        hidden = images
        for block in model.features:
            hidden = block(hidden)
            by_stride[images.shape[-1] // hidden.shape[-1]] = hidden
        return [by_stride[stride] for stride in (4, 8, 16, 32)]


def torch_hub_file(model: torch.nn.Module, architecture: str) -> tuple[str, bytes]:
    """``(file name, bytes)`` of the model's state dict, named as torch.hub names files: ``<arch>-<sha prefix>.pth``."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    payload = buffer.getvalue()
    return f"{architecture}-{hashlib.sha256(payload).hexdigest()[:8]}.pth", payload


@contextmanager
def registered_torchvision_file(
    architecture: str, file_name: str, url: str, tag: str = TEST_TAG
) -> Iterator[PretrainedWeights]:
    """A test entry ``<architecture>.<tag>`` for a torchvision-layout file, registered while the block runs."""
    from bag_of_bricks.pretrained_weights import TORCHVISION_KEY_MAPPINGS

    weights = PretrainedWeights(
        brick=architecture,
        tag=tag,
        sha256=file_name.rsplit("-", 1)[1].split(".")[0],
        sha256_is_prefix=True,
        urls=(url,),
        format="state_dict",
        key_mapping=TORCHVISION_KEY_MAPPINGS[architecture],
        preprocessing=TEST_PREPROCESSING,
        class_names=tuple(f"class {index}" for index in range(1000)),
        summary="a seeded torchvision-layout file (tests)",
    )
    registry.register("weights", weights.name, lambda: weights, summary=weights.summary, replace=True)
    try:
        yield weights
    finally:
        registry.unregister("weights", weights.name)
