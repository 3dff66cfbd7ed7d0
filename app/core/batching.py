"""Group commit: many small writes from many chargers share one database transaction.

A message's writes are a *unit*: a few (statement, parameters) pairs. The writer takes
every unit waiting when it is free, runs each statement once per batch with all the
units' parameters (executemany), commits once, and only then lets each submitter reply
to its charger. At low load a batch is one unit, so latency stays low; under load the
batch grows, and the per-statement and per-commit cost is shared. A unit nobody is in a
hurry for (a heartbeat's last-seen time) may wait a moment for company: alone, each of an
idle network's heartbeats cost a transaction of its own.

If a batch fails, its units are retried one by one, each in its own transaction, so one
bad unit fails alone and nothing is ever half-written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import Executable

from app.core.metrics import DB_ERRORS
from app.core.tasks import stop_tasks

log = logging.getLogger("laddnat.db")


class Write(NamedTuple):
    """One statement of a unit. ``stmt`` must be a module-level constant: units are
    grouped by it, in the order statements first appear in the batch."""

    stmt: Executable
    params: dict[str, Any]


Unit = Sequence[Write]


class GroupCommit:
    def __init__(self, maker: async_sessionmaker[AsyncSession], *, max_units: int = 2000, workers: int = 1) -> None:
        """``workers``: batches in flight at once. SQLite has one writer, so 1; a server
        database overlaps its round trips with the next batch's gathering."""
        self.maker = maker
        self.max_units = max_units
        self.workers = workers
        # A deque: in a reconnect storm thousands of units wait, and slicing a list per
        # batch would copy them all each time.
        self._queue: deque[tuple[Unit, asyncio.Future[None], float]] = deque()
        self._urgent = 0  # units waiting that may not wait for company
        self._wakeup = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, unit: Unit, *, may_wait_s: float = 0.0) -> None:
        """Return once ``unit`` is committed; raise if it could not be. ``may_wait_s``: how
        long it may wait for other units to share its commit; any unit that may not wait
        takes every waiting one along at once."""
        if not unit:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if may_wait_s > 0:
            # The writer needs waking only to start the wait; later ones join it.
            if not self._queue:
                self._wakeup.set()
            self._queue.append((unit, future, loop.time() + may_wait_s))
        else:
            self._urgent += 1
            self._queue.append((unit, future, 0.0))
            self._wakeup.set()
        # Writers run until closed; one that died (its set entry is gone) is replaced here.
        while len(self._tasks) < self.workers:
            task = asyncio.create_task(self._run(), name="group-commit")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await future

    async def close(self) -> None:
        await stop_tasks(list(self._tasks))
        self._tasks.clear()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if not self._urgent and (wait_s := self._queue[0][2] - loop.time()) > 0:
                self._wakeup.clear()  # an urgent unit ends the wait early
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait_s):
                        await self._wakeup.wait()
                continue
            queue = self._queue
            batch = [queue.popleft() for _ in range(min(self.max_units, len(queue)))]
            self._urgent -= sum(1 for _, _, due in batch if due == 0.0)
            try:
                await self._execute([unit for unit, _, _ in batch])
            except (SQLAlchemyError, OSError) as err:
                if len(batch) == 1:
                    DB_ERRORS.labels("group_commit").inc()
                    _settle(batch[0][1], err)
                    continue
                log.warning("batch of %d failed, retrying one by one: %s", len(batch), err)
                for unit, future, _ in batch:
                    try:
                        await self._execute([unit])
                    except (SQLAlchemyError, OSError) as single:
                        DB_ERRORS.labels("group_commit").inc()
                        _settle(future, single)
                    else:
                        _settle(future, None)
                continue
            except BaseException as err:
                for _, future, _ in batch:
                    _settle(future, err if isinstance(err, Exception) else ConnectionError("writer stopped"))
                raise
            for _, future, _ in batch:
                _settle(future, None)

    async def _execute(self, units: list[Unit]) -> None:
        groups: dict[int, tuple[Executable, list[dict[str, Any]]]] = {}
        for unit in units:
            for stmt, params in unit:
                group = groups.get(id(stmt))
                if group is None:
                    groups[id(stmt)] = (stmt, [params])
                else:
                    group[1].append(params)
        async with self.maker() as db, db.begin():
            # Core level: plain executemany, no ORM bulk semantics.
            conn = await db.connection()
            for stmt, params_list in groups.values():
                if len(params_list) == 1:
                    await conn.execute(stmt, params_list[0])
                    continue
                # Rows locked in one order by every writer: concurrent batches can't deadlock.
                params_list.sort(key=_lock_order)
                await conn.execute(stmt, params_list)


def _lock_order(params: dict[str, Any]) -> str:
    return str(params.get("cp") or params.get("charge_point_id") or "")


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
