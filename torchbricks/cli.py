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
    packs.add_argument("--check", action="store_true", help="import every brick to find import errors (slow)")
    packs.add_argument("--pack", metavar="NAME", help="only this pack (with --check: import only its bricks)")
    _add_common(packs)

    from torchbricks.cli_model import add_model_commands

    add_model_commands(commands)
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
    from torchbricks.cli_model import run_build, run_demo_command
    from torchbricks.errors import TorchBricksError

    handlers = {"list": _list, "info": _info, "plugins": _plugins, "build": run_build, "demo": run_demo_command}
    try:
        return handlers[arguments.command](arguments)
    except TorchBricksError as error:
        print(f"torchbricks {arguments.command}: {error}", file=sys.stderr)
        return EXIT_NOT_FOUND


def _list(arguments: argparse.Namespace) -> int:
    from torchbricks import registry

    if arguments.refresh:
        registry.reload(use_cache=False)
    entries = registry.list_bricks(arguments.kind, arguments.filter, arguments.pack, strict=arguments.strict or None)
    packs = registry.plugins(strict=False)
    if arguments.pack and not entries:
        _check_pack_exists(arguments.pack, packs)
    if arguments.json:
        _print_json([entry.to_dict() for entry in entries])
    else:
        rows = [(entry.name, entry.kind, entry.pack, entry.version, entry.summary) for entry in entries]
        _print_table(f"{len(entries)} bricks", ("name", "kind", "pack", "version", "summary"), rows)
    _warn_broken_packs(packs)
    return EXIT_OK


def _check_pack_exists(pack: str, packs: list[Any]) -> None:
    """``--pack`` names an installed pack (or ``local``); a typo is an error, not an empty listing."""
    from torchbricks.errors import UnknownBrickError
    from torchbricks.registry.entries import LOCAL_PACK
    from torchbricks.registry.kinds import canonical_pack_name
    from torchbricks.suggestions import did_you_mean

    names = [status.name for status in packs] + [LOCAL_PACK]
    if canonical_pack_name(pack) not in {canonical_pack_name(name) for name in names}:
        raise UnknownBrickError(
            f"No installed brick pack '{pack}'.{did_you_mean(pack, names)} Installed packs: {', '.join(names)}."
        )


def _info(arguments: argparse.Namespace) -> int:
    from torchbricks import registry
    from torchbricks.errors import RegistryError
    from torchbricks.registry.entries import FeatureSpec
    from torchbricks.registry.registrar import signature_text

    entry = registry.get_entry(arguments.kind, arguments.name, strict=arguments.strict or None)
    details: dict[str, Any] = entry.to_dict()
    details["docstring"] = entry.summary
    details["load_error"] = None
    try:
        factory = registry.load_entry(entry)
    except RegistryError as error:  # still show what is known without importing it (read from source)
        details["load_error"] = f"{type(error).__name__}: {error}"
    else:
        details["signature"] = signature_text(factory) or entry.signature
        details["docstring"] = inspect.getdoc(getattr(factory, "func", factory)) or ""
        interface = entry.interface
        describe = getattr(factory, "describe_features", None)
        if interface is None and callable(describe):
            try:
                interface = describe()
            except Exception:  # describing is best effort; the factory may need arguments
                interface = None
        if isinstance(interface, dict):
            interface = FeatureSpec.from_dict(interface)
        details["interface"] = interface.to_dict() if isinstance(interface, FeatureSpec) else None
    if arguments.json:
        _print_json(details)
    else:
        keys = ("qualified_name", "kind", "pack", "version", "source", "target", "signature", "interface")
        rows = [(key, _text(details[key])) for key in keys]
        if details["extras"]:
            rows.append(("extras", ", ".join(details["extras"])))
        rows.append(("docstring", details["docstring"]))
        if details["load_error"]:
            rows.append(("load error", details["load_error"]))
        _print_table(f"{entry.kind} {entry.qualified_name}", ("field", "value"), rows)
    failed = details["load_error"] is not None and not details["load_error"].startswith("MissingDependencyError")
    return EXIT_NOT_FOUND if failed and _strict(arguments) else EXIT_OK


def _plugins(arguments: argparse.Namespace) -> int:
    from torchbricks import registry
    from torchbricks.registry.kinds import canonical_pack_name

    packs = registry.check(arguments.pack) if arguments.check else registry.plugins(strict=False)
    if arguments.pack:
        _check_pack_exists(arguments.pack, packs)
        packs = [pack for pack in packs if canonical_pack_name(pack.name) == canonical_pack_name(arguments.pack)]
    if arguments.json:
        _print_json([pack.to_dict() for pack in packs])
    else:
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
    broken = [pack.name for pack in packs if pack.errors]
    if broken and _strict(arguments):
        print(
            f"torchbricks plugins: {len(broken)} pack(s) failed to load (strict mode): {', '.join(broken)}",
            file=sys.stderr,
        )
        return EXIT_NOT_FOUND
    return EXIT_OK


def _strict(arguments: argparse.Namespace) -> bool:
    """``--strict`` or the environment variable ``TORCHBRICKS_STRICT_PLUGINS``."""
    from torchbricks.registry.registry import strict_mode

    return strict_mode(arguments.strict or None)


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
    lines += ["\t".join(cell.replace("\n", " | ").replace("\t", " ") for cell in row) for row in rows]
    sys.stdout.write("\n".join(lines) + "\n")


def _text(value: Any) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value)


if __name__ == "__main__":
    sys.exit(main())
