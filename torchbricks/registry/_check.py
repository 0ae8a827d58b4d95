"""``torchbricks packs --check``: import every brick of each pack and run its hooks, one subprocess per pack.

Listing reads metadata and source only, so it cannot know whether a module imports. Checking does
import: every static entry point and every hook plugin of a pack, then every factory its hooks
registered, in a fresh ``python`` (the running interpreter, with the same ``sys.path``) that checks
only that pack. Whatever a pack does there, raising, ``sys.exit``, ``os._exit``, a segfault or
hanging past the per-pack timeout, is reported as that pack's error; the other packs are checked
(a few at a time) and listed as usual. A brick that cannot be imported because a module it needs is
missing is reported apart from errors (``missing_dependencies``: the module and the ``pip install``
hint), unless the pack marks its extra optional (entry-point group ``torchbricks.optional_extras``, or
``registrar.add(..., optional=True)``): then it is only listed in ``optional_missing``.

The child prints progress and its result as JSON lines behind a marker on its standard output; what
the pack itself prints goes to standard error and is ignored, so is a traceback.

Example:
    >>> result = {"errors": [], "hooks": [], "missing_dependencies": [], "optional_missing": []}
    >>> _decode(("pack output" + _encode("done", result)).encode()) == [("done", result)]
    True
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from torchbricks._environment import CHECK_TIMEOUT, seconds
from torchbricks.errors import InvalidWeightsEntryError, MissingDependencyError, PluginLoadError
from torchbricks.registry._kinds import WEIGHTS

DEFAULT_CHECK_TIMEOUT = 120.0
"""Seconds each pack gets to import all its bricks, unless ``TORCHBRICKS_CHECK_TIMEOUT`` or ``timeout`` says so."""
_PARALLEL = 4
_MARKER = "@@torchbricks-check@@ "
_CHILD = (
    "import sys, json; sys.path[:] = json.loads(sys.argv[1]); "
    "from torchbricks.registry._check import child_main; child_main(sys.argv[2])"
)


@dataclass
class PackCheck:
    """What checking one pack found: its errors, the hooks it ran, and bricks whose dependency is missing.

    ``missing_dependencies``: bricks that need a module that is not installed (a problem);
    ``optional_missing``: the same for bricks the pack marks optional (not a problem).
    """

    pack: str
    errors: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    missing_dependencies: list[str] = field(default_factory=list)
    optional_missing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[str]]:
        """The lists, as the check subprocess reports them."""
        return {key: list(getattr(self, key)) for key in _RESULT_KEYS}


_RESULT_KEYS = ("errors", "hooks", "missing_dependencies", "optional_missing")


def check_timeout(timeout: float | None = None) -> float | None:
    """``timeout`` when given (``0`` or less: no limit), else ``TORCHBRICKS_CHECK_TIMEOUT`` (default 120 s).

    Example:
        >>> check_timeout(5)
        5
        >>> check_timeout(0) is None
        True
    """
    if timeout is not None:
        return timeout if timeout > 0 else None
    return seconds(CHECK_TIMEOUT, DEFAULT_CHECK_TIMEOUT)


def check_packs(names: Iterable[str], timeout: float | None = None) -> dict[str, PackCheck]:
    """Check each named pack in its own subprocess (a few at a time); results by pack name."""
    limit = check_timeout(timeout)
    names = list(dict.fromkeys(names))
    if not names:
        return {}
    with ThreadPoolExecutor(max_workers=min(_PARALLEL, len(names)), thread_name_prefix="torchbricks-check") as pool:
        results = list(pool.map(lambda name: _check_in_subprocess(name, limit), names))
    return {result.pack: result for result in results}


def _check_in_subprocess(pack: str, timeout: float | None) -> PackCheck:
    command = [sys.executable, "-c", _CHILD, json.dumps(sys.path), pack]
    posix = os.name == "posix"
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=posix,  # its own process group: a timeout ends whatever the pack started too
        )
    except OSError as error:
        return PackCheck(pack, [f"the check could not start: {type(error).__name__}: {error}"])
    timed_out = False
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(process, posix)
        try:
            stdout, stderr = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # a process outside the group holds the pipes: give up on the output
            stdout, stderr = b"", b""
    except BaseException:
        _kill(process, posix)
        process.wait()
        raise
    messages = _decode(stdout)
    done = next((data for kind, data in reversed(messages) if kind == "done"), None)
    if done is not None:
        return PackCheck(pack, **{key: list(done[key]) for key in _RESULT_KEYS})
    doing = next((data for kind, data in reversed(messages) if kind == "doing"), None)
    where = f" while {doing}" if isinstance(doing, str) else ""
    if timed_out:
        hint = "raise it with --timeout or TORCHBRICKS_CHECK_TIMEOUT"
        return PackCheck(pack, [f"the check did not finish within {timeout:g} s{where} ({hint})"])
    return PackCheck(pack, [f"the check ended early ({_exit_reason(process.returncode)}){where}{_last_line(stderr)}"])


def _kill(process: subprocess.Popen[bytes], posix: bool) -> None:
    try:
        if posix:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except OSError:  # already gone
        pass


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _last_line(stderr: bytes) -> str:
    """The last line the check wrote to standard error (an exception's message), short; no traceback."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1]
    return f": {line[:300]}{'...' if len(line) > 300 else ''}"


def _encode(kind: str, data: Any) -> str:
    return f"\n{_MARKER}{json.dumps([kind, data])}\n"


def _decode(stdout: bytes) -> list[tuple[str, Any]]:
    messages = []
    for line in stdout.decode("utf-8", "replace").split("\n"):
        line = line.rstrip("\r")
        if not line.startswith(_MARKER):
            continue
        try:
            kind, data = json.loads(line[len(_MARKER) :])
        except (ValueError, TypeError):
            continue
        if kind == "done" and not _valid_result(data):
            continue
        messages.append((kind, data))
    return messages


def _valid_result(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and all(isinstance(data.get(key), list) for key in _RESULT_KEYS)
        and all(isinstance(item, str) for key in _RESULT_KEYS for item in data[key])
    )


def child_main(pack: str) -> None:
    """The check subprocess: check ``pack`` in this process, print the result, and end without cleanup.

    Exits with ``os._exit`` so that threads or exit handlers a pack left behind cannot keep it alive.
    """
    output = sys.stdout
    sys.stdout = sys.stderr  # what packs print must not mix with the result

    def report(kind: str, data: Any) -> None:
        output.write(_encode(kind, data))
        output.flush()

    code = 0
    try:
        report("done", check_in_process(pack, lambda doing: report("doing", doing)).to_dict())
    except BaseException as error:  # a failure of the check itself: one line, for the parent to quote
        from torchbricks.registry._discovery import failure_text

        code = 1
        sys.stderr.write(f"\n{failure_text(error)}\n")
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(code)


def check_in_process(pack: str, progress: Any = None) -> PackCheck:
    """What checking ``pack`` finds: list it (running its hooks), then import every brick it registers.

    Runs the pack's code in this process: only for the check subprocess.
    """
    from torchbricks.registry._discovery import discover, failure_text

    if progress is not None:
        progress("importing its plugins and running their hooks")
    found = discover(use_cache=False, pack=pack)
    result = PackCheck(pack)
    errors, hooks = result.errors, result.hooks
    for status in found.packs.values():
        errors += [error for error in status.errors if error not in errors]
        hooks += [hook for hook in status.hooks if hook not in hooks]
    for entry in found.entries:
        what = f"{entry.kind} '{entry.qualified_name}' ({entry.target})"
        if entry.target in found.broken_targets:
            continue  # already reported while listing
        if progress is not None:
            progress(f"importing {what}")
        try:
            entry.load()
            if entry.kind == WEIGHTS:  # not a brick: its function must return a valid PretrainedWeights
                from torchbricks.pretrained._catalog import weights_of

                weights_of(entry)
        except MissingDependencyError as error:  # its own status; skipped only when the pack says it is optional
            missing = result.optional_missing if entry.optional else result.missing_dependencies
            if str(error) not in missing:
                missing.append(str(error))
            continue
        except KeyboardInterrupt:
            raise
        except (PluginLoadError, InvalidWeightsEntryError) as error:
            message = str(error)
        except BaseException as error:  # SystemExit too: the pack's problem, not the check's
            message = f"Brick {what} failed to import: {failure_text(error)}"
        else:
            continue
        if message not in errors:
            errors.append(message)
    return result
