"""PATCHes of running roaming sessions while they charge: on each meter report of a
transaction that is a roaming session, at most every ``session_update_interval_s``.

Runs in the API process (app/main.py subscribes it). Losing one of these events loses
nothing a partner needs: the next report, and the final PATCH at the stop, carry the whole
state again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chargers.models import ChargePoint
from app.core.bus import Bus, Event
from app.core.database import utcnow
from app.core.settings import OcpiSettings
from app.roaming.models import OcpiSession
from app.roaming.sessions.service import RoamingSessions
from app.sessions.events import TransactionUpdated
from app.sessions.models import Transaction


class SessionUpdates:
    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        bus: Bus,
        settings: OcpiSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.maker = maker
        self.bus = bus
        self.settings = settings
        self.clock = clock

    def subscribe(self) -> None:
        self.bus.subscribe(TransactionUpdated.subject, self._on_progress, group="roaming-sessions")

    async def _on_progress(self, event: Event) -> None:
        assert isinstance(event, TransactionUpdated)
        stmt = (
            select(OcpiSession, Transaction)
            .join(Transaction, Transaction.id == OcpiSession.transaction_id)
            .where(OcpiSession.status == "ACTIVE")
        )
        if event.transaction_id is not None:
            stmt = stmt.where(Transaction.id == event.transaction_id)
        else:
            stmt = stmt.join(ChargePoint, ChargePoint.id == Transaction.charge_point_id).where(
                ChargePoint.identity == event.identity, Transaction.number == event.number
            )
        async with self.maker() as db:
            row = (await db.execute(stmt)).first()
            if row is None:
                return
            session, tx = row
            if await RoamingSessions(db, self.settings, clock=self.clock).progress(session, tx):
                await db.commit()
