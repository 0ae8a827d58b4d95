"""A train run's output folder: an earlier run is replaced only by a run that has a result.

::

    output/
      torchbricks-run.json   marks the folder as a train run's (written when the run first uses it)
      config.json  model/  checkpoints/  logs/  metrics.json  run.json  visualizations/
                             the last finished run
      running/               the run in progress: everything it writes (removed when it finishes or fails)
      unfinished/            an interrupted run (Ctrl+C): ``--resume`` continues it

A new run writes into ``running/``; only when it has finished are its files moved over the earlier run's
(``model/`` and every other folder in one step each). A run that fails leaves the folder as it was. A
folder that is not empty and not marked (nor a train run's from before the marker) is refused, never
cleaned.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> output = Path(tempfile.mkdtemp()) / "run"
    >>> folder = RunFolder(output)
    >>> folder.check(resume=False)
    >>> folder.start({"seed": 0})
    >>> _ = (folder.staging / "metrics.json").write_text("{}")
    >>> folder.finish()
    >>> sorted(path.name for path in output.iterdir())
    ['config.json', 'metrics.json', 'torchbricks-run.json']
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from torchbricks.errors import ConfigError, RunFolderError

MARKER = "torchbricks-run.json"
STAGING = "running"
UNFINISHED = "unfinished"
RUN_ENTRIES = ("config.json", "model", "checkpoints", "logs", "visualizations", "metrics.json", "run.json")
"""What a run owns in its folder; anything else there (a user's notes) is never touched."""
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"
LOG_FILE = Path("logs") / "metrics.csv"
_TRAIN_CONFIG_KEYS = {"model", "data", "trainer", "optimizer"}


class RunFolder:
    """The output folder of one train run (``resume``: continue the interrupted or the last finished run)."""

    def __init__(self, output: str | Path) -> None:
        self.output = Path(output)
        self.staging = self.output / STAGING
        self.unfinished = self.output / UNFINISHED

    def check(self, resume: bool) -> None:
        """Refuse a folder the run must not write, or a resume with nothing to continue; writes nothing."""
        if self.output.exists() and not self.output.is_dir():
            raise RunFolderError(f"--output '{self.output}' is a file; a train run writes a folder")
        if self.output.is_dir() and not self.is_run_folder() and any(self.output.iterdir()):
            raise RunFolderError(
                f"--output '{self.output}' holds files that are not a torchbricks train run (no {MARKER}); "
                "nothing was written. Choose a new or empty folder"
            )
        if resume and self.resume_checkpoint() is None:
            raise ConfigError(
                f"Cannot resume: there is no checkpoint '{self.output / LAST_CHECKPOINT}' "
                f"(nor an interrupted run in '{self.unfinished}')"
            )

    def is_run_folder(self) -> bool:
        """Whether the folder holds train runs: the marker, or a finished run from before the marker."""
        marker = _read_json(self.output / MARKER)
        if isinstance(marker, dict) and marker.get("kind") == "torchbricks train run":
            return True
        config = _read_json(self.output / "config.json")
        earlier = (self.output / "run.json").is_file() or (self.output / LAST_CHECKPOINT).is_file()
        return isinstance(config, dict) and set(config) >= _TRAIN_CONFIG_KEYS and earlier

    def resume_checkpoint(self) -> Path | None:
        """The checkpoint ``--resume`` continues: the interrupted run's, else the last finished run's."""
        for base in (self.unfinished, self.output):
            if (base / LAST_CHECKPOINT).is_file():
                return base / LAST_CHECKPOINT
        return None

    def logged_before(self, resume: bool) -> Path | None:
        """The log of the run a resume continues (its rows go in front of the resumed run's)."""
        checkpoint = self.resume_checkpoint() if resume else None
        return None if checkpoint is None else checkpoint.parent.parent / LOG_FILE

    def start(self, settings: Mapping[str, Any], resume_from: Path | None = None) -> None:
        """Mark the folder and make ``running/`` with the run's ``config.json`` (main process only).

        A resume starts from a copy of the checkpoints it continues (the best one so far among them).
        """
        self.output.mkdir(parents=True, exist_ok=True)
        if not (self.output / MARKER).is_file():
            write_json(self.output / MARKER, {"kind": "torchbricks train run", "layout": 1})
        _remove(self.staging)  # a run killed before it finished
        self.staging.mkdir()
        if resume_from is not None:
            shutil.copytree(resume_from.parent, self.staging / LAST_CHECKPOINT.parent)
        write_json(self.staging / "config.json", settings)

    def discard(self) -> None:
        """Forget the run in progress (it failed): the folder is as it was before it started."""
        _remove(self.staging)

    def keep_unfinished(self) -> Path:
        """Keep an interrupted run as ``unfinished/`` (replacing an earlier one); returns its checkpoint."""
        from torchbricks._folders import replace_folder

        replace_folder(self.staging, self.unfinished)
        return self.unfinished / LAST_CHECKPOINT

    def finish(self) -> None:
        """Move the finished run's files over the earlier run's, each folder in one step; drop ``unfinished/``."""
        from torchbricks._folders import replace_folder

        with _signals_deferred():  # Ctrl+C or SIGTERM now would leave a mix of the two runs: they wait
            for name in RUN_ENTRIES:
                self._move_in(name, replace_folder)
        _remove(self.staging)
        _remove(self.unfinished)

    def _move_in(self, name: str, replace_folder: Any) -> None:
        new, old = self.staging / name, self.output / name
        if new.is_dir():
            if old.exists() and not old.is_dir():
                old.unlink()
            replace_folder(new, old)
        elif new.is_file():
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            os.replace(new, old)
        else:
            _remove(old)  # the earlier run wrote it, this one did not: it would no longer match


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block is done, then deliver them (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    deferred = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, lambda number, _frame: received.append(number)) for number in deferred}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in received:
            signal.raise_signal(number)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def write_json(path: Path, content: Any, sort_keys: bool = False) -> None:
    """``content`` as indented JSON, written atomically (a reader never sees half a file)."""
    from torchbricks._files import atomic_write_bytes

    atomic_write_bytes(path, json.dumps(content, indent=2, sort_keys=sort_keys, default=str).encode())


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None
