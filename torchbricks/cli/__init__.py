"""The ``torchbricks`` command line: list and inspect bricks and packs, build models, and the commands packs add.

Exit codes: 0 success, 1 not found or failed (a broken pack with ``--strict``), 2 usage error.

A pack adds a command through the entry-point group ``torchbricks.commands``: the entry point names
a :class:`Command`; it is imported only when that command runs (the standard pack's ``demo`` is one).

Example:
    >>> main(["list", "heads", "--filter", "no-such-brick*", "--json"])
    []
    0
"""

from torchbricks.cli._commands import COMMAND_GROUP, Command
from torchbricks.cli._main import EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, build_parser, main

__all__ = ["COMMAND_GROUP", "EXIT_NOT_FOUND", "EXIT_OK", "EXIT_USAGE", "Command", "build_parser", "main"]
