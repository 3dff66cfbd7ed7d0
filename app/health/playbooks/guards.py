"""What holds a step back: the daily reset limit per charger, a session still charging, and
a step that waits for the trouble to come back. Queries only; the caller owns ``db``."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chargers.models import CommandLog, Connector, Evse
from app.health.models import Incident
from app.sessions.models import Transaction


async def resets_today(db: AsyncSession, cp_id: uuid.UUID, now: datetime) -> int:
    """The resets the playbooks sent the charger in the last day (an operator's do not count)."""
    count = await db.scalar(
        select(func.count()).where(
            CommandLog.charge_point_id == cp_id,
            CommandLog.origin == "health",
            CommandLog.name == "reset",
            CommandLog.requested_at >= now - timedelta(days=1),
        )
    )
    return int(count or 0)


async def wait_until_resettable(
    db: AsyncSession, cp_id: uuid.UUID, resolved: asyncio.Event, wait_for_idle_s: float
) -> bool:
    """True once no session is charging on the charger, or every running one is already
    lost (its connector faulted); False if that does not happen in time."""
    deadline = asyncio.get_running_loop().time() + wait_for_idle_s
    while True:
        ok = await resettable(db, cp_id)
        await db.rollback()  # the connection back between looks (SQLite has one)
        if ok:
            return True
        if resolved.is_set() or asyncio.get_running_loop().time() >= deadline:
            return False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(5.0, wait_for_idle_s)):
                await resolved.wait()


async def resettable(db: AsyncSession, cp_id: uuid.UUID) -> bool:
    running = list(
        await db.scalars(
            select(Transaction.evse_number).where(Transaction.charge_point_id == cp_id, Transaction.status == "active")
        )
    )
    if not running:
        return True
    faulted = set(
        await db.scalars(
            select(Evse.evse_number)
            .join(Connector, Connector.evse_pk == Evse.id)
            .where(Evse.charge_point_id == cp_id, Connector.status == "Faulted")
        )
    )
    return all(evse in faulted for evse in running)


async def active_transaction(db: AsyncSession, cp_id: uuid.UUID, evse: int | None) -> uuid.UUID | None:
    stmt = select(Transaction.id).where(Transaction.charge_point_id == cp_id, Transaction.status == "active")
    if evse is not None:
        stmt = stmt.where(Transaction.evse_number == evse)
    return await db.scalar(stmt.limit(1))


async def recurring(maker: async_sessionmaker[AsyncSession], incident_id: uuid.UUID) -> bool:
    """Has the incident's trouble come back: re-opened, or a signal in its evidence
    counting more than one occurrence (a protection trip's ``electrical.recurring``)."""
    async with maker() as db:
        incident = await db.get(Incident, incident_id)
    if incident is None:
        return False
    if incident.flaps > 0:
        return True
    chain = (incident.evidence or {}).get("chain") or []
    return any(((link.get("evidence") or {}).get("electrical") or {}).get("recurring") for link in chain)
