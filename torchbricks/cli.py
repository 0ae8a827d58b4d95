"""The ``torchbricks`` command line: list, inspect and debug registered bricks and packs.

Exit codes: 0 success, 1 not found (or a broken pack with ``--strict``), 2 usage error.

Example:
    >>> main(["list", "heads", "--filter", "no-such-brick*", "--json"])
    []
    0
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Sequence
from typing import Any

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``torchbricks`` command."""
    parser = argparse.ArgumentParser(prog="torchbricks", description="Build multi-task PyTorch models from bricks.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    listing = commands.add_parser("list", help="list registered bricks (imports nothing when cached)")
    listing.add_argument("kind", nargs="?", help="backbones, necks, heads, losses, metrics, visualizers, ...")
    listing.add_argument("--filter", default="*", metavar="GLOB", help="glob on the name or pack:name")
    listing.add_argument("--pack", metavar="NAME", help="only bricks of this pack (distribution name)")
    listing.add_argument("--refresh", action="store_true", help="ignore the registry cache and rebuild it")
    _add_common(listing)

    info = commands.add_parser("info", help="show one brick: signature, docstring, origin, interface")
    info.add_argument("kind")
    info.add_argument("name", help="name or pack:name")
    _add_common(info)

    packs = commands.add_parser("plugins", help="installed brick packs, their bricks and load errors")
    _add_common(packs)
    return parser


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--strict", action="store_true", help="fail (exit 1) when a brick pack fails to load")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.version:
        from torchbricks import __version__

        print(__version__)
        return EXIT_OK
    if arguments.command is None:
        parser.print_help()
        return EXIT_USAGE
    from torchbricks.errors import RegistryError

    handler = {"list": _list, "info": _info, "plugins": _plugins}[arguments.command]
    try:
        return handler(arguments)
    except RegistryError as error:
        print(f"torchbricks {arguments.command}: {error}", file=sys.stderr)
        return EXIT_NOT_FOUND


def _list(arguments: argparse.Namespace) -> int:
    from torchbricks import registry

    if arguments.refresh:
        registry.reload(use_cache=False)
    entries = registry.list_bricks(arguments.kind, arguments.filter, arguments.pack, strict=arguments.strict or None)
    if arguments.json:
        _print_json([entry.to_dict() for entry in entries])
        return EXIT_OK
    rows = [(entry.name, entry.kind, entry.pack, entry.version, entry.summary) for entry in entries]
    _print_table(f"{len(entries)} bricks", ("name", "kind", "pack", "version", "summary"), rows)
    _warn_broken_packs(registry.plugins(strict=False))
    return EXIT_OK


def _info(arguments: argparse.Namespace) -> int:
    from torchbricks import registry
    from torchbricks.registry.registrar import signature_text

    entry = registry.get_entry(arguments.kind, arguments.name, strict=arguments.strict or None)
    factory = entry.load()
    interface = entry.interface
    describe = getattr(factory, "describe_features", None)
    if interface is None and callable(describe):
        interface = describe()
    details: dict[str, Any] = entry.to_dict()
    details["signature"] = signature_text(factory) or entry.signature
    details["docstring"] = inspect.getdoc(getattr(factory, "func", factory)) or ""
    details["interface"] = interface.to_dict() if interface is not None else None
    if arguments.json:
        _print_json(details)
        return EXIT_OK
    rows = [(key, _text(details[key])) for key in ("qualified_name", "kind", "pack", "version", "source", "target")]
    rows += [("signature", details["signature"]), ("interface", _text(details["interface"]))]
    rows.append(("docstring", details["docstring"]))
    _print_table(f"{entry.kind} {entry.qualified_name}", ("field", "value"), rows)
    return EXIT_OK


def _plugins(arguments: argparse.Namespace) -> int:
    from torchbricks import registry

    packs = registry.plugins(strict=arguments.strict or None)
    if arguments.json:
        _print_json([pack.to_dict() for pack in packs])
        return EXIT_OK
    rows = [
        (
            pack.name,
            pack.version,
            ", ".join(f"{kind}: {count}" for kind, count in sorted(pack.bricks.items())),
            ", ".join(pack.hooks) or "-",
            pack.status,
            "\n".join(pack.errors),
        )
        for pack in packs
    ]
    _print_table(f"{len(packs)} brick packs", ("pack", "version", "bricks", "hooks", "status", "error"), rows)
    return EXIT_OK


def _warn_broken_packs(packs: list[Any]) -> None:
    broken = [pack.name for pack in packs if pack.errors]
    if broken:
        print(
            f"warning: {len(broken)} pack(s) failed to load: {', '.join(broken)} (see `torchbricks plugins`)",
            file=sys.stderr,
        )


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def _print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    if not sys.stdout.isatty():
        _print_plain(columns, rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def _print_plain(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Tab-separated rows with a header: fast and easy to grep when the output is not a terminal."""
    lines = ["\t".join(columns)]
    lines += ["\t".join(cell.replace("\n", " ").replace("\t", " ") for cell in row) for row in rows]
    sys.stdout.write("\n".join(lines) + "\n")


def _text(value: Any) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value)


if __name__ == "__main__":
    sys.exit(main())
