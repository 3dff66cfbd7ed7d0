"""Group commit: many units, one transaction; a bad unit fails alone and writes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, func, insert, select
from sqlalchemy.exc import IntegrityError

from app.core.batching import GroupCommit, Write
from app.core.database import Counter, create_engine, create_sessionmaker
from app.core.settings import DatabaseSettings

ADD = insert(Counter.__table__)  # type: ignore[arg-type]


async def test_a_bad_unit_fails_alone(database_url: str) -> None:
    engine = create_engine(DatabaseSettings(url=database_url))
    maker = create_sessionmaker(engine)
    writer = GroupCommit(maker, workers=2)

    def unit(i: int) -> list[Write]:
        # Two rows per unit; unit 7 repeats a name inside itself: a unique violation.
        second = f"gc-{i}-b" if i != 7 else f"gc-{i}-a"
        return [Write(ADD, {"name": f"gc-{i}-a", "value": i}), Write(ADD, {"name": second, "value": i})]

    results: list[Any] = await asyncio.gather(*(writer.submit(unit(i)) for i in range(50)), return_exceptions=True)
    await writer.close()
    failed = [i for i, r in enumerate(results) if isinstance(r, Exception)]
    assert failed == [7]
    assert isinstance(results[7], IntegrityError)
    async with maker() as db:
        names = set(await db.scalars(select(Counter.name).where(Counter.name.like("gc-%"))))
        assert await db.scalar(select(func.count()).select_from(Counter).where(Counter.name.like("gc-7-%"))) == 0
    assert len(names) == 98  # 49 units x 2 rows; nothing of unit 7, not even its first row
    await engine.dispose()


async def test_units_that_may_wait_share_the_commit_of_the_next_that_may_not(database_url: str) -> None:
    engine = create_engine(DatabaseSettings(url=database_url))
    maker = create_sessionmaker(engine)
    writer = GroupCommit(maker, workers=2)
    commits: list[int] = []
    event.listen(engine.sync_engine, "commit", lambda _conn: commits.append(1))
    # Heartbeat-like units arrive one by one, each allowed to wait far longer than the test...
    waiting = []
    for i in range(5):
        waiting.append(
            asyncio.create_task(writer.submit([Write(ADD, {"name": f"gcw-{i}", "value": i})], may_wait_s=60))
        )
        await asyncio.sleep(0.01)
    # ...until one that may not wait takes them all along, in one transaction.
    await writer.submit([Write(ADD, {"name": "gcw-now", "value": 9})])
    await asyncio.gather(*waiting)
    assert len(commits) == 1
    # Alone, a unit that may wait is committed once its wait is over.
    await writer.submit([Write(ADD, {"name": "gcw-alone", "value": 0})], may_wait_s=0.05)
    await writer.close()
    assert len(commits) == 2
    async with maker() as db:
        assert await db.scalar(select(func.count()).select_from(Counter).where(Counter.name.like("gcw-%"))) == 7
    await engine.dispose()
