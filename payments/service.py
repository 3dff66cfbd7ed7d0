"""PaymentService: holds, exact captures, cancels and refunds, exactly once, and the reads.

Every call to a PSP is made with the idempotency key of (payment, action), after the
payment has been *claimed* for it in the database (status capturing / cancelling, one
UPDATE ... WHERE status = expected, so only one worker wins). A crash between the claim and
the PSP's answer leaves the claim; the sweeper repeats the same call with the same key, and
the PSP answers with the result of the first. So a retry can never charge twice, and a
payment is never lost in between.

The PSP's notifications are NotificationService's (payments/notifications.py); both record
their transitions and events through a PaymentLedger (payments/ledger.py).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.bus import Bus
from app.core.database import new_id, scoped, utcnow
from app.core.errors import InvalidInput
from payments import state
from payments.errors import PaymentDeclined, PaymentNotFound, ProviderUnavailable, RefundNotAllowed
from payments.ledger import PaymentLedger, failed_event, remember_method, settled_event
from payments.models import Payment, PaymentTransition, Refund
from payments.provider import HoldRequest, ProviderError, idempotency_key
from payments.registry import Providers

log = logging.getLogger("laddnat.payments")


class HoldOrder(msgspec.Struct, frozen=True, kw_only=True):
    """What to hold and for whom. The caller prices it: payments looks nothing up."""

    operator_key: str  # "SE*LAD" (country code * party id): picks the operator's PSP
    operator_id: uuid.UUID
    evse_id: uuid.UUID
    evse_code: str  # the EVSE's public id ("SE*LAD*E0001*1"), shown on the card statement
    amount_minor: int
    currency: str
    tariff_snapshot: dict[str, Any]  # the terms the driver agreed to, kept on the payment


class SavedCard(msgspec.Struct, frozen=True, kw_only=True):
    """An app user's saved card at the PSP: confirmed off-session, no shopper present."""

    customer_ref: str
    payment_method_ref: str


def new_payment_token() -> str:
    """The id token a paid session starts with: 17 characters (1.6 allows 20), unguessable."""
    return "P" + secrets.token_hex(8).upper()


class PaymentService:
    """``tenant_id``: the operator company an operator request may see and refund the
    payments of (another's are PaymentNotFound, before anything reaches the PSP); None is
    the system's own view (checkout, workers, notifications)."""

    def __init__(
        self,
        db: AsyncSession,
        bus: Bus,
        providers: Providers,
        *,
        tenant_id: uuid.UUID | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.providers = providers
        self.tenant_id = tenant_id
        self.clock = clock
        self.ledger = PaymentLedger(db, bus, clock=clock)

    # -- holds -----------------------------------------------------------------------

    async def open_hold(
        self,
        order: HoldOrder,
        *,
        user_id: uuid.UUID | None = None,
        payer_email: str | None = None,
        saved_card: SavedCard | None = None,
        return_url: str | None = None,
    ) -> Payment:
        """Place a hold of ``order.amount_minor`` with the operator's PSP and return the payment.

        With a saved card the hold is confirmed at once (``authorised``, or PaymentDeclined);
        otherwise it stays ``created`` with what the PSP's element needs (client secret or
        Drop-in session) until the shopper pays and the PSP notifies us.
        """
        provider = self.providers.for_operator(order.operator_key)
        payment = Payment(
            id=new_id(),
            operator_id=order.operator_id,
            provider=provider.name,
            currency=order.currency,
            hold_minor=order.amount_minor,
            user_id=user_id,
            payer_email=payer_email,
            evse_id=order.evse_id,
            id_token=new_payment_token(),
            tariff_snapshot=order.tariff_snapshot,
        )
        self.db.add(payment)
        self.ledger.record(payment, state.CREATED, "create", "session", amount=payment.hold_minor)
        # Stored before the PSP is asked: whatever happens next, the payment is on record.
        await self.db.commit()
        request = HoldRequest(
            payment_id=payment.id,
            amount_minor=payment.hold_minor,
            currency=payment.currency,
            description=f"Charging at {order.evse_code}",
            customer_ref=saved_card.customer_ref if saved_card else None,
            payment_method_ref=saved_card.payment_method_ref if saved_card else None,
            return_url=return_url,
            metadata={"evse_id": order.evse_code},
        )
        try:
            hold = await provider.create_hold(request, idempotency_key=idempotency_key(payment.id, "hold"))
        except ProviderError as err:
            await self.ledger.fail(payment, err.code, err.message, "hold")
            if err.retryable:
                raise ProviderUnavailable() from err
            raise PaymentDeclined(err.message, provider_code=err.code) from err
        payment.provider_ref = hold.provider_ref
        payment.client_secret = hold.client_secret
        payment.session_ref = hold.session_id
        payment.session_data = hold.session_data
        remember_method(payment, hold.method)
        if hold.status == "failed":
            await self.ledger.fail(payment, hold.failure_code or "declined", hold.failure_message or "", "hold")
            raise PaymentDeclined(hold.failure_message or None, provider_code=hold.failure_code)
        if hold.status == "authorised":
            self.ledger.authorise(payment, "session")
        await self.ledger.commit()
        return payment

    async def release(self, payment_id: uuid.UUID, reason: str, *, source: str = "session") -> Payment:
        """Cancel the hold (a failed start, a zero-energy session): nothing is charged."""
        payment = await self.get(payment_id)
        if payment.status == state.CREATED and payment.provider_ref is None:
            # The shopper never paid: nothing is held at the PSP to release.
            self.ledger.move(payment, state.CANCELLED, "cancel", source, detail=reason)
            payment.settled_at = self.clock()
            await self.ledger.commit()
            return payment
        if not await self.ledger.claim(payment, {state.AUTHORISED, state.CREATED, state.CANCELLING}, state.CANCELLING):
            return payment
        return await self._send_cancel(payment, reason, source)

    async def settle(self, payment_id: uuid.UUID, amount_due_minor: int, *, source: str = "session") -> Payment:
        """The session ended costing ``amount_due_minor``: capture exactly that (never more
        than the hold), or cancel the hold if it is 0. The first amount given is kept, so a
        repeat captures the same. Idempotent: a settled payment is returned as it is."""
        payment = await self.get(payment_id)
        if payment.status == state.CANCELLING:
            return await self._send_cancel(payment, "nothing to charge", source)
        if payment.status not in {state.AUTHORISED, state.CAPTURING}:
            return payment
        due = amount_due_minor
        if payment.amount_due_minor is None:
            payment.amount_due_minor = due
        await self.db.commit()
        if due <= 0:
            if await self.ledger.claim(payment, {state.AUTHORISED}, state.CANCELLING):
                return await self._send_cancel(payment, "the session delivered nothing to charge", source)
            return payment
        amount = min(payment.amount_due_minor, payment.hold_minor)
        if payment.status == state.AUTHORISED and not await self.ledger.claim(
            payment, {state.AUTHORISED}, state.CAPTURING
        ):
            return payment
        return await self._send_capture(payment, amount, source)

    async def _send_capture(self, payment: Payment, amount: int, source: str) -> Payment:
        provider = self.providers.get(payment.provider)
        assert payment.provider_ref is not None
        try:
            outcome = await provider.capture(
                payment.provider_ref, amount, payment.currency, idempotency_key=idempotency_key(payment.id, "capture")
            )
        except ProviderError as err:
            if err.retryable:
                log.warning("capture of %s not answered (%s); the sweeper retries", payment.id, err)
                return payment
            if await self._still(payment, state.CAPTURING):
                payment.failure_code, payment.failure_message = err.code[:64], err.message[:255]
                self.ledger.move(payment, state.FAILED, "capture", source, amount=amount, detail=err.code)
                self.ledger.publish_after_commit(failed_event(payment))
                await self.ledger.commit()
            return payment
        if await self._still(payment, state.CAPTURING):  # a notification may have got here first
            payment.captured_minor = amount
            payment.settled_at = self.clock()
            if outcome.status == "done":
                payment.capture_confirmed_at = self.clock()
            self.ledger.move(payment, state.CAPTURED, "capture", source, amount=amount)
            self.ledger.publish_after_commit(settled_event(payment))
            await self.ledger.commit()
        return payment

    async def _send_cancel(self, payment: Payment, reason: str, source: str) -> Payment:
        provider = self.providers.get(payment.provider)
        if payment.provider_ref is None:
            # An Adyen Drop-in session that was never paid: nothing is held.
            if await self._still(payment, state.CANCELLING):
                self.ledger.move(payment, state.CANCELLED, "cancel", source, detail=reason)
                payment.settled_at = self.clock()
                await self.ledger.commit()
            return payment
        try:
            await provider.cancel(payment.provider_ref, idempotency_key=idempotency_key(payment.id, "cancel"))
        except ProviderError as err:
            if err.retryable:
                log.warning("cancel of %s not answered (%s); the sweeper retries", payment.id, err)
                return payment
            # A refused cancel (already expired or cancelled at the PSP) leaves nothing held.
            log.warning("cancel of %s refused: %s", payment.id, err)
        if await self._still(payment, state.CANCELLING):
            self.ledger.move(payment, state.CANCELLED, "cancel", source, detail=reason)
            payment.settled_at = self.clock()
            self.ledger.publish_after_commit(settled_event(payment))
            await self.ledger.commit()
        return payment

    async def _still(self, payment: Payment, status: str) -> bool:
        """Re-read the payment under a row lock: True if it is still ``status``, and the lock
        is held to the caller's commit, so a PSP notification applying the same outcome at
        the same moment, or a second worker process finishing the same claim (it locks the
        row too), waits and finds it done: the move is recorded once. Otherwise the lock is
        let go at once. Several worker processes need PostgreSQL: SQLite has no row locks
        (and is the single-process default)."""
        await self.db.refresh(payment, with_for_update=True)
        if payment.status == status:
            return True
        await self.db.commit()  # nothing written: only releases the lock
        return False

    # -- refunds ---------------------------------------------------------------------

    async def refund(
        self, payment_id: uuid.UUID, amount_minor: int | None, *, reason: str = "", by: uuid.UUID | None = None
    ) -> Refund:
        """Give back part or all of a captured payment (``None``: everything not yet refunded)."""
        payment = await self.get(payment_id, for_update=True)
        if payment.status not in {state.CAPTURED, state.PARTIALLY_REFUNDED}:
            raise RefundNotAllowed(f"the payment is {payment.status}; only captured payments are refunded")
        left = payment.captured_minor - payment.refunded_minor
        amount = left if amount_minor is None else amount_minor
        if amount <= 0 or amount > left:
            raise InvalidInput(f"the amount must be 1..{left} ({payment.currency} minor units)", field="amountMinor")
        seq = int(await self.db.scalar(select(func.count()).where(Refund.payment_id == payment.id)) or 0) + 1
        refund = Refund(payment_id=payment.id, seq=seq, amount_minor=amount, reason=reason[:255], requested_by=by)
        self.db.add(refund)
        # Counted now, so two refunds at once cannot together exceed the capture.
        payment.refunded_minor += amount
        self.ledger.move(
            payment,
            state.after_refund(payment.captured_minor, payment.refunded_minor),
            "refund",
            "operator",
            amount=amount,
            detail=reason[:255] or None,
        )
        await self.db.commit()
        provider = self.providers.get(payment.provider)
        assert payment.provider_ref is not None
        try:
            key = idempotency_key(payment.id, "refund", seq)
            outcome = await provider.refund(payment.provider_ref, amount, payment.currency, idempotency_key=key)
        except ProviderError as err:
            if err.retryable:
                raise ProviderUnavailable("the refund is recorded and will be retried") from err
            await self.ledger.refund_failed(payment, refund, err.code)
            raise RefundNotAllowed(err.message, provider_code=err.code) from err
        refund.provider_ref = outcome.action_ref
        if outcome.status == "done":
            refund.status = "succeeded"
        await self.db.commit()
        return refund

    async def resend_refunds(self, older_than_s: float = 30.0, limit: int = 50) -> int:
        """Refunds recorded but never answered by the PSP (a timeout, a crash): send them
        again with the same idempotency key, so the PSP refunds once. Returns how many."""
        cutoff = self.clock() - timedelta(seconds=older_than_s)
        pending = (
            await self.db.scalars(
                select(Refund)
                .where(Refund.status == "requested", Refund.provider_ref.is_(None), Refund.created_at < cutoff)
                .limit(limit)
            )
        ).all()
        sent = 0
        for refund in pending:
            payment = await self.get(refund.payment_id)
            if payment.provider_ref is None:
                continue
            key = idempotency_key(payment.id, "refund", refund.seq)
            try:
                outcome = await self.providers.get(payment.provider).refund(
                    payment.provider_ref, refund.amount_minor, payment.currency, idempotency_key=key
                )
            except ProviderError as err:
                if not err.retryable:
                    await self.ledger.refund_failed(payment, refund, err.code, "sweeper")
                continue
            # Without an id from the PSP, a marker: answered, so it is not sent again.
            refund.provider_ref = outcome.action_ref or f"{payment.provider_ref}:refund:{refund.seq}"
            if outcome.status == "done":
                refund.status = "succeeded"
            await self.db.commit()
            sent += 1
        return sent

    # -- reads -----------------------------------------------------------------------

    async def get(self, payment_id: uuid.UUID, *, for_update: bool = False) -> Payment:
        payment = await self.db.get(Payment, payment_id, with_for_update=for_update, populate_existing=True)
        if payment is None or (self.tenant_id is not None and payment.operator_id != self.tenant_id):
            raise PaymentNotFound()
        return payment

    async def for_transaction(self, transaction_id: uuid.UUID) -> Payment | None:
        return await self.db.scalar(select(Payment).where(Payment.transaction_id == transaction_id))

    async def history(self, payment_id: uuid.UUID) -> Sequence[PaymentTransition]:
        rows = await self.db.scalars(
            select(PaymentTransition).where(PaymentTransition.payment_id == payment_id).order_by(PaymentTransition.id)
        )
        return rows.all()

    async def refunds(self, payment_id: uuid.UUID) -> Sequence[Refund]:
        rows = await self.db.scalars(select(Refund).where(Refund.payment_id == payment_id).order_by(Refund.seq))
        return rows.all()

    async def search(
        self, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[Sequence[Payment], int]:
        stmt = scoped(select(Payment), Payment.operator_id, self.tenant_id)
        count = scoped(select(func.count()).select_from(Payment), Payment.operator_id, self.tenant_id)
        if status is not None:
            stmt, count = stmt.where(Payment.status == status), count.where(Payment.status == status)
        rows = await self.db.scalars(stmt.order_by(Payment.created_at.desc()).limit(limit).offset(offset))
        return rows.all(), int(await self.db.scalar(count) or 0)

    # -- the sweeper's queries -------------------------------------------------------

    async def abandoned(self, started_within_s: float, limit: int = 100) -> list[uuid.UUID]:
        """Holds whose session never started within ``started_within_s``: release them."""
        cutoff = self.clock() - timedelta(seconds=started_within_s)
        rows = await self.db.scalars(
            select(Payment.id)
            .where(
                Payment.status.in_({state.AUTHORISED, state.CANCELLING}),
                Payment.transaction_id.is_(None),
                Payment.updated_at < cutoff,
            )
            .limit(limit)
        )
        return list(rows)
