"""The ``torchbricks`` parser and dispatch: core commands, then the commands installed packs add."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from torchbricks.cli._commands import load_command, pack_commands, pack_of
from torchbricks.cli._model_commands import add_model_commands
from torchbricks.cli._output import error
from torchbricks.cli._registry_commands import add_registry_commands
from torchbricks.errors import TorchBricksError

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2

CORE_COMMANDS = frozenset({"list", "info", "packs", "plugins", "build"})


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The argument parser of the ``torchbricks`` command.

    Commands of installed packs are listed from metadata; only the one named in ``argv`` is imported.
    """
    parser = argparse.ArgumentParser(prog="torchbricks", description="Build multi-task PyTorch models from bricks.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_registry_commands(commands)
    add_model_commands(commands)
    chosen = next((argument for argument in argv if not argument.startswith("-")), None)
    for name, entry_point in pack_commands(CORE_COMMANDS).items():
        if name != chosen:
            commands.add_parser(name, help=f"(from pack {pack_of(entry_point)}; `torchbricks {name} --help`)")
            continue
        command = load_command(entry_point)
        subparser = commands.add_parser(name, help=command.help)
        command.add_arguments(subparser)
        subparser.set_defaults(handler=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(argv)
    except TorchBricksError as failure:
        error(next((argument for argument in argv if not argument.startswith("-")), ""), str(failure))
        return EXIT_NOT_FOUND
    arguments = parser.parse_args(argv)
    if arguments.version:
        from torchbricks import __version__

        print(__version__)
        return EXIT_OK
    if arguments.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return arguments.handler(arguments)
    except TorchBricksError as failure:
        error(arguments.command, str(failure))
        return EXIT_NOT_FOUND


if __name__ == "__main__":
    sys.exit(main())
