"""Group commit: many small writes from many chargers share one database transaction.

A message's writes are a *unit*: a few (statement, parameters) pairs. The writer takes
every unit waiting when it is free, runs each statement once per batch with all the
units' parameters (executemany), commits once, and only then lets each submitter reply
to its charger. At low load a batch is one unit, so latency stays low; under load the
batch grows, and the per-statement and per-commit cost is shared.

If a batch fails, its units are retried one by one, each in its own transaction, so one
bad unit fails alone and nothing is ever half-written.
"""

from __future__ import annotations

import asyncio
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
        self._queue: deque[tuple[Unit, asyncio.Future[None]]] = deque()
        self._wakeup = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, unit: Unit) -> None:
        """Return once ``unit`` is committed; raise if it could not be."""
        if not unit:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((unit, future))
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
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            queue = self._queue
            batch = [queue.popleft() for _ in range(min(self.max_units, len(queue)))]
            try:
                await self._execute([unit for unit, _ in batch])
            except (SQLAlchemyError, OSError) as err:
                if len(batch) == 1:
                    DB_ERRORS.labels("group_commit").inc()
                    _settle(batch[0][1], err)
                    continue
                log.warning("batch of %d failed, retrying one by one: %s", len(batch), err)
                for unit, future in batch:
                    try:
                        await self._execute([unit])
                    except (SQLAlchemyError, OSError) as single:
                        DB_ERRORS.labels("group_commit").inc()
                        _settle(future, single)
                    else:
                        _settle(future, None)
                continue
            except BaseException as err:
                for _, future in batch:
                    _settle(future, err if isinstance(err, Exception) else ConnectionError("writer stopped"))
                raise
            for _, future in batch:
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
