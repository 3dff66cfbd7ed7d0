"""A test still running after HANG_DUMP_AFTER_S prints where it waits: every thread's stack
and every asyncio task's, on the process's real stderr.

pytest-timeout kills a hung test at its limit, but under xdist the stack it prints is
captured with the worker and lost; and an asyncio test waits in ``select`` anyway, which a
thread's stack does not explain. This prints earlier, outside pytest's capture, and names
the coroutines (a close awaiting a task that ignored its cancel, a lock never released).
Loaded by tests/conftest.py (``pytest_plugins``).
"""

from __future__ import annotations

import asyncio
import gc
import io
import os
import sys
import threading
import traceback
from collections.abc import Iterator

import pytest

# Under the per-test timeout (pyproject: 300 s) and above the slowest test (about 90 s).
HANG_DUMP_AFTER_S = 200.0


_stderr_fd: int | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Keep a copy of the real stderr: during a test pytest's capture has fd 2."""
    global _stderr_fd
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        _stderr_fd = os.dup(2)
        return
    with capman.global_and_fixture_disabled():
        _stderr_fd = os.dup(2)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    timer = threading.Timer(HANG_DUMP_AFTER_S, _dump, args=(item.nodeid,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _dump(nodeid: str) -> None:
    out = io.StringIO()
    out.write(f"\n==== {nodeid} still running after {HANG_DUMP_AFTER_S:.0f} s (pid {os.getpid()}) ====\n")
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        out.write(f"-- thread {names.get(ident, ident)}\n")
        out.write("".join(traceback.format_stack(frame)))
    for loop in [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]:
        if not loop.is_running():
            continue
        try:
            tasks = list(asyncio.all_tasks(loop))
        except RuntimeError:  # the set changed while read from this thread: once more
            tasks = list(asyncio.all_tasks(loop))
        out.write(f"-- {len(tasks)} asyncio task(s) of {loop!r}\n")
        for task in tasks:
            task.print_stack(limit=12, file=out)
    # The worker's own stderr, not pytest's capture: under xdist it reaches the terminal.
    os.write(_stderr_fd if _stderr_fd is not None else 2, out.getvalue().encode(errors="replace"))
