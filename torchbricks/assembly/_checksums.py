"""``checksums.sha256``: the sha256 of every file of a model folder, in ``sha256sum`` format.

One line per file, ``<64 hex digits>  <path relative to the folder>``, sorted by path, ``/`` as separator;
``sha256sum -c checksums.sha256`` run inside the folder checks it too. The file does not list itself.
:func:`save_model` writes it inside the staging folder, before the swap, so it always describes the
folder it is in. :func:`compare_checksums` says which files changed, are missing, or are not covered
(added later, like the ``model.onnx`` that ``predict --onnx`` keeps).

A folder is untrusted: a listed path that is absolute, climbs out (``..``) or is not a regular file
inside the folder counts as changed, never as something to read elsewhere.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "config.json").write_text("{}")
    >>> _ = write_checksums(folder)
    >>> compare_checksums(folder).ok
    True
    >>> _ = (folder / "config.json").write_text('{"a": 1}')
    >>> compare_checksums(folder).changed
    ('config.json',)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from torchbricks._files import atomic_write_bytes
from torchbricks.errors import ChecksumMismatchError

CHECKSUMS_FILE = "checksums.sha256"
_LINE = re.compile(r"^(?P<digest>[0-9a-fA-F]{64}) [ *](?P<path>.+)$")
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, in hex (read in 1 MiB chunks).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "empty"
        >>> _ = path.write_bytes(b"")
        >>> file_sha256(path)[:16]
        'e3b0c44298fc1c14'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def folder_files(folder: Path) -> list[str]:
    """Every regular file under ``folder`` (symbolic links not followed), as sorted relative POSIX paths.

    ``checksums.sha256`` itself is left out.
    """
    found = []
    for path in Path(folder).rglob("*"):
        if path.is_symlink() or not path.is_file() or any(parent.is_symlink() for parent in _parents(path, folder)):
            continue
        relative = path.relative_to(folder).as_posix()
        if relative != CHECKSUMS_FILE:
            found.append(relative)
    return sorted(found)


def _parents(path: Path, folder: Path) -> Iterable[Path]:
    parent = path.parent
    while parent != folder and parent != parent.parent:
        yield parent
        parent = parent.parent


def checksums_text(digests: Mapping[str, str]) -> str:
    """``sha256sum`` lines (sorted by path) of ``{relative path: hex digest}``."""
    return "".join(f"{digests[path]}  {path}\n" for path in sorted(digests))


def write_checksums(folder: str | Path, files: Iterable[str] | None = None) -> Path:
    """Hash every file of ``folder`` (or the given relative ``files``) into ``folder/checksums.sha256``."""
    folder = Path(folder)
    names = folder_files(folder) if files is None else sorted(files)
    path = folder / CHECKSUMS_FILE
    atomic_write_bytes(path, checksums_text({name: file_sha256(folder / name) for name in names}).encode())
    return path


def update_checksum(folder: str | Path, name: str) -> None:
    """Re-hash one file (``README.md`` after ``torchbricks card``) in ``checksums.sha256``, keeping every other line.

    Does nothing when the folder has no ``checksums.sha256`` (a folder saved before checksums existed).
    """
    folder = Path(folder)
    if not (folder / CHECKSUMS_FILE).is_file():
        return
    digests = read_checksums(folder)
    digests[name] = file_sha256(folder / name)
    atomic_write_bytes(folder / CHECKSUMS_FILE, checksums_text(digests).encode())


def read_checksums(folder: str | Path) -> dict[str, str]:
    """``{relative path: hex digest}`` from ``folder/checksums.sha256``.

    A line that is not ``<64 hex digits>  <path>`` is :class:`~torchbricks.errors.ChecksumMismatchError`
    naming the line.
    """
    path = Path(folder) / CHECKSUMS_FILE
    if path.is_symlink() or not path.is_file():
        raise ChecksumMismatchError(f"'{path}' is missing or not a regular file")
    digests: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            raise ChecksumMismatchError(f"'{path}' line {number} is not '<sha256>  <file>': {line[:120]!r}")
        digests[match["path"]] = match["digest"].lower()
    return digests


@dataclass(frozen=True)
class ChecksumReport:
    """What :func:`compare_checksums` found; paths are relative to the folder."""

    changed: tuple[str, ...]
    """Listed files whose bytes differ (or that are not regular files inside the folder)."""
    missing: tuple[str, ...]
    """Listed files that are gone."""
    not_covered: tuple[str, ...]
    """Files in the folder that ``checksums.sha256`` does not list (added after the save)."""
    checked: int
    """How many listed files were hashed."""

    @property
    def ok(self) -> bool:
        """No listed file changed or is missing (files not covered do not count)."""
        return not (self.changed or self.missing)

    def problems(self, strict: bool = False) -> list[str]:
        """One line per file that fails the check (with ``strict``, files not covered too)."""
        lines = [f"{name}: changed (its sha256 differs from {CHECKSUMS_FILE})" for name in self.changed]
        lines += [f"{name}: missing (listed in {CHECKSUMS_FILE})" for name in self.missing]
        if strict:
            lines += [f"{name}: not covered by {CHECKSUMS_FILE} (added after the save)" for name in self.not_covered]
        return lines


def compare_checksums(folder: str | Path, only: Iterable[str] | None = None) -> ChecksumReport:
    """Re-hash the files ``checksums.sha256`` lists (or those of them under the prefixes ``only``).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "a.bin").write_bytes(b"1")
        >>> _ = write_checksums(folder)
        >>> _ = (folder / "model.onnx").write_bytes(b"onnx")
        >>> report = compare_checksums(folder)
        >>> report.ok, report.not_covered
        (True, ('model.onnx',))
    """
    folder = Path(folder)
    listed = read_checksums(folder)
    prefixes = tuple(only) if only is not None else None
    changed, missing = [], []
    checked = 0
    for name, digest in sorted(listed.items()):
        if prefixes is not None and not name.startswith(prefixes):
            continue
        path = _inside(folder, name)
        if path is None:
            changed.append(name)
            continue
        if not path.exists() and not path.is_symlink():
            missing.append(name)
            continue
        if path.is_symlink() or not path.is_file():
            changed.append(name)
            continue
        checked += 1
        if file_sha256(path) != digest:
            changed.append(name)
    not_covered = () if prefixes is not None else tuple(name for name in folder_files(folder) if name not in listed)
    return ChecksumReport(tuple(changed), tuple(missing), not_covered, checked)


def _inside(folder: Path, name: str) -> Path | None:
    """``folder/name`` when ``name`` is a relative path that stays inside the folder, else ``None``."""
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or "\\" in name or not pure.parts:
        return None
    path = folder.joinpath(*pure.parts)
    if any(parent.is_symlink() for parent in _parents(path, folder)):
        return None
    return path


def check_weights_checksums(folder: str | Path, weights_folder: str) -> None:
    """Raise :class:`~torchbricks.errors.ChecksumMismatchError` naming each listed weight file whose bytes changed.

    What :func:`~torchbricks.assembly.load_model` runs (``verify=True``) when the folder has ``checksums.sha256``.
    A missing weight file is left to the loading itself (an error with ``strict``, a warning without), as are
    weights in the original torchbricks' ``.pt`` files put in place of the saved ones.
    """
    report = compare_checksums(folder, only=[f"{weights_folder}/"])
    if report.changed:
        raise ChecksumMismatchError(
            f"The model in '{folder}' is damaged: "
            + "; ".join(f"{name}: changed (its sha256 differs from {CHECKSUMS_FILE})" for name in report.changed)
            + f". Run `torchbricks verify {folder}` for a full check; load_model(..., verify=False) loads it anyway"
        )
