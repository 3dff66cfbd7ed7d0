"""stop_tasks: a close ends its tasks even when one shrugs off a cancel, and never hangs."""

from __future__ import annotations

import asyncio
import logging

import pytest

from app.core.tasks import stop_tasks


async def test_a_task_that_survives_one_cancel_is_cancelled_again() -> None:
    # What asyncio.wait_for does on Python 3.11 when the cancel lands as its inner awaitable
    # finishes: the CancelledError is dropped and the loop around it carries on.
    cancels = 0

    async def shrugs_off_the_first_cancel() -> None:
        nonlocal cancels
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancels += 1
                if cancels > 1:
                    raise

    task = asyncio.create_task(shrugs_off_the_first_cancel())
    await asyncio.sleep(0)
    await stop_tasks([task])
    assert task.cancelled()
    assert cancels == 2


async def test_a_task_that_never_ends_is_left_behind_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()

    async def ignores_every_cancel() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(ignores_every_cancel(), name="stubborn")
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="laddnat.tasks"):
        await stop_tasks([task], timeout_s=0.3)
    assert not task.done()
    assert "stubborn" in caplog.text
    release.set()
    await stop_tasks([task])
    assert task.done()


async def test_a_failed_task_does_not_stop_the_others_from_being_stopped() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    failed = asyncio.create_task(fails())
    waiting = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)
    await stop_tasks([failed, waiting])
    assert waiting.cancelled()
    assert isinstance(failed.exception(), RuntimeError)
