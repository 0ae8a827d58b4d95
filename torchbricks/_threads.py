"""How many threads torch runs, and how they wait: chosen from the cores this process may use.

torch's default, one intra-op thread per core whose idle threads *spin*, collapses on a busy machine:
its OpenMP threads meet at the end of every parallel operation, and a thread that spins for a core
another process needs, or waits for a core another process holds, holds up all the others (measured on
2 cores: the demo's 400 steps in 75 s quiet, 602 s beside one other CPU-bound process). Two parts fix it:

- **Idle threads sleep** (``OMP_WAIT_POLICY=PASSIVE``): the ``torchbricks`` command sets it before
  torch is imported (:func:`let_idle_threads_sleep`), unless ``OMP_WAIT_POLICY``, ``GOMP_SPINCOUNT`` or
  ``KMP_BLOCKTIME`` is set already. OpenMP reads it once, when torch loads it, so a Python program
  calls ``torchbricks.training.let_idle_threads_sleep()`` before its first ``import torch``.
- **The count** (:func:`choose_threads`)::

      threads = max(1, (cores - busy) // processes - loader_workers)

  ``cores``: the cores this process may run on (``os.sched_getaffinity``, else ``os.cpu_count``);
  ``busy``: the cores other processes keep busy, **counted only while idle threads spin** (a short probe
  of ``/proc/stat`` less this process's own CPU time, :class:`CpuProbe`; else the load average, rounded).
  With sleeping threads the count does not depend on the load, so a quiet machine and a busy one run
  the same count and give the same figures (the thread count changes floating-point sums, so a seeded
  run's figures differ slightly between counts); with spinning threads a busy machine gets fewer.
  An explicit count (``--threads N``, ``threads: N``, or ``OMP_NUM_THREADS``) is used as given.

Importing this module imports neither torch nor Lightning.

Example:
    >>> choice = choose_threads(busy=2.4, cores=8, workers=2, idle_threads_sleep=True)
    >>> choice.threads
    6
    >>> print(choice.line())
    threads: 6 of 8 cores (2.4 busy with other processes, 2 loader workers; idle threads sleep) — --threads N overrides
    >>> choose_threads(busy=2.4, cores=8, workers=2, idle_threads_sleep=False).threads
    4
    >>> choose_threads(4, cores=2).line()
    'threads: 4 (--threads)'
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass

PROBE_SECONDS = 0.25
"""The shortest window :class:`CpuProbe` measures over (it waits for the rest when asked sooner)."""


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity, where the system tells it).

    Example:
        >>> available_cores() >= 1
        True
    """
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class CpuProbe:
    """How many cores other processes keep busy, measured from its creation to :meth:`busy_cores`.

    Reads ``/proc/stat`` (the cores this process may use) at both ends and subtracts this process's own
    CPU time, so work done meanwhile (reading a config, building datasets) costs no extra wait; where
    ``/proc/stat`` cannot be read, the 1-minute load average stands in.

    Example:
        >>> probe = CpuProbe()
        >>> 0.0 <= probe.busy_cores() <= available_cores()
        True
    """

    def __init__(self) -> None:
        self.cores = _allowed_cpus()
        self.started = time.perf_counter()
        self.own = time.process_time()
        self.ticks = _cpu_ticks(self.cores)

    def busy_cores(self) -> float:
        """Cores busy with other processes since the probe started (waits until it is :data:`PROBE_SECONDS` old)."""
        if self.ticks is None:
            return _load_average()
        wait = PROBE_SECONDS - (time.perf_counter() - self.started)
        if wait > 0:
            time.sleep(wait)
        ticks = _cpu_ticks(self.cores)
        if ticks is None:
            return _load_average()
        elapsed = time.perf_counter() - self.started
        busy = (ticks[0] - self.ticks[0]) / max(1, ticks[1] - self.ticks[1]) * ticks[2]
        own = (time.process_time() - self.own) / max(elapsed, 1e-6)
        return min(float(available_cores()), max(0.0, busy - own))


WAIT_POLICY_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
"""The variables that say how OpenMP's idle threads wait (libgomp's and Intel's); any one set is left alone."""


def let_idle_threads_sleep() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` while torch is not yet imported and nothing says how threads wait.

    Returns :func:`idle_threads_sleep` afterwards. The ``torchbricks`` command calls it first thing.

    Example:
        >>> import os
        >>> import torch  # once torch is loaded, it sets nothing
        >>> before = dict(os.environ)
        >>> let_idle_threads_sleep() == idle_threads_sleep(), dict(os.environ) == before
        (True, True)
    """
    if "torch" not in sys.modules and not any(os.environ.get(name, "").strip() for name in WAIT_POLICY_VARIABLES):
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return idle_threads_sleep()


def idle_threads_sleep() -> bool:
    """Whether the environment tells OpenMP to let idle threads sleep rather than spin.

    ``OMP_WAIT_POLICY=PASSIVE``, ``GOMP_SPINCOUNT=0`` or ``KMP_BLOCKTIME=0`` (OpenMP reads them when
    torch loads it: a variable set after ``import torch`` is read here but changes nothing).

    Example:
        >>> import os
        >>> idle_threads_sleep() == (os.environ.get("OMP_WAIT_POLICY", "").lower() == "passive"
        ...     or os.environ.get("GOMP_SPINCOUNT") == "0" or os.environ.get("KMP_BLOCKTIME") == "0")
        True
    """
    policy = os.environ.get("OMP_WAIT_POLICY", "").strip().lower()
    if policy in ("passive", "active"):
        return policy == "passive"
    return any(os.environ.get(name, "").strip() == "0" for name in ("GOMP_SPINCOUNT", "KMP_BLOCKTIME"))


@dataclass(frozen=True)
class ThreadChoice:
    """The intra-op thread count chosen, and what it was chosen from (for the one line printed)."""

    threads: int
    cores: int
    busy: float | None = None
    """Cores busy with other processes (``None`` when the count was given, not chosen)."""
    workers: int = 0
    processes: int = 1
    source: str = "policy"
    """``policy``, or where an explicit count came from (``--threads``, ``OMP_NUM_THREADS``, ...)."""
    idle_threads_sleep: bool = True
    """Whether OpenMP's idle threads sleep (``OMP_WAIT_POLICY=PASSIVE``) rather than spin."""

    def line(self) -> str:
        """The one line a run prints about its threads."""
        if self.source != "policy":
            return f"threads: {self.threads} ({self.source})"
        extra = [f"{self.workers} loader worker{'s' * (self.workers != 1)}"] if self.workers else []
        if self.processes > 1:
            extra.append(f"{self.processes} processes")
        shown = ", ".join([f"{self.busy:.1f} busy with other processes", *extra])
        start = f"threads: {self.threads} of {self.cores} cores ({shown}; idle threads"
        if self.idle_threads_sleep:
            return f"{start} sleep) — --threads N overrides"
        return (
            f"{start} spin, so the busy cores are left "
            "free) — --threads N overrides; OMP_WAIT_POLICY=PASSIVE set before torch is imported gives every core "
            "whatever the load"
        )


def choose_threads(
    requested: int | None = None,
    *,
    workers: int = 0,
    processes: int = 1,
    busy: float | None = None,
    cores: int | None = None,
    source: str = "--threads",
    idle_threads_sleep: bool | None = None,
) -> ThreadChoice:
    """The intra-op threads for each of ``processes`` training processes, each with ``workers`` loader workers.

    ``requested`` (``--threads N``, ``threads: N``; named by ``source``) wins, then ``OMP_NUM_THREADS``, then
    the policy (module docstring). ``busy``: cores other processes keep busy (default: a :class:`CpuProbe`
    of :data:`PROBE_SECONDS`); ``cores``: default :func:`available_cores`; ``idle_threads_sleep``: default
    what the environment says (:func:`idle_threads_sleep`).
    """
    cores = available_cores() if cores is None else cores
    if requested is not None:
        return ThreadChoice(requested, cores, workers=workers, processes=processes, source=source)
    from_environment = environment_threads()
    if from_environment is not None:
        return ThreadChoice(from_environment, cores, workers=workers, processes=processes, source="OMP_NUM_THREADS")
    sleeping = _idle_threads_sleep() if idle_threads_sleep is None else idle_threads_sleep
    busy = CpuProbe().busy_cores() if busy is None else busy
    threads = policy_threads(cores, busy if not sleeping else 0.0, workers, processes)
    return ThreadChoice(threads, cores, busy, workers, processes, idle_threads_sleep=sleeping)


_idle_threads_sleep = idle_threads_sleep  # choose_threads' parameter of the same name hides the function


def policy_threads(cores: int, busy: float, workers: int = 0, processes: int = 1) -> int:
    """``max(1, (cores - round(busy)) // processes - workers)``: the policy's count, nothing measured.

    (:func:`choose_threads` passes ``busy=0`` when idle threads sleep.)

    Example:
        >>> policy_threads(2, 0.0), policy_threads(2, 1.3), policy_threads(16, 0.4)
        (2, 1, 16)
        >>> policy_threads(16, 5.6, processes=2), policy_threads(8, 0.0, workers=2)
        (5, 6)
    """
    free = cores - round(busy)
    return max(1, free // max(1, processes) - workers)


def apply_threads(choice: ThreadChoice | int) -> int:
    """Set torch's intra-op (and, where torch still allows it, inter-op) threads; returns the count.

    With several processes (DDP) ``OMP_NUM_THREADS`` is set too, so that the processes Lightning starts
    take the same count (Lightning sets its own otherwise).

    Example:
        >>> import torch
        >>> before = torch.get_num_threads()
        >>> apply_threads(1), torch.get_num_threads()
        (1, 1)
        >>> _ = apply_threads(before)
    """
    import torch

    threads = choice if isinstance(choice, int) else choice.threads
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # possible only once, before any inter-op work; intra-op is what matters
        torch.set_num_interop_threads(threads)
    if not isinstance(choice, int) and choice.processes > 1:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    return threads


def environment_threads() -> int | None:
    """``OMP_NUM_THREADS`` as a positive count, else ``None``."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def _allowed_cpus() -> list[int] | None:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _cpu_ticks(cpus: list[int] | None) -> tuple[int, int, int] | None:
    """Busy and total clock ticks of ``cpus`` (all when ``None``) since boot, and how many, from ``/proc/stat``."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            lines = stat.read().splitlines()
    except OSError:
        return None
    wanted = None if cpus is None else {f"cpu{cpu}" for cpu in cpus}
    busy = total = count = 0
    for line in lines:
        fields = line.split()
        if not fields or not fields[0].startswith("cpu") or fields[0] == "cpu":
            continue
        if wanted is not None and fields[0] not in wanted:
            continue
        values = [int(value) for value in fields[1:9]]  # user nice system idle iowait irq softirq steal
        idle = values[3] + values[4]
        busy += sum(values) - idle
        total += sum(values)
        count += 1
    return (busy, total, count) if total else None


def _load_average() -> float:
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0.0
