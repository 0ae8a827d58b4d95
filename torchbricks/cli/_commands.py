"""Commands that packs add to the ``torchbricks`` command line (entry-point group ``torchbricks.commands``).

A pack declares, in its ``pyproject.toml``::

    [project.entry-points."torchbricks.commands"]
    demo = "my_pack.cli:demo_command"

where ``demo_command`` is a :class:`Command`. Listing the commands reads installed metadata only; a
command's module is imported when the command runs (or its ``--help`` is asked for). A command that
fails to load is reported as such and never breaks the other commands.

Example:
    >>> import argparse
    >>> hello = Command(help="say hello", add_arguments=lambda parser: None, run=lambda arguments: 0)
    >>> hello.run(argparse.Namespace())
    0
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from torchbricks.errors import PluginLoadError

COMMAND_GROUP = "torchbricks.commands"


@dataclass(frozen=True)
class Command:
    """A ``torchbricks`` subcommand contributed by a pack.

    Args:
        help: one line shown by ``torchbricks --help``.
        add_arguments: adds the command's arguments to its ``argparse`` parser.
        run: runs the command with the parsed arguments; returns the exit code.
    """

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def pack_commands(reserved: frozenset[str]) -> dict[str, EntryPoint]:
    """Installed command entry points by name, except names the core reserves (first pack wins a clash)."""
    found: dict[str, EntryPoint] = {}
    for entry_point in sorted(entry_points(group=COMMAND_GROUP), key=lambda item: (item.name, item.value)):
        if entry_point.name not in reserved:
            found.setdefault(entry_point.name, entry_point)
    return found


def pack_of(entry_point: EntryPoint) -> str:
    """The distribution that declares ``entry_point`` (``?`` when unknown)."""
    distribution = getattr(entry_point, "dist", None)
    return distribution.metadata["Name"] if distribution is not None else "?"


def load_command(entry_point: EntryPoint) -> Command:
    """Import the command; any failure becomes a message naming the pack and the entry point."""
    try:
        command = entry_point.load()
    except BaseException as error:  # a pack's import may raise anything, SystemExit included
        if isinstance(error, KeyboardInterrupt):
            raise
        raise PluginLoadError(
            f"the command '{entry_point.name}' of pack {pack_of(entry_point)} ({entry_point.value}) failed to load: "
            f"{type(error).__name__}: {error}"
        ) from error
    if not isinstance(command, Command):
        raise PluginLoadError(
            f"the command '{entry_point.name}' of pack {pack_of(entry_point)} ({entry_point.value}) is a "
            f"{type(command).__name__}, not a torchbricks.cli.Command"
        )
    return command
