"""Hub entries that record no sha256 (``sha256=""``): the Hub publishes it (the LFS oid), looked up at fetch time.

Building and listing such an entry needs neither network nor cache. Fetching it takes the expected sha256
from the Hugging Face cache's blob name, a mirror's ``<file>.sha256``, or one HEAD request to the Hub — here
a local server answering like the Hub (``HF_ENDPOINT``) — and hashes the file in full before it is used.
huggingface_hub reads ``HF_HOME``, ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` when imported, so each case that
uses it runs in a fresh interpreter whose environment is set first.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.pretrained.conftest import safetensors_bytes, sha256
from tests.pretrained.hub_server import HubServer
from tests.pretrained.test_hub import _hf_cache as hub_cache_layout
from torchbricks.cli import main
from torchbricks.errors import InvalidWeightsEntryError
from torchbricks.pretrained import HubFile, PretrainedWeights

REPO = "tb-org/tiny-net"
FILE = "model.safetensors"

_IMPORTS = """
import json, socket, sys, warnings
from pathlib import Path
"""
_NO_SOCKET = """
class NoSocket(socket.socket):
    def __init__(self, *args, **kwargs):
        raise AssertionError("a socket was opened")

socket.socket = NoSocket  # any network access fails the test
"""
_ENTRY = """
from torchbricks.pretrained import HubFile, PretrainedWeights, fetch_weights, mirror_weights, verify_cached
weights = PretrainedWeights(brick="tiny", tag="hashless", sha256="", hub=HubFile({repo!r}, {file!r}))

def attempt(function, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = function(*args, **kwargs)
        except Exception as error:
            outcome = {{"error": type(error).__name__, "message": str(error)}}
        else:
            outcome = {{"value": str(value)}}
    return {{**outcome, "warnings": [str(w.message) for w in caught]}}
"""


def _hf_cache(hf_home: Path, payload: bytes, blob_name: str | None = None) -> Path:
    """``payload`` as ``REPO``'s ``FILE`` in a Hugging Face cache laid out as huggingface_hub lays it out."""
    return hub_cache_layout(hf_home, REPO, FILE, payload, blob_name)


def _run(code: str, *, sockets: bool = False, **variables: str) -> Any:
    """Run ``code`` in a fresh interpreter with ``variables`` set, no socket unless ``sockets``; its printed JSON."""
    program = (
        textwrap.dedent(_IMPORTS)
        + ("" if sockets else textwrap.dedent(_NO_SOCKET))
        + textwrap.dedent(_ENTRY).format(repo=REPO, file=FILE)
        + textwrap.dedent(code)
    )
    completed = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_DISABLE_TELEMETRY": "1", **variables},
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_an_entry_without_sha256_needs_a_hub_file() -> None:
    with pytest.raises(InvalidWeightsEntryError, match=r"'tiny\.nohash'.*invalid sha256 ''.*only for a hub file"):
        PretrainedWeights(brick="tiny", tag="nohash", sha256="", urls=("https://example.com/tiny.safetensors",))
    with pytest.raises(InvalidWeightsEntryError, match="invalid sha256"):
        PretrainedWeights(brick="tiny", tag="nohash", sha256="", sha256_is_prefix=True, hub=HubFile(REPO, FILE))
    weights = PretrainedWeights(brick="tiny", tag="hashless", sha256="", hub=HubFile(REPO, FILE))
    assert weights.sha256_from_hub
    assert not PretrainedWeights(brick="tiny", tag="hashed", sha256="ab" * 32, hub=HubFile(REPO, FILE)).sha256_from_hub


def test_a_hashless_hub_entry_lists_and_describes_without_cache_or_network(
    register, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a socket was connected")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    register(brick="tiny", tag="hashless", sha256="", hub=HubFile(REPO, FILE), summary="No hash recorded.")

    assert main(["weights", "list", "tiny.hashless"]) == 0
    assert "tiny.hashless" in capsys.readouterr().out
    assert main(["weights", "info", "tiny.hashless"]) == 0
    info = capsys.readouterr().out
    assert "sha256\tpublished by the Hugging Face Hub (LFS oid), looked up at fetch time" in info
    assert f"hub\t{REPO}/{FILE}@main" in info
    assert main(["weights", "info", "--json", "tiny.hashless"]) == 0
    details = json.loads(capsys.readouterr().out)
    assert (details["sha256"], details["sha256_from_hub"], details["cached"]) == ("", True, False)


def test_offline_and_uncached_gives_one_line_naming_the_places(
    register, capsys, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a socket was connected")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("TORCHBRICKS_OFFLINE", "1")
    register(brick="tiny", tag="hashless", sha256="", hub=HubFile("tb-org/never-cached", FILE))

    assert main(["weights", "fetch", "--quiet", "tiny.hashless"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    message = lines[0]
    assert "Pretrained weights 'tiny.hashless' (model.safetensors) are not available" in message
    assert (
        "the entry records no sha256 and TORCHBRICKS_OFFLINE=1 is set, so the Hugging Face Hub was not asked for "
        "the sha256 of tb-org/never-cached/model.safetensors@main" in message
    )
    assert "Looked in: the Hugging Face cache " in message
    assert "(tb-org/never-cached/model.safetensors@main)" in message
    assert "no mirror folder (TORCHBRICKS_WEIGHTS_MIRROR is not set)" in message
    assert "`torchbricks weights mirror DIR tiny.hashless`" in message


def test_resolves_from_the_hugging_face_cache_offline_and_refuses_a_tampered_blob(isolated: Path) -> None:
    payload = safetensors_bytes(3)
    snapshot = _hf_cache(isolated / "hf-home", payload)

    result = _run(
        """
        first = attempt(fetch_weights, weights, progress=False)
        verified = {name: check.to_dict() for name, check in verify_cached([weights]).items()}
        blob = Path(first["value"]).resolve()
        blob.write_bytes(blob.read_bytes()[:-4] + b"XXXX")  # changed in place: the blob's name stays
        second = attempt(fetch_weights, weights, progress=False)
        tampered = {name: check.to_dict() for name, check in verify_cached([weights]).items()}
        print(json.dumps({"first": first, "verified": verified, "second": second, "tampered": tampered}))
        """,
        HF_HUB_OFFLINE="1",
    )

    digest = sha256(payload)
    assert result["first"] == {"value": str(snapshot), "warnings": []}
    assert result["verified"]["tiny.hashless"]["ok"] is True
    assert result["verified"]["tiny.hashless"]["sha256"] == digest
    second = result["second"]
    assert second["error"] == "WeightsUnavailableError"
    assert f"the Hugging Face cache file of {REPO}/{FILE}@main" in second["warnings"][0]
    assert f"expected {digest}, from the name of its blob in the Hugging Face cache" in second["warnings"][0]
    assert "HF_HUB_OFFLINE=1 is set" in second["message"]
    assert result["tampered"]["tiny.hashless"]["ok"] is False
    assert f"expected {digest}" in result["tampered"]["tiny.hashless"]["problem"]


def test_a_blob_named_by_a_git_sha1_is_not_a_sha256(isolated: Path) -> None:
    payload = b'{"not": "an LFS file"}'
    git_sha1 = hashlib.sha1(b"blob %d\0" % len(payload) + payload).hexdigest()
    _hf_cache(isolated / "hf-home", payload, blob_name=git_sha1)

    result = _run("print(json.dumps(attempt(fetch_weights, weights, progress=False)))", HF_HUB_OFFLINE="1")

    assert result["error"] == "WeightsUnavailableError"
    assert (
        f"its blob {git_sha1} is named by a git sha1 (a file kept in git, not LFS), not a sha256" in (result["message"])
    )
    assert "HF_HUB_OFFLINE=1 is set, so the Hugging Face Hub was not asked" in result["message"]
    assert result["warnings"] == []


def test_a_mirror_with_sidecars_serves_an_offline_fetch(isolated: Path, tmp_path: Path) -> None:
    # On the connected machine the file is in the Hugging Face cache: the mirror gets it and its sidecar.
    payload = safetensors_bytes(4)
    _hf_cache(isolated / "hf-home", payload)
    mirror = tmp_path / "usb-stick"
    written = _run(
        f"print(json.dumps([str(path) for path in mirror_weights({str(mirror)!r}, [weights], progress=False)]))",
        HF_HUB_OFFLINE="1",
    )
    file = mirror / "tiny.hashless" / FILE
    sidecar = file.with_name(f"{FILE}.sha256")
    assert written == [str(file)]
    assert file.read_bytes() == payload
    assert sidecar.read_text() == f"{sha256(payload)}  {FILE}\n"
    if shutil.which("sha256sum"):
        checked = subprocess.run(["sha256sum", "-c", sidecar.name], cwd=file.parent, capture_output=True, check=False)
        assert checked.returncode == 0, checked.stdout

    # On the offline machine: an empty Hugging Face cache, no network, the mirror.
    offline = {
        "TORCHBRICKS_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "empty-hf"),
        "TORCHBRICKS_WEIGHTS_MIRROR": str(mirror),
    }
    fetch = "print(json.dumps(attempt(fetch_weights, weights, progress=False)))"
    assert _run(fetch, **offline) == {"value": str(file), "warnings": []}

    # A mirror file changed after the sidecar was written is refused ...
    file.write_bytes(payload[:-4] + b"XXXX")
    refused = _run(fetch, **offline)
    assert refused["error"] == "WeightsUnavailableError"
    assert f"expected {sha256(payload)}, from the mirror's {FILE}.sha256 beside {file}" in refused["warnings"][0]

    # ... and a mirror file without a sidecar has nothing to be checked against.
    sidecar.unlink()
    unchecked = _run(fetch, **offline)
    assert unchecked["error"] == "WeightsUnavailableError"
    assert f"the mirror folder file {file} (no {FILE}.sha256 beside it to check it against)" in unchecked["message"]


def test_mirror_writes_a_sidecar_for_every_entry(served, tmp_path: Path) -> None:
    from torchbricks.pretrained import mirror_weights

    weights = served("sidecar", payload=safetensors_bytes(5))
    mirror = tmp_path / "mirror"
    [file] = mirror_weights(mirror, [weights.name], progress=False)
    assert file.with_name(file.name + ".sha256").read_text() == f"{weights.sha256}  {file.name}\n"
    file.with_name(file.name + ".sha256").unlink()
    assert mirror_weights(mirror, [weights.name], progress=False) == [file]  # a mirror without sidecars gets them
    assert file.with_name(file.name + ".sha256").read_text() == f"{weights.sha256}  {file.name}\n"


def test_the_hubs_published_sha256_checks_a_real_download(isolated: Path, tmp_path: Path) -> None:
    """One HEAD request gives the etag (the LFS oid); hf_hub_download fetches; the file is hashed and compared."""
    good, other, small = safetensors_bytes(6), safetensors_bytes(7), b'{"kept": "in git"}'
    git_sha1 = hashlib.sha1(b"blob %d\0" % len(small) + small).hexdigest()
    mirror = tmp_path / "mirror"
    with HubServer() as hub:
        hub.add(REPO, FILE, good)
        hub.add("tb-org/lying-net", FILE, good, etag=sha256(other))
        hub.add("tb-org/config-net", FILE, small, etag=git_sha1)
        result = _run(
            f"""
            import dataclasses
            from torchbricks.pretrained import HubFile
            lying = dataclasses.replace(weights, tag="lying", hub=HubFile("tb-org/lying-net", weights.hub.filename))
            small = dataclasses.replace(weights, tag="small", hub=HubFile("tb-org/config-net", weights.hub.filename))
            print(json.dumps({{
                "good": attempt(fetch_weights, weights, progress=False),
                "lying": attempt(fetch_weights, lying, progress=False),
                "small": attempt(fetch_weights, small, progress=False),
                "mirrored": attempt(mirror_weights, {str(mirror)!r}, [weights], progress=False),
            }}))
            """,
            sockets=True,
            HF_ENDPOINT=hub.endpoint,
        )
        requests = list(hub.requests)

    path = Path(result["good"]["value"])
    assert path.read_bytes() == good
    assert path.resolve().name == sha256(good)  # huggingface_hub's own cache layout
    assert ("HEAD", f"/{REPO}/resolve/main/{FILE}") in requests
    assert ("GET", f"/{REPO}/resolve/main/{FILE}") in requests

    lying = result["lying"]
    assert lying["error"] == "WeightsChecksumError"  # the Hub delivered another file than it announced
    assert (
        f"expected {sha256(other)}, from the Hugging Face Hub's etag of tb-org/lying-net/{FILE}@main"
        in (lying["message"])
    )

    small = result["small"]
    assert small["error"] == "WeightsUnavailableError"
    assert (
        f"the Hugging Face Hub's etag of tb-org/config-net/{FILE}@main is {git_sha1}, not a sha256"
        in (small["message"])
    )
    assert ("GET", f"/tb-org/config-net/resolve/main/{FILE}") not in requests  # refused before any download

    assert "error" not in result["mirrored"], result["mirrored"]
    assert (mirror / "tiny.hashless" / f"{FILE}.sha256").read_text() == f"{sha256(good)}  {FILE}\n"
