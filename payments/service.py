"""PaymentService: holds, exact captures, cancels, refunds and PSP notifications, exactly once.

Every call to a PSP is made with the idempotency key of (payment, action), after the
payment has been *claimed* for it in the database (status capturing / cancelling, one
UPDATE ... WHERE status = expected, so only one worker wins). A crash between the claim and
the PSP's answer leaves the claim; the sweeper repeats the same call with the same key, and
the PSP answers with the result of the first. So a retry can never charge twice, and a
payment is never lost in between.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.bus import Bus, Event
from app.core.database import claim, insert_ignoring_duplicates, new_id, utcnow
from app.core.errors import Conflict, InvalidInput
from payments import state
from payments.errors import PaymentDeclined, PaymentNotFound, ProviderUnavailable, RefundNotAllowed
from payments.events import PaymentAuthorised, PaymentFailed, PaymentSettled
from payments.models import Payment, PaymentTransition, Refund, WebhookEvent
from payments.provider import (
    HoldRequest,
    PaymentMethod,
    ProviderError,
    ProviderEvent,
    idempotency_key,
)
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
        self.providers = providers
        self.clock = clock
        self._events: list[Event] = []

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
        self._transition(payment, state.CREATED, "create", "session", amount=payment.hold_minor)
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
            await self._fail(payment, err.code, err.message, "hold")
            if err.retryable:
                raise ProviderUnavailable() from err
            raise PaymentDeclined(err.message, provider_code=err.code) from err
        payment.provider_ref = hold.provider_ref
        payment.client_secret = hold.client_secret
        payment.session_ref = hold.session_id
        payment.session_data = hold.session_data
        self._remember_method(payment, hold.method)
        if hold.status == "failed":
            await self._fail(payment, hold.failure_code or "declined", hold.failure_message or "", "hold")
            raise PaymentDeclined(hold.failure_message or None, provider_code=hold.failure_code)
        if hold.status == "authorised":
            self._authorise(payment, "session")
        await self._commit(payment)
        return payment

    async def release(self, payment_id: uuid.UUID, reason: str, *, source: str = "session") -> Payment:
        """Cancel the hold (a failed start, a zero-energy session): nothing is charged."""
        payment = await self.get(payment_id)
        if payment.status == state.CREATED and payment.provider_ref is None:
            # The shopper never paid: nothing is held at the PSP to release.
            self._move(payment, state.CANCELLED, "cancel", source, detail=reason)
            payment.settled_at = self.clock()
            await self._commit(payment)
            return payment
        if not await self._claim(payment, {state.AUTHORISED, state.CREATED, state.CANCELLING}, state.CANCELLING):
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
            if await self._claim(payment, {state.AUTHORISED}, state.CANCELLING):
                return await self._send_cancel(payment, "the session delivered nothing to charge", source)
            return payment
        amount = min(payment.amount_due_minor, payment.hold_minor)
        if payment.status == state.AUTHORISED and not await self._claim(payment, {state.AUTHORISED}, state.CAPTURING):
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
            await self.db.refresh(payment)
            if payment.status == state.CAPTURING:
                payment.failure_code, payment.failure_message = err.code[:64], err.message[:255]
                self._move(payment, state.FAILED, "capture", source, amount=amount, detail=err.code)
                self._later(self._failed_event(payment))
                await self._commit(payment)
            return payment
        await self.db.refresh(payment)
        if payment.status == state.CAPTURING:  # a notification may have got here first
            payment.captured_minor = amount
            payment.settled_at = self.clock()
            if outcome.status == "done":
                payment.capture_confirmed_at = self.clock()
            self._move(payment, state.CAPTURED, "capture", source, amount=amount)
            self._later(self._settled_event(payment))
            await self._commit(payment)
        return payment

    async def _send_cancel(self, payment: Payment, reason: str, source: str) -> Payment:
        provider = self.providers.get(payment.provider)
        if payment.provider_ref is None:
            # An Adyen Drop-in session that was never paid: nothing is held.
            await self.db.refresh(payment)
            if payment.status == state.CANCELLING:
                self._move(payment, state.CANCELLED, "cancel", source, detail=reason)
                payment.settled_at = self.clock()
                await self._commit(payment)
            return payment
        try:
            await provider.cancel(payment.provider_ref, idempotency_key=idempotency_key(payment.id, "cancel"))
        except ProviderError as err:
            if err.retryable:
                log.warning("cancel of %s not answered (%s); the sweeper retries", payment.id, err)
                return payment
            # A refused cancel (already expired or cancelled at the PSP) leaves nothing held.
            log.warning("cancel of %s refused: %s", payment.id, err)
        await self.db.refresh(payment)
        if payment.status == state.CANCELLING:
            self._move(payment, state.CANCELLED, "cancel", source, detail=reason)
            payment.settled_at = self.clock()
            self._later(self._settled_event(payment))
            await self._commit(payment)
        return payment

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
        self._move(
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
            await self._refund_failed(payment, refund, err.code)
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
                    await self._refund_failed(payment, refund, err.code, "sweeper")
                continue
            # Without an id from the PSP, a marker: answered, so it is not sent again.
            refund.provider_ref = outcome.action_ref or f"{payment.provider_ref}:refund:{refund.seq}"
            if outcome.status == "done":
                refund.status = "succeeded"
            await self.db.commit()
            sent += 1
        return sent

    async def _refund_failed(self, payment: Payment, refund: Refund, code: str, source: str = "operator") -> None:
        if refund.status == "failed":
            return
        refund.status = "failed"
        payment.refunded_minor -= refund.amount_minor
        to = state.CAPTURED if payment.refunded_minor == 0 else state.PARTIALLY_REFUNDED
        self._transition(payment, to, "refund_failed", source, amount=refund.amount_minor, detail=code)
        payment.status = to
        await self.db.commit()

    # -- notifications -------------------------------------------------------------

    async def record_notifications(self, events: Sequence[ProviderEvent]) -> list[int]:
        """Store verified notifications; a repeat (same PSP event id) is dropped here.
        Returns the ids of the new ones, to process after answering the PSP."""
        new: list[int] = []
        for event in events:
            result = await self.db.execute(
                insert_ignoring_duplicates(self.db, WebhookEvent)
                .values(
                    provider=event.provider,
                    event_id=event.event_id[:120],
                    kind=event.kind,
                    payment_id=event.payment_id,
                    event=msgspec.to_builtins(event),
                    received_at=self.clock(),
                )
                .returning(WebhookEvent.id)
            )
            row_id = result.scalar_one_or_none()
            if row_id is not None:
                new.append(int(row_id))
        await self.db.commit()
        return new

    async def process_notification(self, row_id: int) -> str | None:
        """Apply one stored notification once; returns what it did."""
        claimed = await self.db.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id == row_id, WebhookEvent.processed_at.is_(None))
            .values(processed_at=self.clock())
            .returning(WebhookEvent.event)
        )
        raw = claimed.scalar_one_or_none()
        if raw is None:
            await self.db.rollback()
            return None  # another worker has it
        event = msgspec.convert(raw, ProviderEvent)
        try:
            outcome = await self._apply(event)
        except Exception:
            await self.db.rollback()
            await self.db.execute(update(WebhookEvent).where(WebhookEvent.id == row_id).values(processed_at=None))
            await self.db.commit()
            raise
        await self.db.execute(update(WebhookEvent).where(WebhookEvent.id == row_id).values(outcome=outcome[:64]))
        await self._commit()
        return outcome

    async def unprocessed_notifications(self, limit: int = 100) -> list[int]:
        rows = await self.db.scalars(
            select(WebhookEvent.id).where(WebhookEvent.processed_at.is_(None)).order_by(WebhookEvent.id).limit(limit)
        )
        return list(rows)

    async def _apply(self, event: ProviderEvent) -> str:
        payment = await self._payment_for(event)
        if payment is None:
            return "unknown payment"
        source, tag = "webhook", f"webhook:{event.kind}"
        if event.provider_ref and payment.provider_ref is None:
            payment.provider_ref = event.provider_ref  # Adyen names it in the AUTHORISATION
        self._remember_method(payment, event.method)
        kind, status = event.kind, payment.status
        if kind == "authorised":
            if status == state.CREATED:
                self._authorise(payment, source, event.event_id)
                return await self._done(payment, "authorised")
            return await self._done(payment, f"already {status}")
        if kind == "authorisation_failed":
            if status in {state.CREATED, state.AUTHORISED}:
                payment.failure_code = (event.failure_code or "refused")[:64]
                payment.failure_message = (event.failure_message or "")[:255]
                self._move(payment, state.FAILED, tag, source, event_id=event.event_id, detail=event.failure_code)
                self._later(self._failed_event(payment))
                return await self._done(payment, "failed")
            return await self._done(payment, f"already {status}")
        if kind == "captured":
            amount = event.amount_minor if event.amount_minor is not None else payment.captured_minor
            if status in {state.CREATED, state.AUTHORISED, state.CAPTURING, state.CANCELLING}:
                payment.captured_minor = amount
                payment.settled_at = payment.settled_at or self.clock()
                payment.capture_confirmed_at = self.clock()
                self._move(payment, state.CAPTURED, tag, source, amount=amount, event_id=event.event_id)
                self._later(self._settled_event(payment))
                return await self._done(payment, "captured")
            if status in state.PAID:
                payment.capture_confirmed_at = payment.capture_confirmed_at or self.clock()
                if amount != payment.captured_minor:
                    # The PSP's figure is what was really taken; reconciliation shows both.
                    detail = f"PSP captured {amount}, we recorded {payment.captured_minor}"
                    self._transition(payment, payment.status, tag, source, amount=amount, detail=detail)
                    payment.captured_minor = amount
                return await self._done(payment, "capture confirmed")
            return await self._done(payment, f"ignored in {status}")
        if kind == "capture_failed":
            if status in {state.CAPTURING, state.CAPTURED}:
                payment.failure_code = (event.failure_code or "capture_failed")[:64]
                self._transition(payment, state.FAILED, tag, source, event_id=event.event_id, detail=event.failure_code)
                payment.status = state.FAILED
                self._later(self._failed_event(payment))
                return await self._done(payment, "capture failed")
            return await self._done(payment, f"ignored in {status}")
        if kind == "cancelled":
            if status in {state.CREATED, state.AUTHORISED, state.CANCELLING}:
                payment.settled_at = payment.settled_at or self.clock()
                self._move(payment, state.CANCELLED, tag, source, event_id=event.event_id)
                self._later(self._settled_event(payment))
                return await self._done(payment, "cancelled")
            return await self._done(payment, f"ignored in {status}")
        if kind == "refunded":
            return await self._refund_notified(payment, event)
        if kind == "refund_failed":
            refund = await self._refund_by_ref(payment, event)
            if refund is not None:
                await self._refund_failed(payment, refund, event.failure_code or "refund_failed", source)
                return "refund failed"
            return await self._done(payment, "unknown refund")
        return await self._done(payment, "ignored")

    async def _refund_notified(self, payment: Payment, event: ProviderEvent) -> str:
        refund = await self._refund_by_ref(payment, event)
        if refund is not None:
            if refund.status == "requested":
                refund.status = "succeeded"
            return await self._done(payment, "refund confirmed")
        if payment.status not in state.PAID or event.amount_minor is None:
            return await self._done(payment, f"refund ignored in {payment.status}")
        # A refund made outside Laddnät (the PSP's dashboard): record it so the books match.
        seq = int(await self.db.scalar(select(func.count()).where(Refund.payment_id == payment.id)) or 0) + 1
        self.db.add(
            Refund(
                payment_id=payment.id,
                seq=seq,
                amount_minor=event.amount_minor,
                reason="refunded at the payment provider",
                status="succeeded",
                provider_ref=event.action_ref,
            )
        )
        payment.refunded_minor = min(payment.captured_minor, payment.refunded_minor + event.amount_minor)
        self._move(
            payment,
            state.after_refund(payment.captured_minor, payment.refunded_minor),
            "webhook:refunded",
            "webhook",
            amount=event.amount_minor,
            event_id=event.event_id,
        )
        return await self._done(payment, "refund recorded")

    async def _refund_by_ref(self, payment: Payment, event: ProviderEvent) -> Refund | None:
        if event.action_ref is None:
            # Without the refund's id, the oldest unconfirmed refund of that amount is the one.
            return await self.db.scalar(
                select(Refund)
                .where(
                    Refund.payment_id == payment.id,
                    Refund.status == "requested",
                    Refund.amount_minor == (event.amount_minor or 0),
                )
                .order_by(Refund.seq)
                .limit(1)
            )
        return await self.db.scalar(
            select(Refund).where(Refund.payment_id == payment.id, Refund.provider_ref == event.action_ref)
        )

    async def _payment_for(self, event: ProviderEvent) -> Payment | None:
        payment = None
        if event.payment_id is not None:
            payment = await self.db.get(Payment, event.payment_id, with_for_update=True)
        if payment is None and event.provider_ref:
            payment = await self.db.scalar(
                select(Payment)
                .where(Payment.provider == event.provider, Payment.provider_ref == event.provider_ref)
                .with_for_update()
            )
        return payment

    # -- reads -----------------------------------------------------------------------

    async def get(self, payment_id: uuid.UUID, *, for_update: bool = False) -> Payment:
        payment = await self.db.get(Payment, payment_id, with_for_update=for_update, populate_existing=True)
        if payment is None:
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
        stmt = select(Payment)
        count = select(func.count()).select_from(Payment)
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

    # -- helpers ---------------------------------------------------------------------

    async def _claim(self, payment: Payment, expected: set[str], to: str) -> bool:
        """Move the payment to ``to`` if it is still in ``expected``: one worker wins."""
        if payment.status == to:
            return True  # ours already (a retry of a claim a crash left behind)
        claimed = await claim(
            self.db,
            update(Payment)
            .where(Payment.id == payment.id, Payment.status.in_(expected))
            .values(status=to, updated_at=self.clock()),
        )
        if not claimed:
            await self.db.rollback()
            await self.db.refresh(payment)
            return False
        self.db.add(
            PaymentTransition(
                payment_id=payment.id,
                from_status=payment.status,
                to_status=to,
                action=to,
                source="session",
                at=self.clock(),
            )
        )
        await self.db.commit()
        await self.db.refresh(payment)
        return True

    def _authorise(self, payment: Payment, source: str, event_id: str | None = None) -> None:
        payment.authorised_at = self.clock()
        self._move(payment, state.AUTHORISED, "authorise", source, amount=payment.hold_minor, event_id=event_id)
        self._later(
            PaymentAuthorised(
                payment_id=payment.id,
                evse_id=payment.evse_id,
                amount_minor=payment.hold_minor,
                # A hold confirmed in the caller's request (a saved card) is started by that
                # caller; one confirmed later by the PSP's notification, by the payment worker.
                start_by="caller" if event_id is None else "worker",
            )
        )

    async def _fail(self, payment: Payment, code: str, message: str, action: str) -> None:
        payment.failure_code, payment.failure_message = code[:64], message[:255]
        self._move(payment, state.FAILED, action, "session", detail=code)
        self._later(self._failed_event(payment))
        await self._commit(payment)

    def _move(
        self,
        payment: Payment,
        to: str,
        action: str,
        source: str,
        *,
        amount: int | None = None,
        event_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        if payment.status != to and not state.can_move(payment.status, to):
            raise Conflict(f"a payment cannot go from {payment.status} to {to}")
        self._transition(payment, to, action, source, amount=amount, event_id=event_id, detail=detail)
        payment.status = to

    def _transition(
        self,
        payment: Payment,
        to: str,
        action: str,
        source: str,
        *,
        amount: int | None = None,
        event_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.db.add(
            PaymentTransition(
                payment_id=payment.id,
                from_status=payment.status if payment.status else to,
                to_status=to,
                action=action,
                amount_minor=amount,
                source=source,
                event_id=event_id,
                detail=detail,
                at=self.clock(),
            )
        )

    @staticmethod
    def _remember_method(payment: Payment, method: PaymentMethod | None) -> None:
        if method is None:
            return
        payment.method_brand = (method.brand or payment.method_brand or "")[:32] or None
        payment.method_last4 = (method.last4 or payment.method_last4 or "")[:4] or None
        payment.method_wallet = (method.wallet or payment.method_wallet or "")[:32] or None

    async def _done(self, payment: Payment, outcome: str) -> str:
        await self.db.flush()
        return outcome

    def _later(self, event: Event) -> None:
        """Publish ``event`` after the next commit: a subscriber must find what it announces."""
        self._events.append(event)

    async def _commit(self, payment: Payment | None = None) -> None:
        try:
            await self.db.commit()
        except IntegrityError:
            self._events.clear()
            await self.db.rollback()
            raise
        events, self._events = self._events, []
        for event in events:
            self.bus.publish(event)

    def _settled_event(self, payment: Payment) -> PaymentSettled:
        return PaymentSettled(
            payment_id=payment.id,
            status=payment.status,
            captured_minor=payment.captured_minor,
            currency=payment.currency,
            transaction_id=payment.transaction_id,
        )

    def _failed_event(self, payment: Payment) -> PaymentFailed:
        return PaymentFailed(
            payment_id=payment.id, code=payment.failure_code or "failed", transaction_id=payment.transaction_id
        )
