"""The timm pack's pretrained tags: the shipped table against timm itself, listing, and loading them.

Uses the throwaway virtual environment of ``test_timm_pack.py`` (timm installed, the pack editable).
Nothing is downloaded: a Hub entry is served from a Hugging Face cache laid out here as huggingface_hub
lays it out (``models--timm--<name>/blobs/<sha256>``, ``snapshots/<commit>/model.safetensors``,
``refs/main``) with ``HF_HUB_OFFLINE=1``, holding a randomly initialised timm model's weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
import torch

from tests.plugins.test_timm_pack import (
    _LIST_AND_REPORT_MODULES,
    PACK,
    PACK_DIR,
    TimmEnvironment,
)
from tests.plugins.test_timm_pack import timm_environment as timm_environment
from tests.plugins.test_timm_pack import timm_registry as timm_registry
from torchbricks import registry
from torchbricks.errors import (
    BrickArgumentError,
    InvalidWeightsEntryError,
    MissingWeightsError,
    UnknownWeightsError,
    WeightsMismatchError,
    WeightsUnavailableError,
)

TABLE = PACK_DIR / "torchbricks_timm" / "pretrained_weights.json"
SCRIPT = PACK_DIR / "scripts" / "update_pretrained_weights.py"
ARCHITECTURE = "resnet18"
TAG = "a1_in1k"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _table() -> dict:
    return json.loads(TABLE.read_text(encoding="utf-8"))


def _table_records() -> dict[str, dict]:
    return {
        f"{architecture}.{record['tag']}": record
        for architecture, records in _table()["architectures"].items()
        for record in records
    }


def _table_names() -> set[str]:
    return {
        f"{architecture}.{record['tag']}"
        for architecture, records in _table()["architectures"].items()
        for record in records
    }


def test_table_covers_every_pretrained_tag_of_the_listed_backbones(timm_registry: None) -> None:
    """Against ``timm.list_pretrained()``: every tag of every backbone the pack lists, and nothing else."""
    import timm
    from timm.models import get_pretrained_cfg

    backbones = {entry.name for entry in registry.list_bricks("backbones", pack=PACK)}
    expected = {name for name in timm.list_pretrained() if name.split(".", 1)[0] in backbones}
    assert len(expected) > 1000
    assert _table_names() == expected
    registered = {entry.name for entry in registry.list_bricks("weights", pack=PACK)}
    assert registered == expected
    table = _table()
    assert table["timm_version"] == timm.__version__
    blocks = table["preprocessing"]
    for architecture, records in table["architectures"].items():
        assert records[0]["tag"] == get_pretrained_cfg(architecture).tag, architecture  # the default comes first
        for record in records:
            cfg = get_pretrained_cfg(f"{architecture}.{record['tag']}")
            if cfg.hf_hub_id:
                assert record.get("hub", f"timm/{architecture}.{record['tag']}") == cfg.hf_hub_id
                assert "url" not in record
            else:
                assert record["url"] == cfg.url
            block = blocks[record["preprocessing"]]
            assert (tuple(block["mean"]), tuple(block["std"])) == (tuple(cfg.mean), tuple(cfg.std))
            assert tuple(block["input_size"]) == tuple(cfg.input_size[1:])
            assert (block["interpolation"], block["crop_pct"]) == (cfg.interpolation, cfg.crop_pct)
            assert record["num_classes"] == cfg.num_classes


@pytest.mark.slow
def test_shipped_table_is_what_the_script_writes(timm_environment: TimmEnvironment, tmp_path: Path) -> None:
    output = tmp_path / "table.json"
    result = subprocess.run(
        [str(timm_environment.python), str(SCRIPT), "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert output.read_text(encoding="utf-8") == TABLE.read_text(encoding="utf-8")


def test_entries_carry_timms_metadata(timm_registry: None) -> None:
    from torchbricks.pretrained import find_weights

    weights = find_weights(f"{PACK}:gcvit_xxtiny.default")  # a tag timm loads from a URL named after its hash
    assert weights.name == "gcvit_xxtiny.in1k"
    assert weights.default
    assert weights.brick == f"{PACK}:gcvit_xxtiny"
    assert weights.kind == "backbones"
    assert (weights.sha256, weights.sha256_is_prefix, weights.format) == ("d1d86009", True, "state_dict")
    assert weights.urls[0].endswith("gcvit_xxtiny_224_nvidia-d1d86009.pth")
    assert weights.hub is None
    assert weights.preprocessing.mean == (0.485, 0.456, 0.406)
    assert (weights.preprocessing.input_size, weights.preprocessing.resize_size) == ((224, 224), 256)
    assert weights.class_names is not None
    assert len(weights.class_names) == 1000
    assert weights.license == "Apache-2.0"
    assert weights.dataset == "imagenet-1k"


def test_uncached_hub_tags_list_and_describe_and_say_where_they_looked_offline(
    timm_registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """timm publishes no sha256 for Hub files: the entry records none (the Hub's is looked up at fetch time), so
    every Hub tag lists and describes without the network or the Hugging Face cache."""
    from torchbricks.cli import main
    from torchbricks.pretrained import find_weights, list_weights

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a socket was connected")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("TORCHBRICKS_OFFLINE", "1")
    monkeypatch.setenv("TORCHBRICKS_WEIGHTS_MIRROR", str(tmp_path / "empty-mirror"))
    listed = {weights.name: weights for weights in list_weights() if weights.brick.startswith(f"{PACK}:")}
    hub_tags = {name for name, record in _table_records().items() if "url" not in record}
    assert hub_tags <= set(listed)
    assert all(listed[name].sha256_from_hub for name in hub_tags)
    weights = listed[f"{ARCHITECTURE}.{TAG}"]
    assert (weights.hub.repo_id, weights.hub.filename) == (f"timm/{ARCHITECTURE}.{TAG}", "model.safetensors")

    assert main(["weights", "info", f"{PACK}:{ARCHITECTURE}.{TAG}"]) == 0
    assert "published by the Hugging Face Hub (LFS oid), looked up at fetch time" in capsys.readouterr().out
    assert main(["weights", "fetch", "--quiet", f"{ARCHITECTURE}.{TAG}"]) == 1
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert f"Pretrained weights '{ARCHITECTURE}.{TAG}' (model.safetensors) are not available" in line
    assert (
        f"TORCHBRICKS_OFFLINE=1 is set, so the Hugging Face Hub was not asked for the sha256 of timm/{ARCHITECTURE}"
        in (line)
    )
    assert f"the mirror folder file {tmp_path / 'empty-mirror' / f'{ARCHITECTURE}.{TAG}' / 'model.safetensors'}" in line
    assert f"`torchbricks weights mirror DIR {ARCHITECTURE}.{TAG}`" in line

    # The few URL tags timm publishes no hash for are refused, saying why (never used unchecked).
    unhashed = sorted(
        name for name, record in _table_records().items() if "url" in record and "sha256_prefix" not in record
    )
    assert unhashed
    assert not set(unhashed) & set(listed)
    with pytest.raises(InvalidWeightsEntryError, match=rf"'{unhashed[0]}'.*no hash is published"):
        find_weights(unhashed[0])


# -- loading ---------------------------------------------------------------------------------------------


def _random_timm_state(architecture: str = ARCHITECTURE, seed: int = 0) -> dict[str, torch.Tensor]:
    import timm

    torch.manual_seed(seed)
    model = timm.create_model(architecture, pretrained=False)
    return {key: value.contiguous() for key, value in model.state_dict().items()}


def _features(module: torch.nn.Module) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(1)
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        output = module.eval()(images)
    return tuple(output) if isinstance(output, (list, tuple)) else (output,)


def _timm_reference(architecture: str, file: Path) -> torch.nn.Module:
    import timm

    return timm.create_model(
        architecture, features_only=True, pretrained=True, pretrained_cfg_overlay={"file": str(file)}
    )


def test_local_file_in_timms_layout_loads_as_timm_loads_it(timm_registry: None, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    file = tmp_path / "resnet18-timm.safetensors"
    save_file(_random_timm_state(), str(file))
    backbone = registry.create("backbones", f"{PACK}:{ARCHITECTURE}", weights=str(file))
    reference = _features(_timm_reference(ARCHITECTURE, file))
    assert all(torch.equal(got, expected) for got, expected in zip(_features(backbone), reference, strict=True))
    assert not torch.equal(_features(registry.create("backbones", f"{PACK}:{ARCHITECTURE}"))[0], reference[0])

    # The backbone's own layout (what backbone.state_dict() saves) loads back, also from a .pth file.
    own = tmp_path / "backbone.pth"
    torch.save(backbone.state_dict(), own)
    reloaded = registry.create("backbones", f"{PACK}:{ARCHITECTURE}", weights=own)
    assert all(torch.equal(got, expected) for got, expected in zip(_features(reloaded), reference, strict=True))


def test_bad_weights_arguments_name_the_culprit(timm_registry: None, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    other = tmp_path / "resnet34.safetensors"
    save_file(_random_timm_state("resnet34"), str(other))
    with pytest.raises(WeightsMismatchError, match=r"resnet34\.safetensors.*do not fit timm backbone 'resnet18'"):
        registry.create("backbones", f"{PACK}:{ARCHITECTURE}", weights=str(other))
    with pytest.raises(MissingWeightsError, match=r"missing\.safetensors.*resnet18"):
        registry.create("backbones", f"{PACK}:{ARCHITECTURE}", weights=str(tmp_path / "missing.safetensors"))
    with pytest.raises(UnknownWeightsError, match=r"a1_in1kk.*Did you mean.*a1_in1k"):
        registry.create("backbones", f"{PACK}:{ARCHITECTURE}", weights="a1_in1kk")
    for name in ("resnet34.a1_in1k", "gcvit_xxtiny.in1k", "torchbricks:resnet18.imagenet1k_v1"):
        with pytest.raises(WeightsMismatchError, match=rf"'{name}' are for .*not backbone '{PACK}:resnet18'"):
            registry.create("backbones", f"{PACK}:{ARCHITECTURE}", weights=name)
    with pytest.raises(BrickArgumentError, match=r"pretrained=True.*not both"):
        registry.create("backbones", f"{PACK}:{ARCHITECTURE}", weights="a1_in1k", pretrained=True)


def test_url_entry_offline_says_where_it_looked(
    timm_registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCHBRICKS_OFFLINE", "1")
    monkeypatch.setenv("TORCHBRICKS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsUnavailableError, match=r"gcvit_xxtiny\.in1k.*TORCHBRICKS_OFFLINE"):
        registry.create("backbones", f"{PACK}:gcvit_xxtiny", weights="default")


_LOAD_FROM_HUB_CACHE = """
import json, socket, sys
def refuse(*args, **kwargs):
    raise OSError("a socket was opened")
socket.socket.connect = refuse  # offline means offline
import timm, torch
from torchbricks import registry
reference = timm.create_model(
    sys.argv[2], features_only=True, pretrained=True, pretrained_cfg_overlay={"file": sys.argv[3]}
).eval()
images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
report = {}
for weights in sys.argv[4:]:
    backbone = registry.create("backbones", "torchbricks-timm:" + sys.argv[2], weights=weights).eval()
    with torch.no_grad():
        equal = all(torch.equal(a, b) for a, b in zip(backbone(images), reference(images), strict=True))
    entry = backbone.pretrained_weights
    report[weights] = {"equal": equal, "name": entry.name, "sha256_from_hub": entry.sha256_from_hub}
with open(sys.argv[1], "w") as handle:
    json.dump({"report": report, "modules": sorted(sys.modules)}, handle)
"""


def _lay_out_hub_cache(hub_cache: Path, repo_id: str, file: Path) -> tuple[str, Path]:
    """``file`` in a Hugging Face cache as huggingface_hub writes it: blob named by its sha256, snapshot link, ref."""
    sha256 = hashlib.sha256(file.read_bytes()).hexdigest()
    repo = hub_cache / f"models--{repo_id.replace('/', '--')}"
    blob = repo / "blobs" / sha256
    blob.parent.mkdir(parents=True)
    blob.write_bytes(file.read_bytes())
    snapshot = repo / "snapshots" / COMMIT / "model.safetensors"
    snapshot.parent.mkdir(parents=True)
    snapshot.symlink_to(os.path.relpath(blob, snapshot.parent))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return sha256, snapshot


@pytest.mark.slow
def test_hub_entry_resolves_from_the_hugging_face_cache_offline(
    timm_environment: TimmEnvironment, timm_registry: None, tmp_path: Path
) -> None:
    """``weights: a1_in1k`` (or ``default``, or a full name) loads the cached Hub file, bit-identical to timm's load."""
    from safetensors.torch import save_file

    file = tmp_path / "model.safetensors"
    save_file(_random_timm_state(), str(file))
    hf_home = tmp_path / "hf"
    sha256, snapshot = _lay_out_hub_cache(hf_home / "hub", f"timm/{ARCHITECTURE}.{TAG}", file)
    report_file = tmp_path / "report.json"
    names = [TAG, "default", f"{ARCHITECTURE}.{TAG}", f"{PACK}:{ARCHITECTURE}.{TAG}"]
    environment = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(hf_home / "hub"),
        "TORCHBRICKS_CACHE_DIR": str(tmp_path / "cache"),
        "TORCH_HOME": str(tmp_path / "torch"),
    }
    result = subprocess.run(
        [str(timm_environment.python), "-c", _LOAD_FROM_HUB_CACHE, str(report_file), ARCHITECTURE, str(file), *names],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(report_file.read_text(encoding="utf-8"))["report"]
    expected = {"equal": True, "name": f"{ARCHITECTURE}.{TAG}", "sha256_from_hub": True}
    assert report == dict.fromkeys(names, expected)
    assert not (tmp_path / "cache" / "weights").exists() or not any(
        (tmp_path / "cache" / "weights").rglob("*.safetensors")
    )

    # A changed file in the cache no longer matches the Hub's hash (its blob name): refused, never loaded.
    blob = snapshot.resolve()
    blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")
    result = subprocess.run(
        [str(timm_environment.python), "-c", _LOAD_FROM_HUB_CACHE, str(report_file), ARCHITECTURE, str(file), TAG],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert "WeightsUnavailableError" in result.stderr or "WeightsChecksumError" in result.stderr
    assert f"{ARCHITECTURE}.{TAG}" in result.stderr
    assert sha256 in result.stderr


@pytest.mark.slow
def test_listing_weights_imports_neither_torch_nor_timm(timm_environment: TimmEnvironment, tmp_path: Path) -> None:
    modules_file = tmp_path / "modules.json"
    result = subprocess.run(
        [
            str(timm_environment.python),
            "-c",
            _LIST_AND_REPORT_MODULES,
            str(modules_file),
            "recorded",
            *("list", "weights", "--pack", PACK, "--json"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "TORCHBRICKS_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"},
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    listed = json.loads(result.stdout)
    assert {entry["name"] for entry in listed} == _table_names()
    assert {entry["kind"] for entry in listed} == {"weights"}
    modules = set(json.loads(modules_file.read_text(encoding="utf-8")))
    assert {"torch", "timm", "huggingface_hub"}.isdisjoint(modules), sorted(modules & {"torch", "timm"})


def test_pack_weights_doctests(timm_registry: None) -> None:
    import doctest
    import importlib

    for module_name in ("torchbricks_timm.weights", "torchbricks_timm.weights_loading"):
        module = importlib.import_module(module_name)
        results = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert results.failed == 0, module_name
        assert results.attempted > 0, module_name
