"""Fixtures shared across the test folders; shared helpers (modules, configs, packs) live in ``tests/helpers``."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
import torch

from tests.helpers import packs


@pytest.fixture(autouse=True)
def ctrl_c_raises_keyboard_interrupt() -> Iterator[None]:
    """SIGINT raises ``KeyboardInterrupt`` in every test, as in a terminal.

    A background job of a non-interactive shell (``bash .ci/run &``) starts Python with SIGINT ignored, and
    Python then keeps it ignored; the tests of Ctrl+C (and the processes they start, which inherit the
    disposition) would see nothing.
    """
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="module")
def single_thread() -> Iterator[None]:
    """One intra-op thread for a whole module: its models are tiny, and threads only add overhead on a busy machine.

    Request it for every test of a module with ``pytestmark = pytest.mark.usefixtures("single_thread")``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def full(tmp_path_factory: pytest.TempPathFactory) -> packs.Environment:
    """An environment with the example pack and every fixture pack, broken ones included."""
    return packs.shared_environment(tmp_path_factory, packs.FULL)


@pytest.fixture(scope="session")
def clean(tmp_path_factory: pytest.TempPathFactory) -> packs.Environment:
    """An environment with the example pack and the hook plugin pack: nothing broken."""
    return packs.shared_environment(tmp_path_factory, packs.CLEAN)
