"""Streaming helpers: an order-keeping map over worker threads with a bounded window, and fixed-size chunks.

Both hold at most a window of items, so a stream of any length runs in flat memory.

Example:
    >>> list(ordered_map(lambda value: value * 2, range(5), workers=2, window=3))
    [0, 2, 4, 6, 8]
    >>> list(chunks(range(5), 2))
    [[0, 1], [2, 3], [4]]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def ordered_map(
    function: Callable[[Item], Result], items: Iterable[Item], workers: int, window: int
) -> Iterator[Result]:
    """``map(function, items)`` on ``workers`` threads, in order, with at most ``window`` items in flight."""
    if workers <= 1:
        yield from map(function, items)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="torchbricks-read")
    pending: deque[Future[Result]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= max(window, 1):
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
