"""``torchbricks list``, ``info`` and ``packs``: what the registries hold, without importing any brick."""

from __future__ import annotations

import argparse
import inspect
import sys
from typing import Any

from torchbricks import registry
from torchbricks.cli._output import print_json, print_table, text
from torchbricks.errors import RegistryError, UnknownBrickError
from torchbricks.features import FeatureSpec, TaskInterface
from torchbricks.suggestions import did_you_mean

EXIT_OK = 0
EXIT_NOT_FOUND = 1

PACKS_DESCRIPTION = """\
Show the installed brick packs: version, bricks per kind, hooks, status and problems.

status:
  unchecked  listed from metadata and source, nothing failed so far; its bricks are not
             imported yet (run --check)
  ok         --check imported every brick and ran every hook without an error
  clash      a bare brick name is also registered by another pack (use pack:name)
  missing dependency
             --check found bricks that cannot be imported because a module they need is
             not installed; each problem names the brick, the module and the pip install
  error      something failed: a hook plugin, an entry point, the metadata, or (with
             --check) importing a brick; each problem is also printed on stderr, one line
             per problem, naming the pack

--check runs each pack in its own process, so a pack that raises, exits or hangs (see
--timeout) is reported as an error and every other pack is still checked. A brick whose
extra its pack marks optional (entry-point group torchbricks.optional_extras) is not
reported when that extra is missing (--json lists it under optional_missing).

exit status: 0, also when packs have problems; 1 when --pack names no installed pack,
or with --strict (or TORCHBRICKS_STRICT_PLUGINS=1) when a pack shown has an error, a
missing dependency (found by --check) or a clash.
"""


def add_registry_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``list``, ``info`` and ``packs`` (alias ``plugins``) on the ``torchbricks`` parser."""
    listing = commands.add_parser("list", help="list registered bricks (imports nothing when cached)")
    listing.add_argument("kind", nargs="?", help="backbones, necks, heads, losses, metrics, visualizers, ...")
    listing.add_argument("--filter", default="*", metavar="GLOB", help="glob on the name or pack:name")
    listing.add_argument("--pack", metavar="NAME", help="only bricks of this pack (distribution name)")
    listing.add_argument("--refresh", action="store_true", help="ignore the registry cache and rebuild it")
    _add_common(listing)
    listing.set_defaults(handler=run_list)

    info = commands.add_parser("info", help="show one brick: signature, docstring, origin, interface")
    info.add_argument("kind")
    info.add_argument("name", help="name or pack:name")
    _add_common(info)
    info.set_defaults(handler=run_info)

    packs = commands.add_parser(
        "packs",
        aliases=["plugins"],
        help="installed brick packs, their bricks and load errors",
        description=PACKS_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    packs.add_argument(
        "--check",
        action="store_true",
        help="import every brick and run every hook, each pack in its own process, to find import errors (slow)",
    )
    packs.add_argument("--pack", metavar="NAME", help="only this pack (with --check: import only its bricks)")
    packs.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="with --check: seconds each pack may take (default $TORCHBRICKS_CHECK_TIMEOUT or 120; 0: no limit)",
    )
    _add_common(packs)
    packs.set_defaults(handler=run_packs)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--strict", action="store_true", help="fail (exit 1) when a brick pack fails to load")


def run_list(arguments: argparse.Namespace) -> int:
    if arguments.refresh:
        registry.reload(use_cache=False)
    entries = registry.list_bricks(arguments.kind, arguments.filter, arguments.pack, strict=arguments.strict or None)
    packs = registry.packs(strict=False)
    if arguments.pack and not entries:
        _check_pack_exists(arguments.pack, packs)
    if arguments.json:
        print_json([entry.to_dict() for entry in entries])
    else:
        rows = [(entry.name, entry.kind, entry.pack, entry.version, entry.summary, _note(entry)) for entry in entries]
        print_table(f"{len(entries)} bricks", ("name", "kind", "pack", "version", "summary", "note"), rows)
    _warn_broken_packs(packs)
    return EXIT_OK


def _note(entry: registry.BrickEntry) -> str:
    """How the bare name of ``entry`` resolves, when another pack registers it too."""
    if entry.shadowed_by:
        return f"shadowed by {entry.shadowed_by}"
    if entry.clashes_with:
        return "clash: use pack:name"
    return ""


def _check_pack_exists(pack: str, packs: list[Any]) -> None:
    """``--pack`` names an installed pack (or ``local``); a typo is an error, not an empty listing."""
    names = [status.name for status in packs] + [registry.LOCAL_PACK]
    if registry.canonical_pack_name(pack) not in {registry.canonical_pack_name(name) for name in names}:
        raise UnknownBrickError(
            f"No installed brick pack '{pack}'.{did_you_mean(pack, names)} Installed packs: {', '.join(names)}."
        )


def run_info(arguments: argparse.Namespace) -> int:
    entry = registry.get_entry(arguments.kind, arguments.name, strict=arguments.strict or None)
    details: dict[str, Any] = entry.to_dict()
    details["docstring"] = entry.summary
    details["load_error"] = None
    details["resolution"] = registry.resolution(entry.kind, entry.name)
    try:
        factory = registry.load_entry(entry)
    except RegistryError as error:  # still show what is known without importing it (read from source)
        details["load_error"] = f"{type(error).__name__}: {error}"
    else:
        details["signature"] = registry.signature_text(factory) or entry.signature
        details["docstring"] = inspect.getdoc(getattr(factory, "func", factory)) or ""
        # Loading filled what the factory declares: a task's TaskInterface (which features the assembler
        # gives it), a backbone's or neck's FeatureSpec.
        interface = entry.interface
        describe = getattr(factory, "describe_features", None)
        if interface is None and entry.kind != "tasks" and callable(describe):
            try:
                described = describe()
                interface = FeatureSpec.from_dict(described) if isinstance(described, dict) else described
            except Exception:  # describing is best effort; the factory may need arguments
                interface = None
        details["interface"] = interface.to_dict() if isinstance(interface, (FeatureSpec, TaskInterface)) else None
    if arguments.json:
        print_json(details)
    else:
        keys = ("qualified_name", "kind", "pack", "version", "source", "target", "signature", "interface", "resolution")
        rows = [(key, text(details[key])) for key in keys]
        if details["extras"]:
            rows.append(("extras", ", ".join(details["extras"])))
        rows.append(("docstring", details["docstring"]))
        if details["load_error"]:
            rows.append(("load error", details["load_error"]))
        print_table(f"{entry.kind} {entry.qualified_name}", ("field", "value"), rows)
    failed = details["load_error"] is not None and not details["load_error"].startswith("MissingDependencyError")
    return EXIT_NOT_FOUND if failed and _strict(arguments) else EXIT_OK


def run_packs(arguments: argparse.Namespace) -> int:
    if arguments.check:
        packs = registry.check(arguments.pack, timeout=arguments.timeout)
    else:
        packs = registry.packs(strict=False)
    if arguments.pack:
        _check_pack_exists(arguments.pack, packs)
        packs = [
            pack
            for pack in packs
            if registry.canonical_pack_name(pack.name) == registry.canonical_pack_name(arguments.pack)
        ]
    if arguments.json:
        print_json([pack.to_dict() for pack in packs])
    else:
        rows = [
            (
                pack.name,
                pack.version,
                ", ".join(f"{kind}: {count}" for kind, count in sorted(pack.bricks.items())),
                ", ".join(pack.hooks) or "-",
                pack.status,
                "\n".join([*_problems(pack), *(f"clash: {clash}" for clash in pack.clashes)]),
            )
            for pack in packs
        ]
        print_table(f"{len(packs)} brick packs", ("pack", "version", "bricks", "hooks", "status", "problems"), rows)
    _print_problems("packs", packs)
    broken = [pack.name for pack in packs if pack.errors]
    missing = [pack.name for pack in packs if pack.missing_dependencies]
    clashing = [pack.name for pack in packs if pack.clashes]
    if (broken or missing or clashing) and _strict(arguments):
        problems = [f"{len(broken)} pack(s) failed to load: {', '.join(broken)}"] if broken else []
        if missing:
            problems.append(f"{len(missing)} pack(s) have bricks with missing dependencies: {', '.join(missing)}")
        problems += [f"{len(clashing)} pack(s) share bare names: {', '.join(clashing)}"] if clashing else []
        print(f"torchbricks packs (strict mode): {'; '.join(problems)}", file=sys.stderr)
        return EXIT_NOT_FOUND
    return EXIT_OK


def _strict(arguments: argparse.Namespace) -> bool:
    """``--strict`` or the environment variable ``TORCHBRICKS_STRICT_PLUGINS``."""
    return registry.strict_mode(arguments.strict or None)


def _print_problems(command: str, packs: list[Any]) -> None:
    """One line on stderr per problem of each pack, naming the pack (never a traceback)."""
    for pack in packs:
        for problem in _problems(pack):
            print(f"torchbricks {command}: {pack.name} {pack.version}: {_one_line(problem)}", file=sys.stderr)


def _problems(pack: registry.PackStatus) -> list[str]:
    """A pack's errors, then its bricks whose dependency is missing (known after ``--check``)."""
    return [*pack.errors, *pack.missing_dependencies]


def _one_line(message: str) -> str:
    return " | ".join(line.strip() for line in str(message).splitlines() if line.strip())


def _warn_broken_packs(packs: list[Any]) -> None:
    _print_problems("list", packs)
    broken = [pack.name for pack in packs if pack.errors]
    if broken:
        print(
            f"warning: {len(broken)} pack(s) failed to load: {', '.join(broken)} (see `torchbricks packs`)",
            file=sys.stderr,
        )
