"""Downloading a weights file over HTTP(S): streamed to a temporary file, hashed on the way, renamed when it checks.

The bytes go to ``<file>.part-<random>`` next to the target (a unique name per download, so processes
fetching the same file never write into each other's); the sha256 and size are computed while
streaming, and the temporary file is renamed onto the target (atomic) only when they match the entry.
Anything else removes it: a wrong checksum (:class:`BadDownloadError`, expected vs got), a server
that sends more than the entry's size (reading stops there), a broken connection, ``KeyboardInterrupt``.
A process killed mid-download leaves only its ``.part-*`` file, which no lookup reads and which a
later download of the same file removes once it is older than :data:`STALE_PART_SECONDS`.

Example:
    >>> part_files_of(Path("/cache/resnet18.imagenet1k_v1/resnet18-f37072fd.pth")).pattern
    'resnet18-f37072fd.pth.part-*'
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from torchbricks._environment import DOWNLOAD_TIMEOUT, seconds
from torchbricks._files import default_file_mode
from torchbricks.pretrained._checks import CHUNK_BYTES, digest_problem
from torchbricks.pretrained._spec import PretrainedWeights

DEFAULT_TIMEOUT = 60.0
"""Seconds to wait for the server to answer or to send more bytes (``TORCHBRICKS_DOWNLOAD_TIMEOUT``)."""
STALE_PART_SECONDS = 600.0
"""A ``.part-*`` file not written to for this long belongs to a download that died (a live one writes every
few seconds, or gives up after the timeout); the next download of that file removes it."""


class SourceFailureError(Exception):
    """A source could not deliver the file (HTTP error, no connection, broken off); the message says why."""


class BadDownloadError(SourceFailureError):
    """A source delivered another file than the entry's (sha256 or size differ): expected vs got."""


@dataclass(frozen=True)
class _PartFiles:
    folder: Path
    pattern: str


def part_files_of(target: Path) -> _PartFiles:
    """The temporary files of downloads of ``target``: ``<target name>.part-*`` in its folder."""
    return _PartFiles(target.parent, f"{target.name}.part-*")


def remove_stale_parts(target: Path, older_than: float = STALE_PART_SECONDS) -> list[Path]:
    """Remove ``.part-*`` files of ``target`` not modified for ``older_than`` seconds; returns those removed."""
    parts = part_files_of(target)
    removed = []
    now = time.time()
    try:
        candidates = list(parts.folder.glob(parts.pattern))
    except OSError:
        return removed
    for path in candidates:
        try:
            if now - path.lstat().st_mtime > older_than:
                path.unlink()
                removed.append(path)
        except OSError:  # gone already (another process cleaned it), or not ours to remove
            continue
    return removed


def download(url: str, target: Path, weights: PretrainedWeights, *, progress: bool = True) -> Path:
    """Download ``url`` to ``target`` when its sha256 (and size) match ``weights``; returns ``target``.

    Raises :class:`SourceFailureError` when the server cannot deliver, :class:`BadDownloadError` when what it
    delivered is not the file (expected vs got); ``target`` is then untouched and no temporary file is left.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(target)
    timeout = seconds(DOWNLOAD_TIMEOUT, DEFAULT_TIMEOUT)
    request = urllib.request.Request(url, headers={"User-Agent": "torchbricks", "Accept-Encoding": "identity"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        raise SourceFailureError(f"{url}: HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise SourceFailureError(f"{url}: {_reason(error.reason)}") from None
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise SourceFailureError(f"{url}: {_reason(error)}") from None
    with response:
        announced = _content_length(response)
        if weights.size is not None and announced is not None and announced != weights.size:
            raise BadDownloadError(
                f"{url} announces {announced} bytes, expected {weights.size}; nothing was downloaded"
            )
        total = weights.size if weights.size is not None else announced
        descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=f"{target.name}.part-")
        part = Path(name)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                sha256, received = _stream(response, handle, url, total, announced, progress, weights.name)
                handle.flush()
                os.fsync(handle.fileno())
            problem = digest_problem(weights, sha256, received)
            if problem:
                raise BadDownloadError(f"{url} sent another file: {problem}; the download was deleted")
            os.chmod(part, default_file_mode())
            os.replace(part, target)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    return target


def _stream(
    response: Any, handle: IO[bytes], url: str, limit: int | None, announced: int | None, progress: bool, name: str
) -> tuple[str, int]:
    """Copy the response into ``handle``, hashing it.

    ``limit`` is the entry's size, else the announced length: at most ``limit + 1`` bytes are read, so a
    server that sends more fills no disk (the size check, or :class:`BadDownloadError`, refuses the file).
    """
    digest = hashlib.sha256()
    received = 0
    bar = _progress_bar(name, limit) if progress else None
    try:
        while True:
            wanted = CHUNK_BYTES if limit is None else min(CHUNK_BYTES, limit + 1 - received)
            try:
                chunk = response.read1(wanted) if wanted > 0 else b""  # what has arrived, up to ``wanted``
            except (OSError, http.client.HTTPException) as error:
                raise SourceFailureError(
                    f"{url}: the download broke off after {received}"
                    f"{f' of {limit}' if limit is not None else ''} bytes ({_reason(error)})"
                ) from None
            if not chunk:
                break
            digest.update(chunk)
            handle.write(chunk)
            handle.flush()  # on disk as it arrives: the part file's time shows that the download is alive
            received += len(chunk)
            if bar is not None:
                bar.advance(len(chunk))
            if limit is not None and received > limit:
                break  # the check reports it: the size differs; nothing more is read from a server that overflows
    finally:
        if bar is not None:
            bar.close()
    if announced is not None and received < announced:
        raise SourceFailureError(f"{url}: the download broke off after {received} of {announced} bytes")
    if announced is not None and received > announced:
        raise BadDownloadError(f"{url} sent more than the {announced} bytes it announced; the download was deleted")
    return digest.hexdigest(), received


class _Bar:
    """A rich progress bar on standard error (a terminal only)."""

    def __init__(self, name: str, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.progress.add_task(f"downloading {name}", total=total)
        self.progress.start()

    def advance(self, count: int) -> None:
        self.progress.advance(self.task, count)

    def close(self) -> None:
        self.progress.stop()


def _progress_bar(name: str, total: int | None) -> _Bar | None:
    if total is None or not sys.stderr.isatty():
        return None
    return _Bar(name, total)


def _content_length(response: Any) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _reason(error: object) -> str:
    if isinstance(error, BaseException):
        text = str(error)
        return f"{type(error).__name__}: {text}" if text else type(error).__name__
    return str(error)
