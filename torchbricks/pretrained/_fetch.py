"""Finding a verified local file for pretrained weights: files on disk first, the network only when needed.

The order: an explicit file → a file shipped in a package (``package_file``) → the cache → torch hub's
checkpoints (where torchvision downloads) → the Hugging Face cache (Hub entries) → mirror folders
(``TORCHBRICKS_WEIGHTS_MIRROR``) → the entry's URLs, then its Hub file, unless ``TORCHBRICKS_OFFLINE=1``
(then no socket is opened; ``HF_HUB_OFFLINE`` stops Hub downloads only). Every file is hashed and
compared with the entry before it is returned; one that fails is reported (a
:class:`~torchbricks.errors.WeightsChecksumWarning`) and passed over, and removed when it is in the cache.
When nothing works, one line names the weights, every place looked in, what failed, and the command that
fetches them on a connected machine. A Hub entry that records no sha256 is checked against the one the Hub
publishes, looked up first (:mod:`torchbricks.pretrained._hub_sha256`). ``mirror_weights`` writes
``<file>.sha256`` beside every file it copies (:mod:`torchbricks.pretrained._sidecar`).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import warnings
from pathlib import Path

from torchbricks._environment import OFFLINE, WEIGHTS_MIRROR
from torchbricks._files import atomic_write
from torchbricks.errors import WeightsChecksumError, WeightsChecksumWarning, WeightsUnavailableError
from torchbricks.pretrained import _hub
from torchbricks.pretrained._catalog import find_weights, list_weights
from torchbricks.pretrained._checks import FileCheck, check_file, is_regular_file
from torchbricks.pretrained._download import BadDownloadError, SourceFailureError, download
from torchbricks.pretrained._hub_sha256 import cached_blob_sha256, resolve_hub_sha256
from torchbricks.pretrained._locations import (
    HF_HUB_OFFLINE,
    cached_path,
    hub_offline,
    mirror_folders,
    mirror_paths,
    offline,
    torch_hub_path,
)
from torchbricks.pretrained._sidecar import read_sidecar, write_sidecar
from torchbricks.pretrained._spec import PretrainedWeights


class _Search:
    """The places looked in for one entry, and what went wrong, for the one-line error."""

    def __init__(self, weights: PretrainedWeights, expected_from: str = "") -> None:
        self.weights = weights
        self.expected_from = expected_from
        """Where the expected sha256 came from, when the entry records none (a Hub entry)."""
        self.looked: list[str] = []
        self.failures: list[str] = []
        self.bad_download = False

    def problem(self, check: FileCheck) -> str:
        """What is wrong with the checked file, and where the expected sha256 came from when not the entry."""
        return f"{check.problem}, from {self.expected_from}" if self.expected_from else check.problem

    def local(self, place: str, path: Path, *, ours: bool = False) -> Path | None:
        """``path`` when it holds the right file; otherwise record the place (and warn about a wrong file)."""
        if not is_regular_file(path):
            self.looked.append(f"{place} {path}")
            return None
        before = _identity(path)
        check = check_file(self.weights, path)
        if check.ok:
            return path
        removed = ours and _remove_if_unchanged(path, before)
        action = "removed; it will be downloaded again" if removed else "not used"
        message = (
            f"Pretrained weights '{self.weights.name}': {place} {path} is not the expected file "
            f"({self.problem(check)}); {action}"
        )
        warnings.warn(message, WeightsChecksumWarning, stacklevel=4)
        self.looked.append(f"{place} {path} (wrong file: {check.problem})")
        return None

    def error(self, reason: str) -> WeightsUnavailableError | WeightsChecksumError:
        """The one-line error: ``reason`` (or what failed), the places looked in, the command to run elsewhere."""
        name = self.weights.name
        problems = "; ".join(self.failures or [reason])
        message = (
            f"Pretrained weights '{name}' ({self.weights.file_name}) are not available: {problems}. "
            f"Looked in: {', '.join(self.looked)}. To fetch them on a machine with network: "
            f"`torchbricks weights mirror DIR {name}`, then copy DIR here and set {WEIGHTS_MIRROR}=DIR"
        )
        return WeightsChecksumError(message) if self.bad_download else WeightsUnavailableError(message)


def fetch_weights(
    weights_or_name: PretrainedWeights | str | tuple[str, str],
    *,
    progress: bool = True,
    file: str | os.PathLike[str] | None = None,
) -> Path:
    """A local file of the weights, checked against their sha256 (and size): found on disk or downloaded.

    ``weights_or_name`` is a :class:`PretrainedWeights` or a name for :func:`find_weights`; ``file`` an
    explicit file to use (it must pass the check). ``progress`` shows a progress bar while downloading
    (on a terminal). Raises :class:`~torchbricks.errors.WeightsUnavailableError` when the file is nowhere
    and cannot be downloaded, :class:`~torchbricks.errors.WeightsChecksumError` when what was found or
    downloaded is not the file.

    An entry without a sha256 (a Hub file whose upstream publishes none, ``sha256=""``) is checked against the
    sha256 the Hub publishes, looked up now (:mod:`torchbricks.pretrained._hub_sha256`): the Hugging Face
    cache's blob name, a mirror's ``<file>.sha256``, else the Hub's etag (one HEAD request, unless offline).
    """
    return fetch_checked(find_weights(weights_or_name), progress=progress, file=file)[0]


def fetch_checked(
    weights: PretrainedWeights, *, progress: bool = True, file: str | os.PathLike[str] | None = None
) -> tuple[Path, PretrainedWeights]:
    """:func:`fetch_weights` of an entry, and the entry the file was checked against (the Hub's sha256 filled in
    for an entry that records none)."""
    search = _Search(weights)
    if weights.sha256_from_hub:
        published = resolve_hub_sha256(weights)
        if published.sha256 is None:
            search.looked.extend(published.looked)
            search.failures.extend(published.failures)
            raise search.error("there is no sha256 to check the file against")
        size = weights.size if weights.size is not None else published.size
        weights = dataclasses.replace(weights, sha256=published.sha256, size=size)
        search = _Search(weights, published.origin)
    return _fetch(weights, search, progress, file), weights


def _fetch(weights: PretrainedWeights, search: _Search, progress: bool, file: str | os.PathLike[str] | None) -> Path:
    if file is not None:
        return _explicit(weights, Path(file), search)
    for place, path, ours in local_places(weights):
        found = search.local(place, path, ours=ours)
        if found is not None:
            return found
    if weights.hub is not None:
        found = _hub_cache(weights, search)
        if found is not None:
            return found
    for folder in mirror_folders():
        for path in mirror_paths(weights, folder):
            found = search.local("the mirror folder file", path)
            if found is not None:
                return found
    if not mirror_folders():
        search.looked.append(f"no mirror folder ({WEIGHTS_MIRROR} is not set)")
    if offline():
        raise search.error(f"{OFFLINE}=1 is set, so nothing was downloaded")
    return _download(weights, search, progress)


def local_places(weights: PretrainedWeights) -> list[tuple[str, Path, bool]]:
    """``(place, path, ours)`` of the files on disk that may hold ``weights``, before the Hub cache and mirrors."""
    places: list[tuple[str, Path, bool]] = []
    if weights.package_file is not None:
        places.append(("the package file", package_file_path(weights.package_file), False))
    places.append(("the cache", cached_path(weights), True))
    hub_checkpoint = torch_hub_path(weights)
    if hub_checkpoint is not None:
        places.append(("torch hub's checkpoints", hub_checkpoint, False))
    return places


def package_file_path(package_file: str) -> Path:
    """The file ``"package:relative/path"`` names, inside the installed package (imports the package)."""
    import importlib.resources

    package, _, relative = package_file.partition(":")
    try:
        root = importlib.resources.files(package)
    except (ImportError, TypeError, ValueError):
        return Path(package.replace(".", "/")) / relative
    return Path(str(root.joinpath(relative)))


def _explicit(weights: PretrainedWeights, path: Path, search: _Search) -> Path:
    if not is_regular_file(path):
        raise WeightsUnavailableError(f"Pretrained weights '{weights.name}': the file {path} does not exist")
    check = check_file(weights, path)
    if not check.ok:
        raise WeightsChecksumError(
            f"Pretrained weights '{weights.name}': {path} is not the expected file: {search.problem(check)}"
        )
    return path


def _hub_cache(weights: PretrainedWeights, search: _Search) -> Path | None:
    assert weights.hub is not None
    hub = weights.hub
    where = f"{hub.repo_id}/{hub.filename}@{hub.revision}"
    if not _hub.hub_installed():
        search.looked.append(f"not the Hugging Face cache ({_hub.INSTALL_HINT} to use it)")
        return None
    cached = _hub.hub_cached(hub)
    if cached is None:
        search.looked.append(f"the Hugging Face cache {_hub.hub_cache_folder()} ({where})")
        return None
    return search.local(f"the Hugging Face cache file of {where}", cached)


def _download(weights: PretrainedWeights, search: _Search, progress: bool) -> Path:
    target = cached_path(weights)
    for url in weights.urls:
        try:
            return download(url, target, weights, progress=progress)
        except BadDownloadError as failure:
            search.bad_download = True
            search.failures.append(f"download refused: {failure}")
        except SourceFailureError as failure:
            search.failures.append(f"download failed: {failure}")
    if weights.hub is not None:
        hub = weights.hub
        where = f"{hub.repo_id}/{hub.filename}@{hub.revision}"
        if hub_offline():
            search.failures.append(
                f"{HF_HUB_OFFLINE}=1 is set, so {where} was not downloaded from the Hugging Face Hub"
            )
        else:
            try:
                path = _hub.hub_download(hub, f"Pretrained weights '{weights.name}'", progress=progress)
            except (ImportError, KeyboardInterrupt):
                raise
            except Exception as error:  # huggingface_hub's errors: no connection, no such repo or file, ...
                search.failures.append(
                    f"the Hugging Face Hub ({where}) failed: {type(error).__name__}: {_one_line(error)}"
                )
            else:
                check = check_file(weights, path)
                if check.ok:
                    return path
                search.bad_download = True
                search.failures.append(
                    f"the Hugging Face Hub's {where} ({path}) is not the expected file: {search.problem(check)}"
                )
    if not weights.urls and weights.hub is None:
        search.failures.append("the entry names no download source")
    return _raise(search)


def _raise(search: _Search) -> Path:
    raise search.error("no source delivered the file")


def verify_cached(names: list[str] | None = None) -> dict[str, FileCheck]:
    """Hash the cached files of the named weights (all registered weights by default): ``{name: check}``.

    A Hub entry that records no sha256 has its file in the Hugging Face cache checked against its blob's name
    (the sha256 the Hub published). Weights that are not cached are left out. Nothing is removed or downloaded.
    """
    selected = [find_weights(name) for name in names] if names else list_weights()
    checks = {}
    for weights in selected:
        path = cached_path(weights)
        if weights.sha256_from_hub:
            found = _hub_cache_check(weights)
            if found is not None:
                checks[weights.name] = found
        elif is_regular_file(path):
            checks[weights.name] = check_file(weights, path)
    return checks


def _hub_cache_check(weights: PretrainedWeights) -> FileCheck | None:
    """The Hugging Face cache file of a Hub entry without a sha256, checked against its blob's name."""
    assert weights.hub is not None
    cached, sha256, problem = cached_blob_sha256(weights.hub)
    if cached is None:
        return None
    if sha256 is None:
        return dataclasses.replace(check_file(weights, cached), problem=f"cannot be checked: {problem}")
    return check_file(dataclasses.replace(weights, sha256=sha256), cached)


def mirror_weights(
    folder: str | os.PathLike[str], names: list[str] | tuple[str, ...], *, progress: bool = True
) -> list[Path]:
    """Fill ``folder`` with the verified files of the named weights, laid out as ``<folder>/<name>/<file>``,
    each with ``<file>.sha256`` beside it (``sha256sum`` format: ``sha256sum -c`` checks the folder).

    Files come from wherever :func:`fetch_weights` finds them (downloaded if needed). Carry the folder to
    an offline machine and set ``TORCHBRICKS_WEIGHTS_MIRROR`` to it; there, a Hub entry that records no
    sha256 is checked against the sidecar. Returns the files in the folder.
    """
    folder = Path(folder)
    written = []
    for name in names:
        weights = find_weights(name)
        destination = folder / weights.name / weights.file_name
        if is_regular_file(destination) and _mirrored(weights, destination):
            written.append(destination)
            continue
        source, checked = fetch_checked(weights, progress=progress)
        atomic_write(destination, lambda temporary, source=source: shutil.copyfile(source, temporary))
        check = check_file(checked, destination)
        if not check.ok:  # the source changed while it was copied
            destination.unlink(missing_ok=True)
            raise WeightsChecksumError(
                f"Pretrained weights '{weights.name}': the copy {destination} is wrong: {check.problem}"
            )
        write_sidecar(destination, check.sha256)
        written.append(destination)
    return written


def _mirrored(weights: PretrainedWeights, destination: Path) -> bool:
    """Whether ``destination`` already holds the file, with a sidecar that agrees (one is written if missing)."""
    recorded = read_sidecar(destination)
    if weights.sha256_from_hub:
        if recorded is None:
            return False  # nothing to check it against here: fetched (and checked) again
        weights = dataclasses.replace(weights, sha256=recorded)
    check = check_file(weights, destination)
    if not check.ok or (recorded is not None and recorded != check.sha256):
        return False
    if recorded is None:
        write_sidecar(destination, check.sha256)
    return True


def cached_file(weights: PretrainedWeights) -> Path | None:
    """The cache's file of ``weights`` when one is there (not hashed; :func:`verify_cached` does that)."""
    path = cached_path(weights)
    return path if is_regular_file(path) else None


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_ino, status.st_size, status.st_mtime_ns


def _remove_if_unchanged(path: Path, before: tuple[int, int, int] | None) -> bool:
    """Remove a cache file found wrong, unless another process replaced it meanwhile."""
    if before is None or _identity(path) != before:
        return False
    try:
        path.unlink()
    except OSError:
        return False
    return True


def _one_line(error: BaseException) -> str:
    return " | ".join(line.strip() for line in str(error).splitlines() if line.strip())
