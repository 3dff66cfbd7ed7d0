"""Background workers that poll: one loop for the mail outbox, webhook deliveries and the
payment sweeper, so each of them only says what one pass does."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

from app.core.tasks import stop_tasks


class PollingWorker(ABC):
    """Runs ``pass_once()`` every ``interval_s``, or at once when poked, until closed.

    A pass that raises is logged and the loop goes on: the next pass retries whatever the
    failed one left undone, so one bad row never stops the worker. Tests drive a worker
    without starting it, by awaiting its pass (or the public method it wraps) themselves.
    """

    def __init__(self, name: str, *, interval_s: float, log: logging.Logger) -> None:
        self.name = name
        self.interval_s = interval_s
        self.log = log
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def pass_once(self) -> None:
        """One pass over whatever is due now."""

    def poke(self) -> None:
        """Run the next pass now instead of at the end of the interval (new work arrived)."""
        self._wakeup.set()

    async def start(self) -> None:
        """Start the loop in the background; the first pass runs at once. Returns at once,
        so a process whose database is down still starts (and says so on /readyz)."""
        if self._task is None:
            self._task = asyncio.create_task(self._forever(), name=self.name)

    async def close(self) -> None:
        """Stop the loop, cancelling a pass under way (its claims are retried after their
        backoff, like a crash's); closing twice, or a worker never started, is fine."""
        if self._task is not None:
            await stop_tasks([self._task])
            self._task = None

    async def _forever(self) -> None:
        while True:
            try:
                await self.pass_once()
            except Exception:  # keep the loop alive: the next pass retries
                self.log.exception("%s: pass failed", self.name)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s):
                    await self._wakeup.wait()
            self._wakeup.clear()
