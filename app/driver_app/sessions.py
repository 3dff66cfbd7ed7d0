"""Sessions as a driver sees them: one started from the app (a card payment and, once the
charger starts, its transaction) or with the driver's own RFID card or app token (a
transaction on the account: ``Transaction.user_id``, the card's holder when it started).
Object-level authorisation lives here: every lookup is by
id *and* owner, so someone else's session is simply not found."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Literal

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.paid_sessions import PaidSessionService
from app.chargers.models import Evse
from app.core.bus import Bus
from app.core.database import utcnow
from app.core.settings import Settings
from app.driver_app.finder import ChargerFinder
from app.drivers.models import User
from app.sessions.commands import CommandService
from app.sessions.costs import cost_so_far, latest_power_w
from app.sessions.errors import EvseUnavailable, SessionNotActive, SessionNotFound
from app.sessions.models import Transaction
from payments.models import Payment
from payments.registry import Providers
from payments.service import SavedCard

SessionStatus = Literal["pending_payment", "starting", "charging", "finished", "failed"]


class SessionPaymentOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    provider: str
    status: str
    currency: str
    hold_minor: int
    captured_minor: int
    refunded_minor: int
    method_brand: str | None
    method_last4: str | None
    # What the PSP's element or mobile SDK needs while the payment waits for the driver.
    client_secret: str | None = None
    adyen_session_id: str | None = None
    adyen_session_data: str | None = None


class SessionOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID  # the payment's id for a session started from the app, else the transaction's
    kind: Literal["paid", "token"]
    status: SessionStatus
    reason: str | None
    evse_id: str
    transaction_id: uuid.UUID | None
    started_at: datetime | None
    stopped_at: datetime | None
    elapsed_s: float
    energy_wh: float
    power_w: float | None
    charging_state: str | None
    currency: str | None
    cost_minor: int | None  # so far while charging, final once finished
    stop_reason: str | None
    payment: SessionPaymentOut | None
    updated_at: datetime


class SessionPageOut(msgspec.Struct, kw_only=True, rename="camel"):
    items: list[SessionOut]
    limit: int
    offset: int


class DriverSessionService:
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
        self.providers = providers
        self.settings = settings
        self.clock = clock

    # -- start and stop --------------------------------------------------------------

    async def start(self, driver: User, evse_id: str, saved_card: SavedCard | None) -> SessionOut:
        """Check the EVSE can take a session, place the hold, send the remote start."""
        detail = await ChargerFinder(self.db).evse(evse_id)  # EvseNotFound
        if not detail.can_start:
            raise EvseUnavailable(f"the EVSE cannot start a session: {detail.reason}", reason=detail.reason)
        evse = await self.db.scalar(select(Evse).where(Evse.evse_id == detail.evse.evse_id))
        assert evse is not None
        busy = await self.db.scalar(
            select(Transaction.id).where(
                Transaction.charge_point_id == evse.charge_point_id,
                Transaction.evse_number == evse.evse_number,
                Transaction.status == "active",
            )
        )
        if busy is not None:  # a session the charger has not reported as status yet
            raise EvseUnavailable("the EVSE cannot start a session: in_use", reason="in_use")
        payment = await PaidSessionService(self.db, self.bus, self.providers, self.settings, clock=self.clock).start(
            evse.id, user_id=driver.id, payer_email=driver.email, saved_card=saved_card
        )
        return await self.view_payment(payment)

    async def stop(self, driver: User, session_id: uuid.UUID) -> SessionOut:
        _, tx = await self._owned(driver, session_id)
        if tx is None or tx.status != "active":
            raise SessionNotActive()
        commands = CommandService.of(self.db, self.bus, self.settings, clock=self.clock)
        await commands.send(
            tx.charge_point_id, "remote-stop", {"transactionId": str(tx.id)}, by=driver.id, origin="driver"
        )
        return await self.get(driver, session_id)

    # -- reads -------------------------------------------------------------------------

    async def get(self, driver: User, session_id: uuid.UUID) -> SessionOut:
        payment, tx = await self._owned(driver, session_id)
        if payment is not None:
            return await self.view_payment(payment)
        assert tx is not None
        return await self.view_transaction(tx)

    async def history(self, driver: User, *, limit: int, offset: int) -> list[SessionOut]:
        """Newest first: sessions paid from the app, and those started with a card or token
        the driver held at the time (each once)."""
        window = limit + offset
        payments = (
            await self.db.scalars(
                select(Payment).where(Payment.user_id == driver.id).order_by(Payment.created_at.desc()).limit(window)
            )
        ).all()
        txs = (
            await self.db.scalars(
                select(Transaction)
                .outerjoin(Payment, Payment.transaction_id == Transaction.id)
                .where(Transaction.user_id == driver.id, Payment.id.is_(None))
                .order_by(Transaction.started_at.desc())
                .limit(window)
            )
        ).all()
        views = [await self.view_payment(p) for p in payments] + [await self.view_transaction(t) for t in txs]
        views.sort(key=lambda v: v.started_at or v.updated_at, reverse=True)
        return views[offset:window]

    async def _owned(self, driver: User, session_id: uuid.UUID) -> tuple[Payment | None, Transaction | None]:
        payment = await self.db.scalar(select(Payment).where(Payment.id == session_id, Payment.user_id == driver.id))
        if payment is not None:
            tx = await self.db.get(Transaction, payment.transaction_id) if payment.transaction_id else None
            return payment, tx
        # By the owner recorded at the start, never by the card's text: a card removed and
        # linked by someone else must not carry its history along.
        tx = await self.db.scalar(
            select(Transaction).where(Transaction.id == session_id, Transaction.user_id == driver.id)
        )
        if tx is None:
            raise SessionNotFound()
        return None, tx

    # -- views -------------------------------------------------------------------------

    async def view_payment(self, payment: Payment) -> SessionOut:
        await self.db.refresh(payment)
        tx = await self.db.get(Transaction, payment.transaction_id) if payment.transaction_id else None
        evse = await self.db.get(Evse, payment.evse_id)
        out = await self._view(tx, evse.evse_id if evse else "")
        status, reason = out.status, out.reason
        if tx is None:
            if payment.status == "created":
                status, reason = "pending_payment", None
            elif payment.status == "authorised":
                status, reason = "starting", None
            else:
                status = "failed"
                reason = payment.failure_code or _release_reason(payment.status)
        waiting = payment.status == "created"
        return msgspec.structs.replace(
            out,
            id=payment.id,
            kind="paid",
            status=status,
            reason=reason,
            currency=out.currency or payment.currency,
            payment=SessionPaymentOut(
                id=payment.id,
                provider=payment.provider,
                status=payment.status,
                currency=payment.currency,
                hold_minor=payment.hold_minor,
                captured_minor=payment.captured_minor,
                refunded_minor=payment.refunded_minor,
                method_brand=payment.method_brand,
                method_last4=payment.method_last4,
                client_secret=payment.client_secret if waiting else None,
                adyen_session_id=payment.session_ref if waiting else None,
                adyen_session_data=payment.session_data if waiting else None,
            ),
            updated_at=max(payment.updated_at, out.updated_at),
        )

    async def view_transaction(self, tx: Transaction) -> SessionOut:
        evse_id = await self.db.scalar(
            select(Evse.evse_id).where(Evse.charge_point_id == tx.charge_point_id, Evse.evse_number == tx.evse_number)
        )
        return await self._view(tx, evse_id or "")

    async def _view(self, tx: Transaction | None, evse_id: str) -> SessionOut:
        now = self.clock()
        if tx is None:
            return SessionOut(
                id=uuid.uuid4(),
                kind="token",
                status="starting",
                reason=None,
                evse_id=evse_id,
                transaction_id=None,
                started_at=None,
                stopped_at=None,
                elapsed_s=0.0,
                energy_wh=0.0,
                power_w=None,
                charging_state=None,
                currency=None,
                cost_minor=None,
                stop_reason=None,
                payment=None,
                updated_at=now,
            )
        await self.db.refresh(tx)
        active = tx.status == "active"
        price = await cost_so_far(self.db, tx, now) if active else None
        power = await latest_power_w(self.db, tx.id) if active else None
        end = tx.stopped_at or now
        return SessionOut(
            id=tx.id,
            kind="token",
            status="charging" if active else "finished",
            reason=None,
            evse_id=evse_id,
            transaction_id=tx.id,
            started_at=tx.started_at,
            stopped_at=tx.stopped_at,
            elapsed_s=max(0.0, (end - tx.started_at).total_seconds()),
            energy_wh=tx.energy_wh,
            power_w=power,
            charging_state=tx.charging_state,
            currency=price.currency if price is not None else tx.cost_currency,
            cost_minor=price.total_minor if price is not None else tx.cost_minor,
            stop_reason=tx.stop_reason,
            payment=None,
            updated_at=tx.updated_at,
        )


def _release_reason(status: str) -> str:
    return {"cancelled": "released", "cancelling": "released", "failed": "payment_failed"}.get(status, status)
