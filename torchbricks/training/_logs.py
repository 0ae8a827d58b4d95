"""A train run's CSV log across a resume: the rows logged before it kept in front of the resumed run's."""

from __future__ import annotations

import csv
import io
from pathlib import Path


def read_log(path: Path | None) -> list[dict[str, str]]:
    """The rows of a CSV log (empty when there is none)."""
    if path is None or not path.is_file():
        return []
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def merge_log(before: list[dict[str, str]], path: Path) -> None:
    """Put the rows logged before a resume in front of the resumed run's rows in ``path``, columns united.

    Rows from before with a step the resumed run logged again (logged after the checkpoint) are dropped.
    """
    after = read_log(path)
    first_step = min((int(row["step"]) for row in after if row.get("step")), default=None)
    kept = [row for row in before if first_step is None or not row.get("step") or int(row["step"]) < first_step]
    columns = list(dict.fromkeys(name for row in [*kept, *after] for name in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows([*kept, *after])
    from torchbricks._files import atomic_write_bytes

    atomic_write_bytes(path, text.getvalue().encode())
