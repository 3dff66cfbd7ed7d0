"""Telling operators by webhook: the bus events they subscribe to (incidents, settled
payments) become deliveries in their outbox (app/operators/webhooks), which the
WebhookWorker sends."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.bus import Bus, Event
from app.health.events import IncidentChanged, IncidentOpened, IncidentResolved
from app.operators.webhooks.outbox import WebhookOutbox, event_data
from app.operators.webhooks.worker import WebhookWorker
from payments.events import PaymentSettled
from payments.models import Payment

SUBJECTS = (IncidentOpened.subject, IncidentChanged.subject, IncidentResolved.subject, PaymentSettled.subject)


class WebhookDispatcher:
    """Turns bus events into stored deliveries; never waits on a receiver."""

    def __init__(self, maker: async_sessionmaker[AsyncSession], bus: Bus, worker: WebhookWorker) -> None:
        self.maker = maker
        self.bus = bus
        self.worker = worker

    def subscribe(self) -> None:
        for subject in SUBJECTS:
            self.bus.subscribe(subject, self._on_event, group="webhooks")

    async def _on_event(self, event: Event) -> None:
        await self.dispatch(event)

    async def dispatch(self, event: Event) -> int:
        """Store the event for every endpoint that wants it; how many deliveries are new."""
        async with self.maker() as db:
            operator_id = await _operator_of(db, event)
            outbox = WebhookOutbox(db, clock=self.worker.clock)
            added = await outbox.enqueue(event.subject, operator_id, event_data(event))
            await db.commit()
        if added:
            self.worker.poke()
        return added


async def _operator_of(db: AsyncSession, event: Event) -> uuid.UUID | None:
    if isinstance(event, PaymentSettled):
        # The payment event names no operator; its payment row does.
        payment = await db.get(Payment, event.payment_id)
        return payment.operator_id if payment is not None else None
    operator_id = getattr(event, "operator_id", None)
    return operator_id if isinstance(operator_id, uuid.UUID) else None
