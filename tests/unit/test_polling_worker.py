"""The one polling loop behind the mail, webhook and payment workers: it runs a pass at
start, again when poked, survives a pass that raises, and stops cleanly."""

from __future__ import annotations

import asyncio
import logging

import pytest

from app.core.workers import PollingWorker

# Long enough that only a poke (never the interval) can start the next pass in a test.
NEVER_S = 3600.0


class CountingWorker(PollingWorker):
    """Counts its passes; the passes listed in ``failing`` raise."""

    def __init__(self, failing: frozenset[int] = frozenset()) -> None:
        super().__init__("counting-worker", interval_s=NEVER_S, log=logging.getLogger("tests.worker"))
        self.failing = failing
        self.passes = 0
        self.passed = asyncio.Condition()

    async def pass_once(self) -> None:
        async with self.passed:
            self.passes += 1
            self.passed.notify_all()
        if self.passes in self.failing:
            raise RuntimeError(f"pass {self.passes} failed")

    async def wait_for(self, passes: int) -> None:
        async with asyncio.timeout(10), self.passed:
            await self.passed.wait_for(lambda: self.passes >= passes)


async def test_the_first_pass_runs_at_start_and_a_poke_runs_the_next_at_once() -> None:
    worker = CountingWorker()
    await worker.start()
    await worker.wait_for(1)
    worker.poke()
    await worker.wait_for(2)
    await worker.close()
    assert worker.passes == 2


async def test_a_failing_pass_is_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    worker = CountingWorker(failing=frozenset({1}))
    with caplog.at_level(logging.ERROR, logger="tests.worker"):
        await worker.start()
        await worker.wait_for(1)
        worker.poke()
        await worker.wait_for(2)
        await worker.close()
    [record] = caplog.records
    assert record.getMessage() == "counting-worker: pass failed"
    assert record.exc_info is not None and "pass 1 failed" in str(record.exc_info[1])


async def test_close_stops_the_loop_and_may_be_repeated() -> None:
    worker = CountingWorker()
    await worker.close()  # never started: nothing to stop
    await worker.start()
    await worker.wait_for(1)
    await worker.close()
    await worker.close()
    worker.poke()
    await asyncio.sleep(0)  # a loop still running would start its pass here
    assert worker.passes == 1


async def test_a_second_start_does_not_start_a_second_loop() -> None:
    worker = CountingWorker()
    await worker.start()
    await worker.start()
    await worker.wait_for(1)
    await asyncio.sleep(0)
    assert worker.passes == 1
    await worker.close()
