"""The timm brick pack (plugins/torchbricks-timm), installed for real.

The pack (editable) and timm are installed into a throwaway virtual environment that sees the
project's environment through a ``.pth`` file, so the project's own environment is never changed.
It is kept between runs in the temporary folder, keyed by this interpreter, the pack's
``pyproject.toml`` and the timm version, and rebuilt when any of them changes. The tests add its
site-packages to ``sys.path`` for the duration of this module (and run the command line in it), and
build backbones through the registry with random weights: nothing is downloaded but the timm
package. The module is skipped only when timm cannot be installed (no network).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import math
import os
import random
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from torchbricks import registry

ROOT = Path(__file__).resolve().parents[2]
PACK_DIR = ROOT / "plugins" / "torchbricks-timm"
DATA_FILE = PACK_DIR / "torchbricks_timm" / "feature_support.json"
PACK = "torchbricks-timm"
SAMPLE_SIZE = 20
MAX_SAMPLE_PARAMS = 30_000_000
MAX_INPUT_SIZE = 256
SMALL_INPUT_SIZE = 64
LIST_ARGUMENTS = ("list", "backbones", "--pack", PACK, "--json")
NETWORK_FAILURES = (
    "No matching distribution found",
    "Could not find a version that satisfies",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "ProxyError",
    "Read timed out",
    "ConnectTimeoutError",
)


def _recorded_timm_version() -> str | None:
    try:
        return json.loads(DATA_FILE.read_text(encoding="utf-8"))["timm_version"]
    except (OSError, ValueError, KeyError):
        return None


@dataclass(frozen=True)
class TimmEnvironment:
    python: Path
    site_packages: Path
    timm_requirement: str


def _environment_folder(requirement: str) -> Path:
    explicit = os.environ.get("TORCHBRICKS_TIMM_TEST_VENV")
    if explicit:
        return Path(explicit)
    digest = hashlib.sha256()
    pyproject = (PACK_DIR / "pyproject.toml").read_text(encoding="utf-8")
    for part in (sys.executable, sys.version, str(PACK_DIR), pyproject, requirement):
        digest.update(part.encode() + b"\0")
    return Path(tempfile.gettempdir()) / f"torchbricks-timm-test-{digest.hexdigest()[:12]}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (so parallel test workers build the environment once)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_environment(folder: Path, requirement: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = _python_of(folder)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    project_site_packages = sysconfig.get_paths()["purelib"]
    # An import line, so the project's own .pth files (its editable install) are processed too.
    Path(purelib, "_torchbricks_project_env.pth").write_text(
        f"import site; site.addsitedir({project_site_packages!r})\n", encoding="utf-8"
    )
    command = [sys.executable, "-m", "pip", "--isolated", "--python", str(python), "install", "-q"]
    command += ["--disable-pip-version-check", "-e", str(PACK_DIR), requirement]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        if any(failure in output for failure in NETWORK_FAILURES):
            pytest.skip(f"timm cannot be installed (no network?): {output.strip().splitlines()[-1]}")
        pytest.fail(f"installing the timm pack failed:\n{output}")
    (folder / "ready.json").write_text(json.dumps({"requirement": requirement, "purelib": purelib}), encoding="utf-8")


def _python_of(folder: Path) -> Path:
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@pytest.fixture(scope="module")
def timm_environment() -> TimmEnvironment:
    """A throwaway virtual environment with the timm pack and timm installed (built once, then reused)."""
    recorded = _recorded_timm_version()
    requirement = f"timm=={recorded}" if recorded else "timm>=1.0"
    folder = _environment_folder(requirement)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _locked(folder.with_name(folder.name + ".lock")):
        if not (folder / "ready.json").is_file() or not _python_of(folder).exists():
            _build_environment(folder, requirement)
    ready = json.loads((folder / "ready.json").read_text(encoding="utf-8"))
    return TimmEnvironment(_python_of(folder), Path(ready["purelib"]), requirement)


@pytest.fixture(scope="module")
def timm_registry(timm_environment: TimmEnvironment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The registry of this process with the timm pack's environment on ``sys.path`` (restored afterwards)."""
    saved_path = list(sys.path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCHBRICKS_CACHE_DIR", str(tmp_path_factory.mktemp("registry-cache")))
        patch.setenv("HF_HUB_OFFLINE", "1")
        site.addsitedir(str(timm_environment.site_packages))
        importlib.invalidate_caches()
        registry.reload()
        try:
            yield
        finally:
            sys.path[:] = saved_path
            importlib.invalidate_caches()
    registry.reload()


@pytest.fixture(scope="module")
def timm_names(timm_registry: None) -> list[str]:
    return [entry.name for entry in registry.list_bricks("backbones", pack=PACK)]


def test_pack_registers_hundreds_of_timm_backbones(timm_names: list[str]) -> None:
    assert len(timm_names) >= 500
    assert {"resnet18", "convnext_atto", "efficientnet_b0", "vit_tiny_patch16_224"} <= set(timm_names)
    entry = registry.get_entry("backbones", f"{PACK}:resnet18")
    assert entry.target == "torchbricks_timm.architectures:resnet18"
    assert entry.summary == "Constructs a ResNet-18 model."
    from torchbricks.registry import signature_text

    assert entry.signature == signature_text(entry.load())  # declared up front, as the factory has it
    status = next(pack for pack in registry.packs() if pack.name == PACK)
    assert status.status == "unchecked", status.errors  # listed without importing timm
    assert status.hooks == ["torchbricks_register_bricks"]
    assert status.bricks["backbones"] == len(timm_names)


def test_unsupported_architectures_are_not_registered(timm_names: list[str]) -> None:
    from torchbricks_timm.support import load_feature_support

    support = load_feature_support()
    assert not set(support.unsupported) & set(timm_names)
    assert set(timm_names) == {*support.architectures, *support.unchecked}


@pytest.mark.parametrize("source", ["timm source", "timm.list_models"])
def test_registration_for_another_timm_version_matches_the_data_file(
    timm_registry: None, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    """With another timm version installed the hook reads timm's source (or asks timm); both agree with the file."""
    from torchbricks_timm import plugin

    from torchbricks.registry import BrickRegistrar

    def registered() -> dict[str, tuple[str, str]]:
        registrar = BrickRegistrar(pack=PACK, version="0", plugin=f"{PACK}:timm")
        plugin.torchbricks_register_bricks(registrar)
        return {entry.name: (entry.summary, entry.target) for entry in registrar.entries}

    from_data_file = registered()
    monkeypatch.setattr(plugin, "installed_timm_version", lambda: "0.0.0-other")
    if source == "timm.list_models":
        monkeypatch.setattr(plugin, "scan_timm_architectures", lambda: None)
    assert registered() == from_data_file


def test_source_scan_agrees_with_timm(timm_registry: None) -> None:
    import inspect

    import timm
    from torchbricks_timm.support import scan_timm_architectures

    scanned = scan_timm_architectures()
    assert scanned is not None
    assert sorted(scanned) == sorted(timm.list_models())
    for name in ("resnet18", "vit_tiny_patch16_224", "dla34", "convnext_atto"):
        docstring = inspect.getdoc(timm.models.model_entrypoint(name)) or ""
        assert scanned[name] == (docstring.splitlines()[0] if docstring else "")


_LIST_AND_REPORT_MODULES = """
import json, sys
if sys.argv[2] == "other-timm-version":
    import torchbricks_timm.plugin
    torchbricks_timm.plugin.installed_timm_version = lambda: "0.0.0-other"
from torchbricks.cli import main
code = main(sys.argv[3:])
with open(sys.argv[1], "w") as handle:
    json.dump(sorted(sys.modules), handle)
sys.exit(code)
"""


def _list_command(
    environment: TimmEnvironment, cache: Path, cwd: Path, timm_version: str = "recorded"
) -> tuple[list[dict], set[str]]:
    """``torchbricks list backbones --pack torchbricks-timm --json`` in the pack's environment: entries, modules.

    The modules are read from ``sys.modules`` afterwards (``-X importtime`` misses ``importlib.import_module``).
    """
    modules_file = cwd / "modules.json"
    result = subprocess.run(
        [str(environment.python), "-c", _LIST_AND_REPORT_MODULES, str(modules_file), timm_version, *LIST_ARGUMENTS],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "TORCHBRICKS_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"},
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout), set(json.loads(modules_file.read_text(encoding="utf-8")))


@pytest.mark.slow
def test_listing_imports_neither_torch_nor_timm(timm_environment: TimmEnvironment, tmp_path: Path) -> None:
    """Not once cached (the plugin is not even imported), and not before: the hook reads files only."""
    cache = tmp_path / "cache"
    first, first_modules = _list_command(timm_environment, cache, tmp_path)
    assert len(first) >= 500
    assert list(cache.glob("plugins-*.json")), "the first listing should write the registry cache"
    assert "torchbricks_timm.plugin" in first_modules
    assert {"torch", "timm"}.isdisjoint(first_modules)
    second, second_modules = _list_command(timm_environment, cache, tmp_path)
    assert second == first
    assert {"torch", "timm", "torchvision", "torchbricks_timm", "torchbricks_timm.plugin"}.isdisjoint(second_modules)
    # A timm version other than the data file's: the architectures are read from timm's source.
    other, other_modules = _list_command(timm_environment, tmp_path / "other-cache", tmp_path, "other-timm-version")
    assert {"torch", "timm"}.isdisjoint(other_modules)
    assert [entry["name"] for entry in other] == [entry["name"] for entry in first]
    assert all(entry["interface"] is None for entry in other)


def test_declared_interface_matches_meta_description_and_built_module(timm_registry: None) -> None:
    for name in ("resnet18", "vit_tiny_patch16_224"):
        entry = registry.get_entry("backbones", f"{PACK}:{name}")
        declared = entry.interface
        assert declared is not None
        assert entry.load().describe_features() == declared
    backbone = registry.create("backbones", f"{PACK}:resnet18")
    assert backbone.feature_spec == registry.get_entry("backbones", f"{PACK}:resnet18").interface
    assert backbone.feature_spec.names == ("c1", "c2", "c3", "c4", "c5")
    vit = registry.get_entry("backbones", f"{PACK}:vit_tiny_patch16_224").interface
    assert vit.names == ("c4_0", "c4_1", "c4_2")
    assert vit.strides == (16, 16, 16)


def test_out_indices_and_in_chans_pass_through(timm_registry: None) -> None:
    backbone = registry.create("backbones", f"{PACK}:resnet18", out_indices=(2, 4), in_chans=1)
    assert backbone.feature_spec.names == ("c3", "c5")
    assert backbone.feature_spec.channels == (128, 512)
    features = backbone(torch.rand(1, 1, 64, 64))
    assert [tuple(feature.shape) for feature in features] == [(1, 128, 8, 8), (1, 512, 2, 2)]
    describe = registry.get("backbones", f"{PACK}:resnet18").describe_features
    assert describe(out_indices=(2, 4)) == backbone.feature_spec


def test_pretrained_passes_through_to_timm_without_download(
    timm_registry: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``pretrained=True`` makes timm load weights; a local file stands in for the hub (no network)."""
    import timm
    from safetensors.torch import save_file

    classifier = timm.create_model("resnet18", pretrained=False)
    with torch.no_grad():
        for parameter in classifier.parameters():
            parameter.fill_(0.25)
    weights = tmp_path / "resnet18.safetensors"
    save_file({key: value.contiguous() for key, value in classifier.state_dict().items()}, str(weights))

    backbone = registry.create(
        "backbones", f"{PACK}:resnet18", pretrained=True, pretrained_cfg_overlay={"file": str(weights)}
    )
    assert backbone.pretrained is True
    assert torch.equal(backbone.model.conv1.weight, torch.full_like(backbone.model.conv1.weight, 0.25))
    assert not torch.equal(
        registry.create("backbones", f"{PACK}:resnet18").model.conv1.weight, backbone.model.conv1.weight
    )
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(FileNotFoundError):  # timm looked for the file, not on the hub
        registry.create("backbones", f"{PACK}:resnet18", pretrained=True, pretrained_cfg_overlay={"file": str(missing)})
    assert "missing.safetensors" in caplog.text


def test_errors_name_the_architecture(timm_registry: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import timm
    from torchbricks_timm import FeaturesOnlyNotSupportedError, create_timm_backbone

    with pytest.raises(ValueError, match=r"Unknown timm architecture 'resnet_18'.*'resnet18'"):
        create_timm_backbone("resnet_18")

    # An architecture newer than the data file that turns out not to support features_only
    # (timm raises RuntimeError('features_only not implemented for ...') for those).
    def create_model(model_name: str, **kwargs: object) -> None:
        raise RuntimeError(f"features_only not implemented for {model_name} models")

    monkeypatch.setattr(timm, "create_model", create_model)
    with pytest.raises(FeaturesOnlyNotSupportedError, match=r"timm architecture 'resnet18' does not support"):
        registry.create("backbones", f"{PACK}:resnet18")


def _input_size(backbone: torch.nn.Module, default_size: int) -> int:
    """64, or the model's own input size when timm says it is fixed (ViTs, CrossViT: their strides hold only there)."""
    return default_size if backbone.model.pretrained_cfg.get("fixed_input_size") else SMALL_INPUT_SIZE


def _seeded_sample(names: list[str], count: int) -> list[str]:
    """``count`` names in ``random.Random(0).sample`` order, keeping small models that can run at a small input size."""
    from torchbricks_timm.support import load_feature_support

    architectures = load_feature_support().architectures
    chosen = []
    for name in random.Random(0).sample(sorted(names), len(names)):
        record = architectures.get(name)
        if record and record["num_params"] <= MAX_SAMPLE_PARAMS and record["input_size"][-1] <= MAX_INPUT_SIZE:
            chosen.append(name)
            if len(chosen) == count:
                break
    return chosen


@pytest.mark.slow
def test_sampled_backbones_run_and_match_their_feature_spec(timm_names: list[str]) -> None:
    """Build and run a seeded sample through the registry; declared channels and strides match the outputs.

    Each model runs at 64x64, or at its default input size (at most 256) when timm marks that size as fixed
    or the model rejects 64x64.
    """
    from torchbricks_timm.support import load_feature_support

    architectures = load_feature_support().architectures
    sample = _seeded_sample(timm_names, SAMPLE_SIZE)
    assert len(sample) == SAMPLE_SIZE
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny inputs: one thread is faster, and much faster on a busy machine
    try:
        problems = _run_sample(sample, architectures)
    finally:
        torch.set_num_threads(threads)
    assert not problems, "\n".join(problems)


def _run_sample(sample: list[str], architectures: dict[str, dict]) -> list[str]:
    problems = []
    for name in sample:
        torch.manual_seed(0)
        backbone = registry.create("backbones", f"{PACK}:{name}").eval()
        default_size = int(architectures[name]["input_size"][-1])
        size = _input_size(backbone, default_size)
        with torch.no_grad():
            try:
                features = backbone(torch.rand(1, 3, size, size))
            except Exception:
                if size == default_size:
                    raise
                size = default_size
                features = backbone(torch.rand(1, 3, size, size))
        spec = backbone.feature_spec
        assert isinstance(features, tuple), name
        if spec != registry.get_entry("backbones", f"{PACK}:{name}").interface:
            problems.append(f"{name}: built spec {spec} differs from the declared interface")
        channels = tuple(feature.shape[1] for feature in features)
        if channels != spec.channels:
            problems.append(f"{name} at {size}px: channels {channels}, declared {spec.channels}")
        for feature, stride in zip(features, spec.strides, strict=True):
            height, width = feature.shape[-2:]
            if not (_matches_stride(size, height, stride) and _matches_stride(size, width, stride)):
                problems.append(f"{name} at {size}px: output {height}x{width} for declared stride {stride}")
    return problems


def _matches_stride(input_size: int, output_size: int, stride: int) -> bool:
    """``output_size`` is ``input_size / stride``, rounded either way; within 10% for large maps.

    Unpadded convolutions (Inception at 299, PiT at 224) lose a few border positions on large maps.
    """
    expected = input_size / stride
    if math.floor(expected) <= output_size <= math.ceil(expected):
        return True
    return expected >= 8 and output_size <= math.ceil(expected) and expected - output_size <= 0.1 * expected


def test_pack_doctests(timm_registry: None) -> None:
    """The pack's docstring examples (its folder is not among the project's doctest paths)."""
    import doctest

    for module_name in ("support", "plugin", "backbone", "architectures", "__init__"):
        module = importlib.import_module(
            "torchbricks_timm" if module_name == "__init__" else f"torchbricks_timm.{module_name}"
        )
        results = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert results.failed == 0, f"{module.__name__}: {results.failed} doctest failure(s)"
        assert results.attempted > 0, module.__name__


# -- packs side by side: installing the timm pack changes nothing that worked before ----------------------


def test_bare_standard_names_still_mean_the_core_pack_and_timm_is_reached_by_pack_name(timm_registry: None) -> None:
    entry = registry.get_entry("backbones", "resnet18")
    assert entry.qualified_name == "torchbricks:resnet18"
    timm_entry = registry.get_entry("backbones", f"{PACK}:resnet18")
    assert timm_entry.shadowed_by == "torchbricks:resnet18"
    assert entry.shadowed_by is None
    assert "the core pack (torchbricks) comes first" in registry.resolution("backbones", "resnet18")
    assert f"{PACK}:resnet18" in registry.resolution("backbones", "resnet18")
    assert registry.get_entry("backbones", "convnext_atto").pack == PACK  # only timm has it: bare works
    status = next(pack for pack in registry.packs() if pack.name == PACK)
    assert status.clashes == []  # shadowed names are not clashes


def test_the_demo_and_the_readme_config_work_with_the_timm_pack_installed(
    timm_environment: TimmEnvironment, tmp_path: Path
) -> None:
    environment = {**os.environ, "TORCHBRICKS_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    command = [str(timm_environment.python), "-m", "torchbricks.cli"]
    demo = subprocess.run(
        [*command, "demo", "--quick", "--output", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert (tmp_path / "demo" / "metrics.json").is_file()
    config = tmp_path / "model.json"
    config.write_text(
        json.dumps(
            {
                "backbone": {"name": "resnet18", "levels": [5]},
                "tasks": {"kind": {"task": "image_classification", "num_classes": 2}},
            }
        )
    )
    build = subprocess.run(
        [*command, "build", str(config), "--save", str(tmp_path / "model")],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    saved = json.loads((tmp_path / "model" / "config.json").read_text())
    assert saved["backbone"]["name"] == "torchbricks:resnet18"  # qualified: installing packs never changes it
    listing = subprocess.run(
        [*command, "list", "backbones", "--filter", "resnet18", "--strict"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
        check=False,
    )
    assert listing.returncode == 0, listing.stderr
    rows = [line.split("\t") for line in listing.stdout.strip().splitlines()[1:]]
    notes = {row[2]: row[-1] for row in rows}
    assert notes == {"torchbricks": "", PACK: "shadowed by torchbricks:resnet18"}
