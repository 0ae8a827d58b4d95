"""Replacing a folder as a whole: the new one appears in one step, or nothing changes.

On Linux, ``renameat2(RENAME_EXCHANGE)`` swaps two folders atomically; elsewhere (or on a file
system without it) the old folder is first renamed aside, which leaves a short moment without the
folder but never a mix of old and new files.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "new").mkdir(); _ = (root / "new" / "a.txt").write_text("new")
    >>> (root / "model").mkdir(); _ = (root / "model" / "a.txt").write_text("old")
    >>> replace_folder(root / "new", root / "model")
    >>> (root / "model" / "a.txt").read_text(), (root / "new").exists()
    ('new', False)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def replace_folder(new: Path, target: Path) -> None:
    """Move the complete folder ``new`` to ``target``, replacing what is there; ``new`` is gone afterwards."""
    _fsync_tree(new)
    if not target.exists():
        try:
            os.rename(new, target)
            _fsync_folder(target.parent)
            return
        except OSError:
            if not target.exists():
                raise
    if _exchange(new, target):
        _fsync_folder(target.parent)
        shutil.rmtree(new, ignore_errors=True)  # now holds the old folder
        return
    retired = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
    os.rename(target, retired / "model")
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(retired / "model", target)  # put the old folder back: never leave neither
        shutil.rmtree(retired, ignore_errors=True)
        raise
    _fsync_folder(target.parent)
    shutil.rmtree(retired, ignore_errors=True)


def _exchange(first: Path, second: Path) -> bool:
    """Atomically swap two paths with ``renameat2``; False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    result = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    return result == 0


def _fsync_tree(folder: Path) -> None:
    for root, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(root, name), "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_folder(Path(root))


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
