"""PaymentWorker: every paid session ends captured or released, and never costs more than its hold.

It runs beside the API and reacts to transaction and payment events at once; a sweeper
repeats whatever an event could not finish (a crash, a PSP timeout, an API process that
did not see the bridge's event).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.billing.errors import StartFailed
from app.billing.events import HoldLimitReached
from app.billing.paid_sessions import PaidSessionService
from app.billing.service import BillingService
from app.chargers.models import ChargePoint
from app.core.bus import Bus, Event
from app.core.database import claim, utcnow
from app.core.errors import DomainError
from app.core.settings import Settings
from app.core.workers import PollingWorker
from app.sessions.commands import CommandService
from app.sessions.costs import cost_so_far, latest_power_w, terms_of
from app.sessions.events import MeterSampled, TransactionEnded, TransactionStarted, TransactionUpdated
from app.sessions.models import Transaction
from payments import state
from payments.events import PaymentAuthorised
from payments.models import Payment
from payments.notifications import NotificationService
from payments.registry import Providers

log = logging.getLogger("laddnat.payments")


class PaymentWorker(PollingWorker):
    """Runs beside the API: events first, the sweeper for whatever they missed."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        bus: Bus,
        providers: Providers,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__("payment-sweeper", interval_s=settings.payments.sweep_interval_s, log=log)
        self.maker = maker
        self.bus = bus
        self.providers = providers
        self.settings = settings
        self.paid = settings.payments
        self.clock = clock
        # Running paid sessions by (charger identity, transaction number): meter events of
        # every other session cost a dict lookup, not a query.
        self._watched: dict[tuple[str, int], uuid.UUID] = {}
        self._last_check: dict[uuid.UUID, datetime] = {}
        self._watched_loaded = False

    def subscribe(self) -> None:
        self.bus.subscribe(PaymentAuthorised.subject, self._on_authorised, group="billing")
        self.bus.subscribe(TransactionEnded.subject, self._on_ended, group="billing")
        # Every copy watches every running paid session (no group): in a group, a session's
        # start and its meter samples would reach different copies, and the copy that got a
        # sample would not know the session is paid. Two copies checking one session is
        # fine: the stop at the hold is claimed once (Payment.limit_stop_at).
        self.bus.subscribe(TransactionStarted.subject, self._on_started)
        self.bus.subscribe(TransactionUpdated.subject, self._on_progress)
        self.bus.subscribe(MeterSampled.subject, self._on_progress)

    # -- events ----------------------------------------------------------------------

    async def _on_authorised(self, event: Event) -> None:
        assert isinstance(event, PaymentAuthorised)
        if event.start_by != "worker":
            return  # the request that placed the hold sends the start and reports its outcome
        async with self.maker() as db:
            try:
                await self._paid_sessions(db).remote_start(event.payment_id)
            except StartFailed as err:
                log.info("payment %s: %s", event.payment_id, err.detail)

    async def _on_started(self, event: Event) -> None:
        assert isinstance(event, TransactionStarted)
        async with self.maker() as db:
            payment_id = await db.scalar(select(Payment.id).where(Payment.transaction_id == event.transaction_id))
        if payment_id is not None:
            self._watched[(event.identity, event.number)] = payment_id

    async def _on_ended(self, event: Event) -> None:
        assert isinstance(event, TransactionEnded)
        payment_id = self._watched.pop((event.identity, event.number), None)
        if payment_id is not None:
            self._last_check.pop(payment_id, None)
        await self.settle_transaction(event.transaction_id)

    async def _on_progress(self, event: Event) -> None:
        number = event.number if isinstance(event, TransactionUpdated) else getattr(event, "transaction_number", None)
        identity = getattr(event, "identity", None)
        if number is None or identity is None:
            return
        payment_id = self._watched.get((identity, number))
        if payment_id is None:
            return
        last = self._last_check.get(payment_id)
        if last is not None and (self.clock() - last).total_seconds() < self.paid.hold_check_interval_s:
            return
        await self.check_hold_limit(payment_id)

    # -- the work --------------------------------------------------------------------

    async def settle_transaction(self, transaction_id: uuid.UUID) -> None:
        """Price an ended session; capture or release its payment if it has one."""
        async with self.maker() as db:
            await self._billing(db).settle_transaction(transaction_id)

    async def check_hold_limit(self, payment_id: uuid.UUID) -> bool:
        """Stop the session if its cost is about to pass the hold; True if a stop was sent."""
        async with self.maker() as db:
            payment = await db.get(Payment, payment_id)
            if payment is None or payment.transaction_id is None or payment.limit_stop_at is not None:
                return False
            tx = await db.get(Transaction, payment.transaction_id)
            if tx is None or tx.status != "active":
                return False
            now = self.clock()
            price = await cost_so_far(db, tx, now)
            if price is None:
                return False
            self._last_check[payment_id] = now
            headroom = max(payment.hold_minor * 0.02, await self._cost_ahead(db, tx))
            if price.total_minor + headroom < payment.hold_minor:
                return False
            claimed = await claim(
                db,
                update(Payment)
                .where(Payment.id == payment_id, Payment.limit_stop_at.is_(None))
                .values(limit_stop_at=now),
            )
            if not claimed:
                await db.rollback()
                return False
            await db.commit()
            cp = await db.get(ChargePoint, tx.charge_point_id)
            log.info(
                "payment %s: cost %d of hold %d %s, stopping %s",
                payment_id,
                price.total_minor,
                payment.hold_minor,
                payment.currency,
                cp.identity if cp else "?",
            )
            self.bus.publish(
                HoldLimitReached(
                    payment_id=payment_id,
                    transaction_id=tx.id,
                    cost_minor=price.total_minor,
                    hold_minor=payment.hold_minor,
                    currency=payment.currency,
                )
            )
            try:
                await self._commands(db).send(
                    tx.charge_point_id, "remote-stop", {"transactionId": str(tx.id)}, origin="payment"
                )
            except DomainError as err:
                # The charger will still be stopped by the capture cap: never more than the hold.
                log.warning("payment %s: the remote stop at the hold limit failed: %s", payment_id, err.code)
            return True

    async def _cost_ahead(self, db: AsyncSession, tx: Transaction) -> float:
        """What the next ``stop_lookahead_s`` may cost at the power the meter reports now,
        at the tariff's dearest band: the stop must land before the hold is reached."""
        terms = terms_of(tx)
        if terms is None:
            return 0.0
        power_w = await latest_power_w(db, tx.id)
        lookahead_s = self.paid.stop_lookahead_s
        per_kwh = max([terms.price_per_kwh_minor, *(b.price_per_kwh_minor or 0 for b in terms.bands)])
        per_minute = max([terms.price_per_minute_minor, *(b.price_per_minute_minor or 0 for b in terms.bands)])
        kwh_ahead = max(0.0, power_w or 0.0) * lookahead_s / 3_600_000
        return kwh_ahead * per_kwh + lookahead_s / 60 * per_minute

    async def pass_once(self) -> None:
        """Load the running paid sessions once (retried each pass until it works), then sweep."""
        if not self._watched_loaded:
            try:
                await self._load_watched()
                self._watched_loaded = True
            except Exception:  # the sweep below still runs: it needs no watched sessions
                log.exception("could not load the running paid sessions; retrying")
        await self.sweep()

    async def sweep(self) -> None:
        """One pass: notifications not yet applied, ended sessions not yet settled, claims a
        crash left behind, holds whose session never started."""
        async with self.maker() as db:
            billing = self._billing(db)
            payments = billing.payments
            notifications = NotificationService(db, self.bus, clock=self.clock)
            for row_id in await notifications.unprocessed():
                await notifications.process(row_id)
            for payment_id in await billing.due_for_settlement():
                await billing.settle(payment_id, source="sweeper")
            await payments.resend_refunds()
            for payment_id in await payments.abandoned(self.paid.start_timeout_s):
                await payments.release(payment_id, "the session did not start in time", source="sweeper")
            await billing.price_unpriced()

    async def _load_watched(self) -> None:
        async with self.maker() as db:
            rows = await db.execute(
                select(ChargePoint.identity, Transaction.number, Payment.id)
                .join(Transaction, Transaction.id == Payment.transaction_id)
                .join(ChargePoint, ChargePoint.id == Transaction.charge_point_id)
                .where(Transaction.status == "active", Payment.status.in_(state.HOLDING))
            )
            self._watched = {(identity, number): pid for identity, number, pid in rows}

    def _billing(self, db: AsyncSession) -> BillingService:
        return BillingService(db, self.bus, self.providers, clock=self.clock)

    def _paid_sessions(self, db: AsyncSession) -> PaidSessionService:
        return PaidSessionService(db, self.bus, self.providers, self.settings, clock=self.clock)

    def _commands(self, db: AsyncSession) -> CommandService:
        return CommandService.of(db, self.bus, self.settings, clock=self.clock)
