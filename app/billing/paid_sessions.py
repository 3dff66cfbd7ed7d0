"""Paid sessions: the hold, then the remote start once the hold is on the card.

``PaidSessionService`` is what the driver app and the web checkout call; the stop at the
hold limit and the exact capture are the PaymentWorker's (app/billing/worker.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.errors import StartFailed
from app.billing.service import BillingService
from app.chargers.models import Evse
from app.core.bus import Bus
from app.core.database import utcnow
from app.core.errors import DomainError
from app.core.settings import Settings
from app.sessions.commands import CommandService
from payments import state
from payments.models import Payment
from payments.registry import Providers
from payments.service import SavedCard


class PaidSessionService:
    def __init__(
        self,
        db: AsyncSession,
        bus: Bus,
        providers: Providers,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.bus = bus
        self.settings = settings
        self.clock = clock
        self.billing = BillingService(db, bus, providers, clock=clock)
        self.payments = self.billing.payments

    async def start(
        self,
        evse_id: uuid.UUID,
        *,
        user_id: uuid.UUID | None = None,
        payer_email: str | None = None,
        saved_card: SavedCard | None = None,
        return_url: str | None = None,
    ) -> Payment:
        """Place the hold; once it is on the card, ask the charger to start.

        A saved card is held at once and the remote start is sent before this returns
        (StartFailed and a released hold if the charger refuses). Otherwise the payment
        waits for the shopper in the PSP's element, and the start follows its notification.
        """
        payment = await self.billing.open_hold(
            evse_id, user_id=user_id, payer_email=payer_email, saved_card=saved_card, return_url=return_url
        )
        if payment.status == state.AUTHORISED:
            await self.remote_start(payment.id)
            payment = await self.payments.get(payment.id)
        return payment

    async def remote_start(self, payment_id: uuid.UUID) -> None:
        """Send the remote start for an authorised payment, once (a claim on the row)."""
        claimed = await self.db.execute(
            update(Payment)
            .where(
                Payment.id == payment_id,
                Payment.status == state.AUTHORISED,
                Payment.start_requested_at.is_(None),
            )
            .values(start_requested_at=self.clock())
            .returning(Payment.evse_id, Payment.id_token)
        )
        row = claimed.one_or_none()
        await self.db.commit()
        if row is None:
            return
        evse = await self.db.get(Evse, row.evse_id)
        assert evse is not None
        commands = CommandService.of(self.db, self.bus, self.settings, clock=self.clock)
        try:
            entry = await commands.send(
                evse.charge_point_id,
                "remote-start",
                {"idToken": row.id_token, "evse": evse.evse_number},
                origin="payment",
            )
        except DomainError as err:
            await self.payments.release(payment_id, f"remote start failed: {err.code}")
            raise StartFailed(f"the charger did not start ({err.code}); the hold is released") from err
        status = (entry.answer or {}).get("status")
        if status != "Accepted":
            await self.payments.release(payment_id, f"remote start {status}")
            raise StartFailed(f"the charger answered {status}; the hold is released")
