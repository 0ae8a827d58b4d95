"""The ``torchbricks`` command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``torchbricks`` console script."""
    parser = argparse.ArgumentParser(prog="torchbricks", description="torchbricks command line")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    arguments = parser.parse_args(argv)
    if arguments.version:
        from torchbricks import __version__

        print(__version__)
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
