"""Hub entries resolve from a Hugging Face cache laid out as huggingface_hub lays it out, offline.

huggingface_hub reads ``HF_HOME`` and ``HF_HUB_OFFLINE`` when it is imported, so each case runs in a
fresh interpreter whose environment is set before anything is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from tests.pretrained.conftest import safetensors_bytes, sha256

COMMIT = "0123456789abcdef0123456789abcdef01234567"

_PRELUDE = """
import json, socket, sys

class NoSocket(socket.socket):
    def __init__(self, *args, **kwargs):
        raise AssertionError("a socket was opened")

socket.socket = NoSocket  # any network access fails the test
from torchbricks.pretrained import HubFile, PretrainedWeights, fetch_weights, read_state_dict
"""


def _hf_cache(root: Path, repo_id: str, filename: str, payload: bytes, blob_name: str | None = None) -> Path:
    """Lay a file out as huggingface_hub does: blobs/<etag>, snapshots/<commit>/<file> -> blob, refs/main.

    The etag is the file's sha256 (an LFS file) unless ``blob_name`` says otherwise (a git sha1)."""
    repo = root / "hub" / f"models--{repo_id.replace('/', '--')}"
    blob = repo / "blobs" / (blob_name or sha256(payload))
    blob.parent.mkdir(parents=True)
    blob.write_bytes(payload)
    snapshot = repo / "snapshots" / COMMIT / filename
    snapshot.parent.mkdir(parents=True)
    snapshot.symlink_to(os.path.relpath(blob, snapshot.parent))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return snapshot


def _run(code: str, **variables: str) -> dict[str, Any]:
    environment = {**os.environ, **variables}
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_PRELUDE) + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_a_hub_entry_resolves_from_the_hugging_face_cache_with_hf_hub_offline(isolated: Path) -> None:
    payload = safetensors_bytes(8)
    snapshot = _hf_cache(isolated / "hf-home", "tb-org/tiny-net", "model.safetensors", payload)

    result = _run(
        f"""
        weights = PretrainedWeights(brick="tiny", tag="hubbed", sha256={sha256(payload)!r}, size={len(payload)},
                                    hub=HubFile("tb-org/tiny-net", "model.safetensors"))
        path = fetch_weights(weights, progress=False)
        print(json.dumps({{"path": str(path), "keys": sorted(read_state_dict(weights, path))}}))
        """,
        HF_HUB_OFFLINE="1",
    )

    assert result == {"path": str(snapshot), "keys": ["fc.weight", "linear.bias", "linear.weight"]}
    assert not any((isolated / "torchbricks-cache").rglob("*.safetensors"))  # used in place, not copied


def test_a_hub_entry_missing_from_the_cache_with_hf_hub_offline_names_the_places(isolated: Path) -> None:
    _hf_cache(isolated / "hf-home", "tb-org/tiny-net", "model.safetensors", b"another file")

    result = _run(
        f"""
        weights = PretrainedWeights(brick="tiny", tag="hubmissing", sha256={"ab" * 32!r},
                                    hub=HubFile("tb-org/other-net", "model.safetensors"))
        try:
            fetch_weights(weights, progress=False)
        except Exception as error:
            print(json.dumps({{"type": type(error).__name__, "message": str(error)}}))
        """,
        HF_HUB_OFFLINE="1",
    )

    assert result["type"] == "WeightsUnavailableError"
    message = result["message"]
    assert "HF_HUB_OFFLINE=1 is set, so tb-org/other-net/model.safetensors@main was not downloaded" in message
    assert f"the Hugging Face cache {isolated / 'hf-home' / 'hub'} (tb-org/other-net/model.safetensors@main)" in message
    assert "`torchbricks weights mirror DIR tiny.hubmissing`" in message


def test_a_wrong_file_in_the_hugging_face_cache_is_not_used(isolated: Path) -> None:
    _hf_cache(isolated / "hf-home", "tb-org/tiny-net", "model.safetensors", b"not the weights")

    result = _run(
        f"""
        import warnings
        weights = PretrainedWeights(brick="tiny", tag="hubwrong", sha256={"cd" * 32!r},
                                    hub=HubFile("tb-org/tiny-net", "model.safetensors"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                fetch_weights(weights, progress=False)
            except Exception as error:
                print(json.dumps({{"type": type(error).__name__, "warnings": [str(w.message) for w in caught]}}))
        """,
        TORCHBRICKS_OFFLINE="1",
    )

    assert result["type"] == "WeightsUnavailableError"
    assert "the Hugging Face cache file of tb-org/tiny-net/model.safetensors@main" in result["warnings"][0]
    assert f"expected {'cd' * 32}" in result["warnings"][0]


def test_without_huggingface_hub_a_hub_download_says_what_to_install(isolated: Path) -> None:
    result = _run(
        f"""
        sys.modules["huggingface_hub"] = None  # as if it were not installed
        weights = PretrainedWeights(brick="tiny", tag="nohub", sha256={"ef" * 32!r},
                                    hub=HubFile("tb-org/tiny-net", "model.safetensors"))
        try:
            fetch_weights(weights, progress=False)
        except Exception as error:
            print(json.dumps({{"type": type(error).__name__, "message": str(error)}}))
        """
    )

    assert result["type"] == "MissingDependencyError"
    assert "Pretrained weights 'tiny.nohub' come from the Hugging Face Hub" in result["message"]
    assert 'pip install "torchbricks[hub]"' in result["message"]


def test_importing_the_package_imports_neither_torch_nor_huggingface_hub() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, torchbricks.pretrained, torchbricks.cli; "
            "print(sorted(m for m in ('torch', 'huggingface_hub', 'safetensors', 'platformdirs') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert completed.stdout.strip() == "[]"
