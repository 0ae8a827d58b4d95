"""``torchbricks weights``: list, describe, fetch, verify and mirror pretrained weights."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from torchbricks.cli._output import error, print_json, print_table, text

if TYPE_CHECKING:
    from torchbricks.pretrained import PretrainedWeights

EXIT_OK = 0
EXIT_FAILED = 1

WEIGHTS_DESCRIPTION = """\
Pretrained weights registered by the installed packs (registry kind `weights`).

actions:
  list [PATTERN] [--json]   the weights whose name matches the glob PATTERN (resnet*): name, pack,
                            default, dataset, license, and whether the file is in the cache
  info NAME [--json]        everything about one entry: brick, sources, sha256 (and whether it is
                            only a prefix), size, format, metrics, preprocessing, cache path
  fetch NAME...             download (or find) the files and check them; prints each file
  verify [NAME...]          re-hash the cached files (all of them by default); exit 1 naming
                            each file that is not what its entry says
  mirror DIR NAME...        copy verified files into DIR as DIR/<name>/<file>, each with
                            <file>.sha256 beside it (sha256sum -c checks them), for a machine
                            without network: there, set TORCHBRICKS_WEIGHTS_MIRROR=DIR

NAME is <brick>.<tag> (resnet50.imagenet1k_v2), pack:<brick>.<tag>, or <brick>.default.
Files are looked for in the cache ($TORCHBRICKS_CACHE_DIR/weights), torch hub's checkpoints,
the Hugging Face cache and the mirror folders ($TORCHBRICKS_WEIGHTS_MIRROR) before the network;
TORCHBRICKS_OFFLINE=1 never downloads.
"""


def add_weights_command(commands: argparse._SubParsersAction) -> None:
    """Register ``weights`` and its actions (``list``, ``info``, ``fetch``, ``verify``, ``mirror``)."""
    weights = commands.add_parser(
        "weights",
        help="pretrained weights: list, info, fetch, verify, mirror",
        description=WEIGHTS_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = weights.add_subparsers(dest="weights_action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="list registered weights")
    listing.add_argument("pattern", nargs="?", default="*", help="glob on the name or pack:name (default: all)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(handler=run_list)

    info = actions.add_parser("info", help="show one entry: metadata, sources, sha256, cache path")
    info.add_argument("name", help="<brick>.<tag>, pack:<brick>.<tag> or <brick>.default")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(handler=run_info)

    fetch = actions.add_parser("fetch", help="find or download weights files and check them")
    fetch.add_argument("names", nargs="+", metavar="NAME")
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(handler=run_fetch)

    verify = actions.add_parser("verify", help="re-hash cached files; exit 1 when one is wrong")
    verify.add_argument("names", nargs="*", metavar="NAME", help="default: every registered entry")
    verify.add_argument("--json", action="store_true", help="print JSON instead of a table")
    verify.set_defaults(handler=run_verify)

    mirror = actions.add_parser("mirror", help="fill a folder with verified files for an offline machine")
    mirror.add_argument("folder", type=Path, metavar="DIR")
    mirror.add_argument("names", nargs="+", metavar="NAME")
    mirror.add_argument("--quiet", action="store_true", help="no progress bar")
    mirror.set_defaults(handler=run_mirror)


def run_list(arguments: argparse.Namespace) -> int:
    from torchbricks.pretrained import registered_weights

    records, failures = registered_weights(arguments.pattern)
    for failure in failures:
        error("weights list", _one_line(failure))
    rows = [
        (
            record["qualified_name"].split(":", 1)[-1],
            record["pack"],
            "yes" if record["default"] else "",
            record["dataset"],
            record["license"],
            _yes(record["cached"]),
        )
        for record in records
    ]
    if arguments.json:
        print_json(records)
    else:
        print_table(
            f"{len(rows)} pretrained weights", ("name", "pack", "default", "dataset", "license", "cached"), rows
        )
    return EXIT_OK


def run_info(arguments: argparse.Namespace) -> int:
    from torchbricks.pretrained import describe_weights, find_weights

    weights = find_weights(arguments.name)
    details = describe_weights(weights)
    if arguments.json:
        print_json(details)
        return EXIT_OK
    rows = [
        ("name", details["qualified_name"]),
        ("brick", f"{weights.kind} '{weights.brick}'"),
        ("arguments", text(details["arguments"]) if weights.arguments else "-"),
        ("default", _yes(weights.default)),
        ("summary", weights.summary or "-"),
        ("format", weights.format),
        ("file", weights.file_name),
        ("sha256", _sha256_text(weights)),
        ("size", f"{weights.size} bytes" if weights.size is not None else "unknown"),
        ("urls", "\n".join(weights.urls) or "-"),
        ("hub", f"{weights.hub.repo_id}/{weights.hub.filename}@{weights.hub.revision}" if weights.hub else "-"),
        ("package file", weights.package_file or "-"),
        ("license", weights.license),
        ("dataset", weights.dataset),
        ("metrics", "\n".join(f"{m.dataset} {m.split} {m.metric}: {m.value:g}" for m in weights.metrics) or "-"),
        ("preprocessing", text(details["preprocessing"])),
        ("class names", _class_names(weights.class_names)),
        (
            "key mapping",
            "\n".join(f"{old} -> {new if new is not None else '(dropped)'}" for old, new in weights.key_mapping) or "-",
        ),
        ("source notes", weights.source_notes or "-"),
        ("cache path", details["cache_path"]),
        ("cached", _yes(details["cached"])),
        ("torch hub path", details["torch_hub_path"] or "-"),
        ("mirror folders", "\n".join(details["mirror_folders"]) or "- (TORCHBRICKS_WEIGHTS_MIRROR is not set)"),
    ]
    print_table(f"weights {details['qualified_name']}", ("field", "value"), rows)
    return EXIT_OK


def run_fetch(arguments: argparse.Namespace) -> int:
    from torchbricks.pretrained import fetch_weights, find_weights

    rows, failed = [], False
    for name in arguments.names:
        try:
            weights = find_weights(name)
            path = fetch_weights(weights, progress=not arguments.quiet)
        except Exception as failure:
            if _fatal(failure):
                raise
            error("weights fetch", _one_line(str(failure)))
            failed = True
            continue
        rows.append((weights.name, str(path)))
    if rows:
        print_table(f"{len(rows)} verified files", ("name", "file"), rows)
    return EXIT_FAILED if failed else EXIT_OK


def run_verify(arguments: argparse.Namespace) -> int:
    from torchbricks.pretrained import find_weights, verify_cached

    names = [find_weights(name).name for name in arguments.names]
    checks = verify_cached(names or None)
    missing = [name for name in names if name not in checks]
    if arguments.json:
        print_json({"checked": {name: check.to_dict() for name, check in checks.items()}, "not_cached": missing})
    else:
        rows = [
            (name, "ok" if check.ok else "WRONG", str(check.path), check.problem or check.sha256)
            for name, check in checks.items()
        ]
        rows += [(name, "not cached", "-", "-") for name in missing]
        print_table(f"{len(checks)} cached files checked", ("name", "status", "file", "sha256 or problem"), rows)
    bad = {name: check for name, check in checks.items() if not check.ok}
    for name, check in bad.items():
        error("weights verify", f"{name}: {check.path} is not the expected file: {check.problem}")
    if bad:
        error("weights verify", f"{len(bad)} wrong file(s); `torchbricks weights fetch NAME` replaces one")
    return EXIT_FAILED if bad else EXIT_OK


def run_mirror(arguments: argparse.Namespace) -> int:
    from torchbricks.pretrained import mirror_weights

    paths = mirror_weights(arguments.folder, arguments.names, progress=not arguments.quiet)
    rows = [(name, str(path)) for name, path in zip(arguments.names, paths, strict=True)]
    print_table(f"{len(rows)} files in {arguments.folder}", ("name", "file"), rows)
    print(
        f"on the offline machine: set TORCHBRICKS_WEIGHTS_MIRROR={arguments.folder.resolve()} (or where you copy it)",
        file=sys.stderr,
    )
    return EXIT_OK


def _fatal(failure: BaseException) -> bool:
    """Errors that are not about one name (a bug, an interruption) end the command."""
    from torchbricks.errors import TorchBricksError

    return not isinstance(failure, (TorchBricksError, OSError))


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _sha256_text(weights: PretrainedWeights) -> str:
    if weights.sha256_from_hub:
        return "published by the Hugging Face Hub (LFS oid), looked up at fetch time"
    return weights.sha256 + (" (prefix: the upstream publishes only this much)" if weights.sha256_is_prefix else "")


def _class_names(names: tuple[str, ...] | None) -> str:
    if not names:
        return "-"
    shown = ", ".join(names[:5])
    return f"{len(names)}: {shown}{', ...' if len(names) > 5 else ''}"


def _one_line(message: str) -> str:
    return " | ".join(line.strip() for line in message.splitlines() if line.strip())
