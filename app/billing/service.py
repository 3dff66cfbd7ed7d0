"""BillingService: a charging session's payment, priced from its tariff.

payments/ moves money and knows nothing of tariffs or sessions; this is where the hold
amount comes from (the EVSE's tariff) and what an ended session captures (its price).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.errors import NoTariff
from app.chargers.models import ChargePoint, Evse, Location, charger_owner
from app.core.bus import Bus
from app.core.database import utcnow
from app.core.errors import Conflict, NotFound
from app.operators.models import Operator
from app.sessions.costs import price_ended
from app.sessions.models import Transaction
from app.tariffs.service import TariffService
from payments import state
from payments.models import Payment
from payments.registry import Providers
from payments.service import HoldOrder, PaymentService, SavedCard


class BillingService:
    def __init__(
        self,
        db: AsyncSession,
        bus: Bus,
        providers: Providers,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.payments = PaymentService(db, bus, providers, clock=clock)

    async def open_hold(
        self,
        evse_id: uuid.UUID,
        *,
        user_id: uuid.UUID | None = None,
        payer_email: str | None = None,
        saved_card: SavedCard | None = None,
        return_url: str | None = None,
    ) -> Payment:
        """Hold the EVSE's tariff's hold amount with its operator's PSP (PaymentService.open_hold).

        NotFound for an unknown EVSE, NoTariff when no tariff applies to it.
        """
        evse = await self.db.get(Evse, evse_id)
        if evse is None:
            raise NotFound("no such EVSE")
        operator = await self._operator_of(evse)
        terms = await TariffService(self.db, self.bus).resolve(evse.id)
        if terms is None:
            raise NoTariff()
        order = HoldOrder(
            operator_key=f"{operator.country_code}*{operator.party_id}",
            operator_id=operator.id,
            evse_id=evse.id,
            evse_code=evse.evse_id,
            amount_minor=terms.hold_amount_minor,
            currency=terms.currency,
            tariff_snapshot=TariffService.snapshot(terms),
        )
        return await self.payments.open_hold(
            order, user_id=user_id, payer_email=payer_email, saved_card=saved_card, return_url=return_url
        )

    async def settle(self, payment_id: uuid.UUID, *, source: str = "session") -> Payment:
        """After the session ended: capture exactly its price (never more than the hold),
        or cancel the hold if it cost nothing. Idempotent: a settled payment is returned."""
        payment = await self.payments.get(payment_id)
        if payment.transaction_id is None:
            return payment
        tx = await self.db.get(Transaction, payment.transaction_id)
        if tx is None or tx.status != "completed":
            return payment
        if payment.status not in state.HOLDING:
            return payment
        due = 0
        if payment.status != state.CANCELLING:  # a claimed cancel is only sent again
            price = await price_ended(self.db, tx, self.clock())
            due = price.total_minor if price is not None else 0
        return await self.payments.settle(payment.id, due, source=source)

    async def settle_transaction(self, transaction_id: uuid.UUID) -> None:
        """Price an ended session; capture or release its payment if it has one."""
        tx = await self.db.get(Transaction, transaction_id)
        if tx is None:
            return
        await price_ended(self.db, tx, self.clock())
        await self.db.commit()
        payment = await self.payments.for_transaction(transaction_id)
        if payment is not None:
            await self.settle(payment.id)

    # -- the sweeper's queries -------------------------------------------------------

    async def due_for_settlement(self, limit: int = 100) -> list[uuid.UUID]:
        """Held payments whose session has ended, and claims a crash left behind."""
        rows = await self.db.scalars(
            select(Payment.id)
            .join(Transaction, Transaction.id == Payment.transaction_id)
            .where(Payment.status.in_(state.HOLDING), Transaction.status == "completed")
            .limit(limit)
        )
        return list(rows)

    async def price_unpriced(self, limit: int = 100) -> None:
        """Ended sessions with a tariff that were never priced (their event was lost): price them."""
        rows = await self.db.scalars(
            select(Transaction.id)
            .where(
                Transaction.status == "completed",
                Transaction.tariff_snapshot.is_not(None),
                Transaction.priced_at.is_(None),
            )
            .limit(limit)
        )
        for tx_id in list(rows):
            tx = await self.db.get(Transaction, tx_id)
            if tx is not None:
                await price_ended(self.db, tx, self.clock())
        await self.db.commit()

    async def _operator_of(self, evse: Evse) -> Operator:
        # The charger's operator company takes the payment (its tenant); a charger from
        # before chargers had an owner, its location's.
        owner = (
            select(charger_owner())
            .outerjoin(Location, Location.id == ChargePoint.location_id)
            .where(ChargePoint.id == evse.charge_point_id)
            .scalar_subquery()
        )
        row = await self.db.execute(select(Operator).where(Operator.id == owner))
        operator = row.scalar_one_or_none()
        if operator is None:
            raise Conflict("the EVSE belongs to no operator, so nobody can take a payment for it")
        return operator
