"""Background work: what runs after a handler answered, guarded so a failure is recorded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from devtools.simulator.charger.core import ChargerCore

log = logging.getLogger("laddnat.simulator")


class BackgroundWorkMixin(ChargerCore):
    """SimulatedCharger's background work (see the module docstring)."""

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[None]:
        """Run ``coro`` after a handler answered (never await the CSMS inside a handler)."""
        task = asyncio.create_task(self._guard(coro, what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guard(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors.append(exc)
            log.warning("%s: %s failed: %s", self.identity, what, exc)

    async def wait_background(self, limit_s: float = 10.0) -> None:
        """Wait for work started by CSMS calls (remote starts, resets...) to finish."""
        current = asyncio.current_task()
        async with asyncio.timeout(limit_s):
            while tasks := [t for t in self._tasks if t is not current and not t.done()]:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def answer_delay(self) -> None:
        if self.config.slow_answers_s > 0:
            await asyncio.sleep(self.config.slow_answers_s)
