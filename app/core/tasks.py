"""Stopping background tasks for sure: a close that never hangs on a task that will not end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger("laddnat.tasks")

# Long enough for a task to finish what it does on cancellation (a nak, a rollback), short
# enough that a process asked to stop stops.
STOP_TIMEOUT_S = 5.0
_ROUND_S = 0.25


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]], *, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Cancel ``tasks`` and wait until they have ended, cancelling again each round while one
    still runs; after ``timeout_s`` the ones left are logged and left behind.

    One cancel is not always enough on Python 3.11: ``asyncio.wait_for`` drops a cancellation
    that arrives just as the awaitable it wraps finishes (CPython gh-86296, fixed in 3.12),
    and a loop around it (a NATS fetch, a KV write) then carries on as if never cancelled.
    Awaiting such a task after one cancel hung a process's shutdown for good.
    """
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while pending:
        left = deadline - loop.time()
        if left <= 0:
            log.warning("%d task(s) did not stop within %.1f s: %s", len(pending), timeout_s, _names(pending))
            return
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(_ROUND_S, left))
    for task in tasks:
        _retrieve(task)


async def then_stop_the_rest(main: Awaitable[T]) -> T:
    """Run ``main``, then stop every task still running (``asyncio.run`` cancels what is left
    only once and then waits for it without end).

    A task cancelled in the middle of a SQLite statement leaves SQLAlchemy closing that
    connection in a shielded task; aiosqlite 0.22's ``close`` then awaits a second future
    after the cancel, which nothing resolves once its thread has stopped: one more cancel
    ends it, and ``stop_tasks`` gives it."""
    try:
        return await main
    finally:
        await stop_the_rest()


async def stop_the_rest() -> None:
    """Stop every task of the running loop but the caller's (``stop_tasks``)."""
    current = asyncio.current_task()
    await stop_tasks([task for task in asyncio.all_tasks() if task is not current])


def _retrieve(task: asyncio.Task[Any]) -> None:
    # A task that failed while being stopped: its error is not news now, but unretrieved it
    # would be printed as "Task exception was never retrieved" at garbage collection.
    if task.done() and not task.cancelled():
        task.exception()


def _names(tasks: Iterable[asyncio.Task[Any]]) -> str:
    return ", ".join(sorted(task.get_name() for task in tasks))
