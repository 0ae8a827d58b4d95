"""``<file>.sha256`` beside a mirrored weights file: its sha256 in ``sha256sum`` format.

``torchbricks weights mirror`` writes one beside every file it copies, so ``sha256sum -c`` checks a mirror
folder anywhere. For a Hub entry that records no sha256 (the Hub publishes it), a mirror file's sidecar is
what the file is checked against when the Hub cannot be asked: a mirror folder is the user's own carry.

Example:
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "model.safetensors"
    >>> write_sidecar(path, "AB" * 32).name
    'model.safetensors.sha256'
    >>> sidecar_path(path).read_text() == "ab" * 32 + "  model.safetensors\\n"
    True
    >>> read_sidecar(path) == "ab" * 32, read_sidecar(path.with_name("other.safetensors"))
    (True, None)
"""

from __future__ import annotations

import re
from pathlib import Path

from torchbricks._files import atomic_write_bytes
from torchbricks.pretrained._checks import is_regular_file

SUFFIX = ".sha256"
MAX_SIDECAR_BYTES = 64 * 1024
"""A sidecar is one line; a bigger file is not one (and is not read whole)."""
_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


def sidecar_path(path: Path) -> Path:
    """``<path>.sha256``, beside the file."""
    return path.with_name(path.name + SUFFIX)


def sidecar_text(sha256: str, file_name: str) -> str:
    """One ``sha256sum`` line: ``<sha256>  <file name>``."""
    return f"{sha256.lower()}  {file_name}\n"


def write_sidecar(path: Path, sha256: str) -> Path:
    """Write ``<path>.sha256`` for ``path`` (atomically); returns the sidecar's path."""
    sidecar = sidecar_path(path)
    atomic_write_bytes(sidecar, sidecar_text(sha256, path.name).encode())
    return sidecar


def read_sidecar(path: Path) -> str | None:
    """The sha256 that ``<path>.sha256`` gives for ``path``'s name, or ``None`` (no sidecar, another file's,
    not ``sha256sum`` format)."""
    sidecar = sidecar_path(path)
    if not is_regular_file(sidecar):
        return None
    try:
        with open(sidecar, "rb") as handle:
            text = handle.read(MAX_SIDECAR_BYTES).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if match and match.group(2).strip() == path.name:
            return match.group(1).lower()
    return None
