"""How the command line prints: rich tables on a terminal, tab-separated text when piped, or JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any


def print_json(data: Any) -> None:
    """Indented, key-sorted JSON on standard output."""
    json.dump(data, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A rich table on a terminal; tab-separated rows with a header otherwise."""
    if not sys.stdout.isatty():
        print_plain(columns, rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def print_plain(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Tab-separated rows with a header: fast and easy to grep when the output is not a terminal."""
    lines = ["\t".join(columns)]
    lines += ["\t".join(cell.replace("\n", " | ").replace("\t", " ") for cell in row) for row in rows]
    sys.stdout.write("\n".join(lines) + "\n")


def text(value: Any) -> str:
    """A table cell: ``-`` for nothing, strings as they are, anything else as JSON."""
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value)


def error(command: str, message: str) -> None:
    """One line on standard error: ``torchbricks <command>: <message>``."""
    print(f"torchbricks {command}: {message}", file=sys.stderr)
