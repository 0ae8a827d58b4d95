"""``predict``'s output folder: ``predictions.jsonl``, ``errors.jsonl``, ``masks/``, ``pictures/``, ``predict.json``.

``predictions.jsonl`` gets one line per image as soon as its batch is done (written whole and flushed);
``errors.jsonl`` one line per image that could not be read (``{"image": ..., "error": ...}``); masks and
pictures are PNG files written atomically: a temporary file renamed into place, so a reader (or a run
killed at any moment) never sees half a file. Unlike :func:`torchbricks._files.atomic_write_bytes` they
are not flushed to disk one by one (``fsync`` cost 1–5 ms per file here: minutes for 100,000 masks); a
power cut may lose the last ones, as it may the last lines of ``predictions.jsonl``. ``predict.json``
marks the folder as a ``predict`` output and, at the end, says what the run did.

A folder is used when it does not exist, is empty, or holds an earlier ``predict`` output (its
``predict.json``): then that output's files are replaced — only the files ``predict`` writes. Any other
non-empty folder is refused with :class:`~torchbricks.errors.PredictOutputExistsError`; nothing in it is touched.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = OutputFolder(Path(tempfile.mkdtemp()) / "predictions")
    >>> folder.write_lines([{"image": "a.png", "tasks": {}}])
    >>> folder.close({"images": 1, "failed": 0})
    >>> sorted(path.name for path in folder.path.iterdir())
    ['errors.jsonl', 'predict.json', 'predictions.jsonl']
"""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from torchbricks._files import atomic_write_bytes
from torchbricks.errors import PredictOutputExistsError

PREDICTIONS_FILE = "predictions.jsonl"
ERRORS_FILE = "errors.jsonl"
MARKER_FILE = "predict.json"
MASKS_FOLDER = "masks"
PICTURES_FOLDER = "pictures"
OWN_ENTRIES = (PREDICTIONS_FILE, ERRORS_FILE, MARKER_FILE, MASKS_FOLDER, PICTURES_FOLDER)
"""Everything ``predict`` writes into its output folder (and replaces in an earlier output)."""
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class OutputFolder:
    """An output folder made ready for a run (see the module docstring); ``close`` finishes it."""

    def __init__(self, path: str | Path, details: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path)
        prepare_output_folder(self.path)
        self.details = dict(details or {})
        self._write_marker({**self.details, "finished": False})
        self.predictions = open(self.path / PREDICTIONS_FILE, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.errors = open(self.path / ERRORS_FILE, "w", encoding="utf-8")  # noqa: SIM115

    def write_lines(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Append one JSON line per record to ``predictions.jsonl`` (or ``errors.jsonl`` for an ``error``), flushed."""
        wrote_errors = wrote_predictions = False
        for record in records:
            if "error" in record:
                self.errors.write(json.dumps(record, ensure_ascii=False) + "\n")
                wrote_errors = True
            else:
                self.predictions.write(json.dumps(record, ensure_ascii=False) + "\n")
                wrote_predictions = True
        if wrote_predictions:
            self.predictions.flush()
        if wrote_errors:
            self.errors.flush()

    def write_mask(self, task: str, index: int, image: str | None, mask: np.ndarray) -> str:
        """A class-index mask as a PNG (8-bit, or 16-bit past 255 classes); returns its path relative to the folder."""
        relative = f"{MASKS_FOLDER}/{file_stem(task)}/{file_name(index, image)}"
        write_file(self.path / relative, png_bytes(mask_image(mask)))
        return relative

    def write_picture(self, task: str, index: int, image: str | None, picture: Any) -> str:
        """A Pillow picture as a PNG; returns its path relative to the folder."""
        relative = f"{PICTURES_FOLDER}/{file_stem(task)}/{file_name(index, image)}"
        write_file(self.path / relative, png_bytes(picture))
        return relative

    def close(self, summary: Mapping[str, Any] | None = None) -> None:
        """Close the files; with ``summary``, record it in ``predict.json`` as a finished run."""
        self.predictions.close()
        self.errors.close()
        if summary is not None:
            self._write_marker({**self.details, **summary, "finished": True})

    def _write_marker(self, content: Mapping[str, Any]) -> None:
        atomic_write_bytes(self.path / MARKER_FILE, json.dumps(content, indent=2, sort_keys=True).encode())


def check_output_folder(path: Path) -> None:
    """Raise :class:`~torchbricks.errors.PredictOutputExistsError` unless ``path`` is new, empty or a predict output."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise PredictOutputExistsError(f"Output '{path}' exists and is not a folder; name a new or empty folder")
    if path.is_dir():
        entries = sorted(entry.name for entry in path.iterdir())
        if entries and MARKER_FILE not in entries:
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            raise PredictOutputExistsError(
                f"Output folder '{path}' holds files that predict did not write ({shown}); refusing to write into "
                f"it — name a new or empty folder (an earlier predict output, with its {MARKER_FILE}, is replaced)"
            )


def prepare_output_folder(path: Path) -> None:
    """Create ``path``, or empty an earlier ``predict`` output in it; refuse any other non-empty folder or a file."""
    check_output_folder(path)
    if path.is_dir():
        for name in OWN_ENTRIES:
            entry = path / name
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            elif entry.exists() or entry.is_symlink():
                entry.unlink()
    path.mkdir(parents=True, exist_ok=True)


def write_file(target: Path, payload: bytes) -> None:
    """``payload`` into a temporary sibling of ``target``, renamed onto it (atomic; not flushed to disk)."""
    atomic_write_bytes(target, payload, durable=False)


def file_stem(text: str) -> str:
    """``text`` made safe as one file name (``a/b c`` → ``a_b_c``)."""
    return _UNSAFE.sub("_", text).strip("._") or "_"


def file_name(index: int, image: str | None) -> str:
    """``000042_<image stem>.png``: the position keeps names unique, the stem tells a person which image."""
    stem = file_stem(Path(image).stem)[:60] if image else "image"
    return f"{index:06d}_{stem}.png"


def mask_image(mask: np.ndarray) -> Any:
    """A class-index mask as a Pillow image: mode ``L`` (up to 255) or 16-bit ``I;16``."""
    from PIL import Image

    if mask.size and int(mask.max()) > 255:
        return Image.fromarray(mask.astype(np.uint16))
    return Image.fromarray(mask.astype(np.uint8))


def png_bytes(picture: Any) -> bytes:
    """A Pillow image encoded as PNG."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
