"""The ``torchbricks`` parser and dispatch: core commands, then the commands installed packs add."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from torchbricks.cli._card_command import add_card_command
from torchbricks.cli._commands import load_command, pack_commands, pack_of
from torchbricks.cli._evaluate_command import add_evaluate_command
from torchbricks.cli._model_commands import add_model_commands
from torchbricks.cli._output import error
from torchbricks.cli._predict_command import add_predict_command
from torchbricks.cli._registry_commands import add_registry_commands
from torchbricks.cli._train_command import add_train_command
from torchbricks.cli._verify_command import add_verify_command
from torchbricks.cli._weights_command import add_weights_command
from torchbricks.errors import TorchBricksError
from torchbricks.training import let_idle_threads_sleep

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

CORE_COMMANDS = frozenset(
    {"list", "info", "packs", "plugins", "build", "train", "weights", "evaluate", "card", "verify", "predict"}
)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The argument parser of the ``torchbricks`` command.

    Commands of installed packs are listed from metadata; only the one named in ``argv`` is imported.

    Example:
        >>> parser = build_parser(["list"])
        >>> parser.prog, parser.parse_args(["--version"]).version
        ('torchbricks', True)
    """
    parser = argparse.ArgumentParser(prog="torchbricks", description="Build multi-task PyTorch models from bricks.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_registry_commands(commands)
    add_model_commands(commands)
    add_train_command(commands)
    add_predict_command(commands)
    add_evaluate_command(commands)
    add_card_command(commands)
    add_verify_command(commands)
    add_weights_command(commands)
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
    """Run the command line; returns the exit code.

    A failure prints one line naming the culprit (and a hint) and exits 1, never a traceback unless
    ``--debug`` is given; a closed pipe (``torchbricks list | head -1``) ends quietly.
    """
    let_idle_threads_sleep()  # before anything imports torch: a busy machine slows torch's threads, never stalls them
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [argument for argument in argv if argument != "--debug"]
    command = next((argument for argument in argv if not argument.startswith("-")), "")
    try:
        parser = build_parser(argv)
        arguments = parser.parse_args(argv)
        if arguments.version:
            from torchbricks import __version__

            print(__version__)
            return EXIT_OK
        if arguments.command is None:
            parser.print_help()
            return EXIT_USAGE
        return arguments.handler(arguments)
    except BrokenPipeError:
        _silence_closed_stdout()
        return EXIT_OK
    except KeyboardInterrupt as interruption:
        error(command, f"interrupted: {interruption}" if str(interruption) else "interrupted")
        return EXIT_INTERRUPTED
    except TorchBricksError as failure:
        if debug:
            raise
        error(command, str(failure))
        return EXIT_NOT_FOUND
    except (OSError, ValueError, TypeError, RuntimeError, ImportError, LookupError, ArithmeticError) as failure:
        if debug:
            raise
        error(command, f"{type(failure).__name__}: {failure} (run with --debug for the traceback)")
        return EXIT_NOT_FOUND


def _silence_closed_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so Python's exit flush raises nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout may not be a real file (tests capture it)
        pass


if __name__ == "__main__":
    sys.exit(main())
