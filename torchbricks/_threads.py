"""How many threads torch runs: chosen from the cores this process may use and how busy they are.

torch's default, one intra-op thread per core, collapses on a busy machine: its OpenMP threads meet at
the end of every parallel operation, and one that shares its core with another process holds up all
the others (measured on 2 cores: the demo's 400 steps in 75 s quiet, 602 s beside one other CPU-bound
process). :func:`choose_threads` picks instead::

    threads = max(1, (cores - max(1, busy)) // processes - loader_workers)

``cores``: the cores this process may run on (``os.sched_getaffinity``, else ``os.cpu_count``);
``busy``: the cores other processes keep busy, rounded (a short probe of ``/proc/stat`` less this
process's own CPU time, :class:`CpuProbe`; else the load average), counted as **at least one**: one
core is always left to the rest of the machine. So a quiet machine and one with one other busy
process get the same count, and the same count gives the same figures (the thread count changes
floating-point sums, so a seeded run's figures differ slightly between counts). An explicit count
(``--threads N``, ``threads: N``, or ``OMP_NUM_THREADS``) is used as given.

Importing this module imports neither torch nor Lightning.

Example:
    >>> choice = choose_threads(busy=0.2, cores=8, workers=2)
    >>> choice.threads
    5
    >>> print(choice.line())
    threads: 5 of 8 cores (0.2 busy with other processes, 2 loader workers; one core left free) — --threads N overrides
    >>> choose_threads(busy=3.4, cores=2).threads, choose_threads(4, cores=2).line()
    (1, 'threads: 4 (--threads)')
"""

from __future__ import annotations

import contextlib
import os
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

    def line(self) -> str:
        """The one line a run prints about its threads."""
        if self.source != "policy":
            return f"threads: {self.threads} ({self.source})"
        extra = [f"{self.workers} loader worker{'s' * (self.workers != 1)}"] if self.workers else []
        if self.processes > 1:
            extra.append(f"{self.processes} processes")
        shown = ", ".join([f"{self.busy:.1f} busy with other processes", *extra])
        line = f"threads: {self.threads} of {self.cores} cores ({shown}; one core left free) — --threads N overrides"
        quiet = policy_threads(self.cores, 0.0, self.workers, self.processes)
        if quiet != self.threads:  # the machine is busier than the core left free: the figures differ a little
            line += f" (a quiet machine gets {quiet}; --threads {quiet} gives the same figures)"
        return line


def choose_threads(
    requested: int | None = None,
    *,
    workers: int = 0,
    processes: int = 1,
    busy: float | None = None,
    cores: int | None = None,
    source: str = "--threads",
) -> ThreadChoice:
    """The intra-op threads for each of ``processes`` training processes, each with ``workers`` loader workers.

    ``requested`` (``--threads N``, ``threads: N``; named by ``source``) wins, then ``OMP_NUM_THREADS``, then
    the policy (module docstring). ``busy``: cores other processes keep busy (default: a :class:`CpuProbe`
    of :data:`PROBE_SECONDS`); ``cores``: default :func:`available_cores`.
    """
    cores = available_cores() if cores is None else cores
    if requested is not None:
        return ThreadChoice(requested, cores, workers=workers, processes=processes, source=source)
    from_environment = environment_threads()
    if from_environment is not None:
        return ThreadChoice(from_environment, cores, workers=workers, processes=processes, source="OMP_NUM_THREADS")
    busy = CpuProbe().busy_cores() if busy is None else busy
    return ThreadChoice(policy_threads(cores, busy, workers, processes), cores, busy, workers, processes)


def policy_threads(cores: int, busy: float, workers: int = 0, processes: int = 1) -> int:
    """``max(1, (cores - max(1, round(busy))) // processes - workers)``: the policy's count, nothing measured.

    Example:
        >>> policy_threads(2, 0.0), policy_threads(2, 1.3), policy_threads(16, 0.4)
        (1, 1, 15)
        >>> policy_threads(16, 5.6, processes=2), policy_threads(8, 0.0, workers=2)
        (5, 5)
    """
    free = cores - max(1, round(busy))
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
