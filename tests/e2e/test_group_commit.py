"""Group commit: many units, one transaction; a bad unit fails alone and writes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, insert, select
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
