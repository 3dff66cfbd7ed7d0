"""The anomaly detector's baselines in the database (``health_baselines``): queries only.

The detector learns in memory; the monitor saves what changed every
``anomaly_save_interval_s`` (one statement for all of them) and on shutdown, and loads
them all on start.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.health.models import HealthBaseline

# identity, evse (None: the charger as a whole), the model's JSON
BaselineRow = tuple[str, int | None, dict[str, Any]]


async def load_baselines(db: AsyncSession) -> list[BaselineRow]:
    rows: Sequence[HealthBaseline] = (await db.scalars(select(HealthBaseline))).all()
    return [(row.identity, row.evse or None, row.model) for row in rows]


async def save_baselines(db: AsyncSession, rows: list[BaselineRow], now: datetime) -> None:
    """Insert or replace each row; commits."""
    if not rows:
        return
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(HealthBaseline)
    stmt = stmt.on_conflict_do_update(
        index_elements=[HealthBaseline.identity, HealthBaseline.evse],
        set_={"model": stmt.excluded.model, "samples": stmt.excluded.samples, "updated_at": stmt.excluded.updated_at},
    )
    await db.execute(
        stmt,
        [
            {
                "identity": identity,
                "evse": evse or 0,
                "model": model,
                "samples": int(model.get("samples", 0)),
                "updated_at": now,
            }
            for identity, evse, model in rows
        ],
    )
    await db.commit()
