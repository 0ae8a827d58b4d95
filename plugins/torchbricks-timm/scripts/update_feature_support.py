"""Record which timm architectures support ``features_only`` (maintenance script, run by hand).

timm does not record ``features_only`` support in its registry, so this script builds every
``timm.list_models()`` architecture with ``features_only=True`` on the ``meta`` device (no memory,
no compute), in parallel worker processes, each model time-boxed, and writes
``torchbricks_timm/feature_support.json``: the installed timm version, every supported
architecture with its summary and default feature interface (channels, reductions), the
unsupported ones with their error, and those that did not finish in time (they stay registered).

Run it after upgrading timm, from the pack's folder, with timm installed::

    python scripts/update_feature_support.py            # all architectures, all cores
    python scripts/update_feature_support.py --only 'resnet*' --dry-run
"""

from __future__ import annotations

import argparse
import fnmatch
import inspect
import json
import multiprocessing
import os
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

PACK_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = PACK_ROOT / "torchbricks_timm" / "feature_support.json"
DATA_FORMAT = 1


class _ModelTimeoutError(Exception):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise _ModelTimeoutError()


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    signal.signal(signal.SIGALRM, _on_alarm)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def probe(task: tuple[str, int]) -> dict[str, Any]:
    """Build one architecture with ``features_only=True`` on the meta device; its interface or its error."""
    import timm
    import torch

    name, timeout = task
    started = time.perf_counter()
    signal.alarm(timeout)
    try:
        with torch.device("meta"):
            model = timm.create_model(name, features_only=True, pretrained=False)
        info = model.feature_info
        result: dict[str, Any] = {
            "name": name,
            "channels": [int(channel) for channel in info.channels()],
            "reductions": [int(reduction) for reduction in info.reduction()],
            "num_params": int(sum(parameter.numel() for parameter in model.parameters())),
            "input_size": list(getattr(model, "pretrained_cfg", {}).get("input_size") or (3, 224, 224)),
        }
    except _ModelTimeoutError:
        result = {"name": name, "timeout": timeout}
    except Exception as error:
        message = " ".join(str(error).split())
        result = {"name": name, "error": f"{type(error).__name__}: {message[:300]}"}
    finally:
        signal.alarm(0)
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def summary_of(name: str) -> str:
    """The first line of the timm entrypoint's docstring, or ``timm <name>``."""
    import timm

    doc = inspect.getdoc(timm.models.model_entrypoint(name)) or ""
    lines = doc.strip().splitlines()
    return lines[0].strip() if lines else f"timm {name}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="data file to write")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel processes")
    parser.add_argument("--timeout", type=int, default=120, help="seconds allowed to build one model")
    parser.add_argument("--deadline", type=float, default=3600, help="seconds allowed for the whole run")
    parser.add_argument("--only", default="*", metavar="GLOB", help="check only these architectures")
    parser.add_argument("--dry-run", action="store_true", help="print the results, write nothing")
    arguments = parser.parse_args(argv)

    import timm
    import torch

    sys.path.insert(0, str(PACK_ROOT))
    from torchbricks_timm.support import scan_timm_architectures

    scanned = set(scan_timm_architectures() or ())
    listed = set(timm.list_models())
    if scanned != listed:  # the plugin hook reads timm's source when timm is not the version recorded here
        print(
            f"warning: reading timm's source finds {len(scanned)} architectures, timm.list_models() {len(listed)} "
            f"(missing: {sorted(listed - scanned)[:5]}, extra: {sorted(scanned - listed)[:5]}); "
            "update torchbricks_timm.support.scan_timm_architectures",
            flush=True,
        )
    names = [name for name in sorted(listed) if fnmatch.fnmatchcase(name, arguments.only)]
    print(
        f"timm {timm.__version__}, torch {torch.__version__}: checking {len(names)} architectures "
        f"with {arguments.workers} workers",
        flush=True,
    )
    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    context = multiprocessing.get_context("spawn")
    with context.Pool(arguments.workers, initializer=_init_worker, maxtasksperchild=100) as pool:
        pending = pool.imap_unordered(probe, [(name, arguments.timeout) for name in names])
        for count in range(1, len(names) + 1):
            remaining = arguments.deadline - (time.perf_counter() - started)
            try:
                result = pending.next(timeout=max(remaining, 0.001))
            except multiprocessing.TimeoutError:
                print(f"deadline of {arguments.deadline:.0f} s reached after {count - 1} architectures", flush=True)
                pool.terminate()
                break
            results[result["name"]] = result
            if count % 50 == 0 or count == len(names):
                print(f"{count}/{len(names)} in {time.perf_counter() - started:.0f} s", flush=True)

    architectures = {}
    unsupported = {}
    for name in sorted(results):
        result = results[name]
        if "error" in result:
            unsupported[name] = result["error"]
        elif "channels" in result:
            architectures[name] = {
                "summary": summary_of(name),
                "channels": result["channels"],
                "reductions": result["reductions"],
                "input_size": result["input_size"],
                "num_params": result["num_params"],
            }
    unchecked = {
        name: summary_of(name) for name in sorted(names) if name not in architectures and name not in unsupported
    }
    print(
        f"{len(architectures)} supported, {len(unsupported)} unsupported, {len(unchecked)} unchecked "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    for name, error in unsupported.items():
        print(f"  unsupported {name}: {error[:160]}")
    for name in unchecked:
        print(f"  unchecked {name}")
    slowest = sorted(results.values(), key=lambda result: -result["seconds"])[:5]
    print("slowest:", ", ".join(f"{result['name']} {result['seconds']:.1f} s" for result in slowest))
    if arguments.dry_run:
        return 0
    if arguments.only != "*":
        print("--only checks a subset: pass --dry-run, or check every architecture to write the data file")
        return 2
    data = {
        "format": DATA_FORMAT,
        "timm_version": timm.__version__,
        "torch_version": torch.__version__.split("+")[0],
        "generated_by": "scripts/update_feature_support.py",
        "architectures": architectures,
        "unsupported": unsupported,
        "unchecked": unchecked,
    }
    _write_atomically(arguments.output, _format(data))
    print(f"wrote {arguments.output}")
    return 0


def _format(data: dict[str, Any]) -> str:
    """JSON with one architecture per line (small, diff-friendly)."""
    lines = ["{"]
    items = list(data.items())
    for position, (key, value) in enumerate(items):
        comma = "," if position < len(items) - 1 else ""
        if isinstance(value, dict) and value:
            lines.append(f"  {json.dumps(key)}: {{")
            entries = list(value.items())
            for inner, (name, record) in enumerate(entries):
                inner_comma = "," if inner < len(entries) - 1 else ""
                lines.append(f"    {json.dumps(name)}: {json.dumps(record, sort_keys=True)}{inner_comma}")
            lines.append(f"  }}{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


if __name__ == "__main__":
    sys.exit(main())
