"""Fetching weights from a real local HTTP server: checksums, bad downloads, interruptions, caches, mirrors, offline."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.pretrained.conftest import safetensors_bytes, sha256
from tests.pretrained.server import WeightsServer
from torchbricks.errors import (
    WeightsChecksumError,
    WeightsChecksumWarning,
    WeightsError,
    WeightsUnavailableError,
)
from torchbricks.pretrained import cache_dir, cached_path, fetch_weights, mirror_weights, read_state_dict

REPOSITORY = Path(__file__).resolve().parents[2]


def _files_under(folder: Path) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


def test_fetch_downloads_checks_and_caches(served, server: WeightsServer) -> None:
    weights = served("good")

    path = fetch_weights("tiny.good", progress=False)

    assert path == cache_dir() / "tiny.good" / "tiny-good.safetensors"
    assert sha256(path.read_bytes()) == weights.sha256
    assert _files_under(cache_dir()) == ["tiny.good/tiny-good.safetensors"]
    assert server.requests == ["/tiny-good.safetensors"]
    # A second fetch uses the cache: the server sees no second request.
    assert fetch_weights(weights, progress=False) == path
    assert server.requests == ["/tiny-good.safetensors"]


def test_a_prefix_checksum_is_checked_as_a_prefix(served) -> None:
    payload = safetensors_bytes(1)
    served("prefix", payload=payload, sha256=sha256(payload)[:8], sha256_is_prefix=True, size=None)
    assert sha256(fetch_weights("tiny.prefix", progress=False).read_bytes()) == sha256(payload)

    served("badprefix", payload=payload, sha256="0badc0de", sha256_is_prefix=True, size=None)
    with pytest.raises(WeightsChecksumError, match=r"expected 0badc0de \(prefix\)"):
        fetch_weights("tiny.badprefix", progress=False)


@pytest.mark.parametrize(
    ("behaviour", "problem"),
    [
        ("corrupt", r"sha256 [0-9a-f]{64}, expected [0-9a-f]{64}"),
        ("short", r"size \d+ bytes, expected \d+; sha256 [0-9a-f]{64}, expected [0-9a-f]{64}"),
        ("overflow", r"size \d+ bytes, expected \d+"),
    ],
)
def test_a_wrong_download_is_refused_and_nothing_is_kept(served, behaviour: str, problem: str) -> None:
    weights = served(behaviour, behaviour)

    with pytest.raises(WeightsChecksumError, match=problem) as caught:
        fetch_weights(weights, progress=False)

    message = str(caught.value)
    assert f"'tiny.{behaviour}'" in message
    assert "\n" not in message
    if behaviour != "overflow":
        assert f"expected {weights.sha256}" in message
    assert _files_under(cache_dir()) == []  # no file a later run would trust, no temporary file either


def test_the_server_overflowing_is_read_no_further_than_the_size(served) -> None:
    payload = safetensors_bytes(2)
    served("overflowing", "overflow", payload=payload)
    with pytest.raises(WeightsChecksumError, match=rf"size {len(payload) + 1} bytes, expected {len(payload)}"):
        fetch_weights("tiny.overflowing", progress=False)


def test_a_connection_that_breaks_off_leaves_nothing_and_the_next_fetch_succeeds(served, server) -> None:
    weights = served("flaky", "truncate")

    with pytest.raises(WeightsUnavailableError, match=r"broke off after \d+ of \d+ bytes") as caught:
        fetch_weights(weights, progress=False)
    assert "Looked in: the cache" in str(caught.value)
    assert _files_under(cache_dir()) == []

    server.files["/tiny-flaky.safetensors"] = (server.files["/tiny-flaky.safetensors"][0], "ok")
    path = fetch_weights(weights, progress=False)
    assert sha256(path.read_bytes()) == weights.sha256


def test_a_stalled_server_times_out_and_leaves_nothing(served, server, monkeypatch) -> None:
    monkeypatch.setenv("TORCHBRICKS_DOWNLOAD_TIMEOUT", "0.5")
    weights = served("stalled", "stall")

    with pytest.raises(WeightsUnavailableError, match="broke off after"):
        fetch_weights(weights, progress=False)

    assert _files_under(cache_dir()) == []


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs POSIX signals")
def test_an_interrupted_download_removes_its_temporary_file(served, server) -> None:
    assert threading.current_thread() is threading.main_thread()
    weights = served("interrupted", "stall")
    interrupted: list[BaseException] = []

    main_thread = threading.main_thread().ident

    def interrupt_when_stalled() -> None:
        server.stalled.wait(10)
        time.sleep(0.2)
        signal.pthread_kill(main_thread, signal.SIGINT)  # Ctrl+C in the main thread, mid-download

    threading.Thread(target=interrupt_when_stalled, daemon=True).start()
    try:
        fetch_weights(weights, progress=False)
    except KeyboardInterrupt as error:
        interrupted.append(error)
    assert interrupted
    assert _files_under(cache_dir()) == []


def test_a_killed_download_leaves_only_a_part_file_that_is_ignored_then_cleaned(served, server, isolated) -> None:
    weights = served("killed", "stall")
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(REPOSITORY)!r})
        from torchbricks import registry
        from torchbricks.pretrained import PretrainedWeights, fetch_weights
        weights = PretrainedWeights(brick="tiny", tag="killed", sha256={weights.sha256!r}, size={weights.size},
                                    urls={weights.urls!r})
        fetch_weights(weights, progress=False)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
    try:
        assert server.stalled.wait(60), "the download did not start"
        part_files: list[Path] = []
        for _ in range(100):
            part_files = list((cache_dir() / "tiny.killed").glob("tiny-killed.safetensors.part-*"))
            if part_files and part_files[0].stat().st_size > 0:
                break
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait(30)
    assert len(part_files) == 1  # what a killed download leaves: a .part file, never the file itself
    assert not cached_path(weights).exists()

    # The next run ignores it and downloads a good file; the part file is left to a stale-file sweep.
    server.files["/tiny-killed.safetensors"] = (server.files["/tiny-killed.safetensors"][0], "ok")
    path = fetch_weights(weights, progress=False)
    assert sha256(path.read_bytes()) == weights.sha256
    assert part_files[0].exists()
    # Once it is older than a live download can be, the next download of the file removes it.
    old = time.time() - 3600
    os.utime(part_files[0], (old, old))
    path.unlink()
    fetch_weights(weights, progress=False)
    assert _files_under(cache_dir()) == ["tiny.killed/tiny-killed.safetensors"]


def test_concurrent_fetches_of_one_file_do_not_corrupt_each_other(served, server) -> None:
    weights = served("shared", payload=safetensors_bytes(3) * 50)
    paths: list[Path] = []
    failures: list[BaseException] = []

    def fetch() -> None:
        try:
            paths.append(fetch_weights(weights, progress=False))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert failures == []
    assert len(paths) == 4
    assert len(set(paths)) == 1
    assert sha256(paths[0].read_bytes()) == weights.sha256
    assert _files_under(cache_dir()) == ["tiny.shared/tiny-shared.safetensors"]


def test_a_corrupted_cache_file_is_reported_removed_and_fetched_again(served, server) -> None:
    weights = served("rotten")
    path = fetch_weights(weights, progress=False)
    path.write_bytes(b"bit rot" + path.read_bytes()[7:])

    with pytest.warns(WeightsChecksumWarning, match=r"the cache .* is not the expected file \(sha256 .*removed"):
        again = fetch_weights(weights, progress=False)

    assert again == path
    assert sha256(again.read_bytes()) == weights.sha256
    assert len(server.requests) == 2


def test_torch_hub_checkpoints_are_used_without_a_download(served, server, isolated) -> None:
    payload = safetensors_bytes(4)
    weights = served("hubbed", payload=payload)
    checkpoints = isolated / "torch-home" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / weights.file_name).write_bytes(payload)

    path = fetch_weights(weights, progress=False)

    assert path == checkpoints / weights.file_name
    assert server.requests == []
    assert _files_under(cache_dir()) == []  # used where it is, not copied


def test_a_wrong_torch_hub_file_is_passed_over_not_removed(served, server, isolated) -> None:
    weights = served("hubwrong")
    checkpoints = isolated / "torch-home" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / weights.file_name).write_bytes(b"something else")

    with pytest.warns(WeightsChecksumWarning, match="torch hub's checkpoints .* not used"):
        path = fetch_weights(weights, progress=False)

    assert path == cached_path(weights)
    assert (checkpoints / weights.file_name).read_bytes() == b"something else"  # not ours to remove


def test_offline_never_opens_a_socket_and_says_what_to_do(served, server, monkeypatch) -> None:
    weights = served("unreachable")
    monkeypatch.setenv("TORCHBRICKS_OFFLINE", "1")

    class NoSocket(socket.socket):
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("a socket was opened in offline mode")

    with monkeypatch.context() as patch:
        patch.setattr(socket, "socket", NoSocket)
        with pytest.raises(WeightsUnavailableError) as caught:
            fetch_weights(weights, progress=False)

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("Pretrained weights 'tiny.unreachable' (tiny-unreachable.safetensors) are not available")
    assert "TORCHBRICKS_OFFLINE=1 is set" in message
    assert f"the cache {cached_path(weights)}" in message
    assert "torch hub's checkpoints" in message
    assert "no mirror folder (TORCHBRICKS_WEIGHTS_MIRROR is not set)" in message
    assert "`torchbricks weights mirror DIR tiny.unreachable`" in message
    assert "TORCHBRICKS_WEIGHTS_MIRROR=DIR" in message
    assert server.requests == []


def test_a_mirror_folder_serves_an_air_gapped_fetch(served, server, tmp_path, monkeypatch) -> None:
    # On the connected machine: fill a mirror folder.
    weights = served("carried")
    other = served("flat", payload=safetensors_bytes(5))
    mirror = tmp_path / "usb-stick"
    written = mirror_weights(mirror, ["tiny.carried"], progress=False)
    assert written == [mirror / "tiny.carried" / "tiny-carried.safetensors"]
    shutil.copyfile(fetch_weights(other, progress=False), mirror / other.file_name)  # a flat mirror: files by name
    requests = len(server.requests)

    # On the offline machine: an empty cache, no network, the mirror.
    shutil.rmtree(cache_dir())
    monkeypatch.setenv("TORCHBRICKS_OFFLINE", "1")
    monkeypatch.setenv("TORCHBRICKS_WEIGHTS_MIRROR", os.pathsep.join([str(tmp_path / "missing"), str(mirror)]))

    assert fetch_weights("tiny.carried", progress=False) == written[0]
    assert fetch_weights("tiny.flat", progress=False) == mirror / other.file_name
    assert sorted(read_state_dict(weights, written[0])) == ["fc.weight", "linear.bias", "linear.weight"]
    assert len(server.requests) == requests


def test_a_wrong_mirror_file_is_refused(served, tmp_path, monkeypatch) -> None:
    weights = served("tampered")
    mirror = tmp_path / "mirror"
    (mirror / weights.name).mkdir(parents=True)
    (mirror / weights.name / weights.file_name).write_bytes(b"tampered")
    monkeypatch.setenv("TORCHBRICKS_OFFLINE", "1")
    monkeypatch.setenv("TORCHBRICKS_WEIGHTS_MIRROR", str(mirror))

    with pytest.warns(WeightsChecksumWarning), pytest.raises(WeightsUnavailableError, match=r"wrong file: size 8"):
        fetch_weights(weights, progress=False)
    assert (mirror / weights.name / weights.file_name).read_bytes() == b"tampered"


def test_an_explicit_file_is_checked(served, tmp_path) -> None:
    payload = safetensors_bytes(6)
    weights = served("explicit", payload=payload)
    good, bad = tmp_path / "good.safetensors", tmp_path / "bad.safetensors"
    good.write_bytes(payload)
    bad.write_bytes(payload[:-1])

    assert fetch_weights(weights, file=good) == good
    with pytest.raises(WeightsChecksumError, match=rf"{bad}.* size {len(payload) - 1} bytes, expected {len(payload)}"):
        fetch_weights(weights, file=bad)
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        fetch_weights(weights, file=tmp_path / "missing")


def test_http_errors_and_unreachable_servers_are_named(register, server) -> None:
    payload = safetensors_bytes()
    missing = register(brick="tiny", tag="gone", sha256=sha256(payload), urls=(f"{server.base_url}/gone.bin",))
    with pytest.raises(WeightsUnavailableError, match=r"download failed: http://127\.0\.0\.1:\d+/gone\.bin: HTTP 404"):
        fetch_weights(missing, progress=False)

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    refused = register(brick="tiny", tag="refused", sha256=sha256(payload), urls=(f"http://127.0.0.1:{port}/w.bin",))
    with pytest.raises(WeightsUnavailableError, match=r"download failed: .*w\.bin: ConnectionRefusedError"):
        fetch_weights(refused, progress=False)


def test_the_next_url_is_tried_when_one_fails(register, server) -> None:
    payload = safetensors_bytes(7)
    good = server.serve("good.safetensors", payload)
    weights = register(
        brick="tiny", tag="fallback", sha256=sha256(payload), urls=(f"{server.base_url}/missing.bin", good)
    )
    path = fetch_weights(weights, progress=False)
    assert path.name == "missing.bin"  # the file name comes from the first URL, wherever the bytes came from
    assert sha256(path.read_bytes()) == weights.sha256


def test_a_package_file_is_used_first(register, server) -> None:
    shipped = REPOSITORY / "tests" / "pretrained" / "__init__.py"
    weights = register(
        brick="tiny", tag="shipped", sha256=sha256(shipped.read_bytes()), package_file="tests.pretrained:__init__.py"
    )
    assert fetch_weights(weights, progress=False) == shipped
    assert isinstance(WeightsUnavailableError("x"), WeightsError)


def test_an_entry_without_sources_names_that(register) -> None:
    weights = register(brick="tiny", tag="nowhere", sha256="ab" * 32)
    with pytest.raises(WeightsUnavailableError, match="the entry names no download source"):
        fetch_weights(weights, progress=False)
