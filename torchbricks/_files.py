"""Atomic file writes: the one way torchbricks writes a file (weights, ONNX, registry cache).

A file is written to a temporary sibling, flushed to disk and renamed into place, so a reader sees
the old file or the new one, never half of one. The file gets the permissions the umask gives (as
``open`` would), not ``mkstemp``'s private 0600.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> target = Path(tempfile.mkdtemp()) / "hello.txt"
    >>> atomic_write_bytes(target, b"hello")
    >>> target.read_bytes()
    b'hello'
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def current_umask() -> int:
    """The process umask (read by setting it and setting it back)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def default_file_mode() -> int:
    """The mode ``open()`` would give a new file: ``0o666`` less the umask."""
    return 0o666 & ~current_umask()


def default_folder_mode() -> int:
    """The mode ``mkdir`` would give a new folder: ``0o777`` less the umask."""
    return 0o777 & ~current_umask()


def atomic_write_bytes(target: Path, payload: bytes, durable: bool = True) -> None:
    """Write ``payload`` to ``target`` through a temporary file and a rename (never half-written)."""
    atomic_write(target, lambda temporary: temporary.write_bytes(payload), durable)


def atomic_write(target: Path, write: Callable[[Path], object], durable: bool = True) -> None:
    """Call ``write(temporary_path)``, then rename the temporary file onto ``target``.

    On any failure (or interruption) the temporary file is removed and ``target`` is unchanged.
    ``durable=False`` skips the ``fsync`` before the rename (many small outputs, e.g. ``predict``'s masks:
    still never half-written, but a power cut may lose the last ones).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        os.close(descriptor)
        write(temporary)
        if durable:
            with open(temporary, "rb+") as handle:
                os.fsync(handle.fileno())
        os.chmod(temporary, default_file_mode())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
