"""Checking a weights file against its entry: sha256 (whole, or the prefix the upstream publishes) and size.

Only regular files are read (a FIFO or a folder where a file should be is a failed check, never a hang).

Example:
    >>> import hashlib, tempfile
    >>> from pathlib import Path
    >>> from torchbricks.pretrained._spec import PretrainedWeights
    >>> path = Path(tempfile.mkdtemp()) / "w.bin"
    >>> _ = path.write_bytes(b"weights")
    >>> digest = hashlib.sha256(b"weights").hexdigest()
    >>> check_file(PretrainedWeights(brick="tiny", tag="demo", sha256=digest, size=7), path).ok
    True
    >>> check = check_file(PretrainedWeights(brick="tiny", tag="demo", sha256=digest[:8], sha256_is_prefix=True,
    ...                                      size=8), path)
    >>> check.ok, check.problem.startswith("size 7 bytes, expected 8")
    (False, True)
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from torchbricks.pretrained._spec import PretrainedWeights

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class FileCheck:
    """The outcome of checking one file: its sha256 and size, and the problem (``""`` when it passed)."""

    path: Path
    sha256: str
    size: int
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem

    def to_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "size": self.size,
            "ok": self.ok,
            "problem": self.problem,
        }


def expected_sha256(weights: PretrainedWeights) -> str:
    """The expected sha256 as shown in messages: the digits, and ``(prefix)`` when only a prefix is known."""
    return f"{weights.sha256} (prefix)" if weights.sha256_is_prefix else weights.sha256


def digest_problem(weights: PretrainedWeights, sha256: str, size: int) -> str:
    """What is wrong with a file of this ``sha256`` and ``size`` for ``weights``: expected vs got; ``""`` if nothing."""
    problems = []
    if weights.size is not None and size != weights.size:
        problems.append(f"size {size} bytes, expected {weights.size}")
    matches = sha256.startswith(weights.sha256) if weights.sha256_is_prefix else sha256 == weights.sha256
    if not matches:
        problems.append(f"sha256 {sha256}, expected {expected_sha256(weights)}")
    return "; ".join(problems)


def hash_file(path: Path) -> tuple[str, int]:
    """``(sha256, size)`` of a regular file; ``OSError`` for anything else (a FIFO is refused, not waited on)."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise IsADirectoryError(f"not a regular file: {path}")
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
        return digest.hexdigest(), size
    finally:
        os.close(descriptor)


def check_file(weights: PretrainedWeights, path: Path) -> FileCheck:
    """Hash ``path`` and compare it with ``weights`` (size too, when the entry gives one)."""
    try:
        sha256, size = hash_file(path)
    except OSError as error:
        return FileCheck(Path(path), "", 0, f"cannot be read: {type(error).__name__}: {error}")
    return FileCheck(Path(path), sha256, size, digest_problem(weights, sha256, size))


def is_regular_file(path: Path) -> bool:
    """Whether ``path`` is a regular file (following links); never raises."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False
