"""NotificationService: what the PSPs tell us about payments, applied exactly once.

A verified notification is first stored (one row per PSP event id, so a repeat is dropped)
and the PSP answered; it is applied afterwards, by claiming its row. Notifications may come
twice or out of order, and may race our own capture or cancel: each kind is applied only
from the statuses where it still means something, and otherwise recorded as ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.bus import Bus
from app.core.database import insert_ignoring_duplicates, utcnow
from payments import state
from payments.ledger import PaymentLedger, failed_event, remember_method, settled_event
from payments.models import Payment, Refund, WebhookEvent
from payments.provider import ProviderEvent


class NotificationService:
    """Stores (``record``) and applies (``process``) the PSPs' verified notifications.
    Needs no provider: the webhook controller has verified and parsed them already."""

    def __init__(self, db: AsyncSession, bus: Bus, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock
        self.ledger = PaymentLedger(db, bus, clock=clock)

    async def record(self, events: Sequence[ProviderEvent]) -> list[int]:
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

    async def process(self, row_id: int) -> str | None:
        """Apply one stored notification once; returns what it did (None: another worker has
        it). If applying fails, the row is left unprocessed for the sweeper and the error raised."""
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
            await self.ledger.rollback()
            await self.db.execute(update(WebhookEvent).where(WebhookEvent.id == row_id).values(processed_at=None))
            await self.db.commit()
            raise
        await self.db.execute(update(WebhookEvent).where(WebhookEvent.id == row_id).values(outcome=outcome[:64]))
        await self.ledger.commit()
        return outcome

    async def unprocessed(self, limit: int = 100) -> list[int]:
        """Stored notifications not yet applied (a crash, a failure, a restart): the sweeper's."""
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
        remember_method(payment, event.method)
        kind, status = event.kind, payment.status
        if kind == "authorised":
            if status == state.CREATED:
                self.ledger.authorise(payment, source, event.event_id)
                return await self._done(payment, "authorised")
            return await self._done(payment, f"already {status}")
        if kind == "authorisation_failed":
            if status in {state.CREATED, state.AUTHORISED}:
                payment.failure_code = (event.failure_code or "refused")[:64]
                payment.failure_message = (event.failure_message or "")[:255]
                self.ledger.move(payment, state.FAILED, tag, source, event_id=event.event_id, detail=event.failure_code)
                self.ledger.publish_after_commit(failed_event(payment))
                return await self._done(payment, "failed")
            return await self._done(payment, f"already {status}")
        if kind == "captured":
            amount = event.amount_minor if event.amount_minor is not None else payment.captured_minor
            if status in {state.CREATED, state.AUTHORISED, state.CAPTURING, state.CANCELLING}:
                payment.captured_minor = amount
                payment.settled_at = payment.settled_at or self.clock()
                payment.capture_confirmed_at = self.clock()
                self.ledger.move(payment, state.CAPTURED, tag, source, amount=amount, event_id=event.event_id)
                self.ledger.publish_after_commit(settled_event(payment))
                return await self._done(payment, "captured")
            if status in state.PAID:
                payment.capture_confirmed_at = payment.capture_confirmed_at or self.clock()
                if amount != payment.captured_minor:
                    # The PSP's figure is what was really taken; reconciliation shows both.
                    detail = f"PSP captured {amount}, we recorded {payment.captured_minor}"
                    self.ledger.record(payment, payment.status, tag, source, amount=amount, detail=detail)
                    payment.captured_minor = amount
                return await self._done(payment, "capture confirmed")
            return await self._done(payment, f"ignored in {status}")
        if kind == "capture_failed":
            if status in {state.CAPTURING, state.CAPTURED}:
                payment.failure_code = (event.failure_code or "capture_failed")[:64]
                self.ledger.record(
                    payment, state.FAILED, tag, source, event_id=event.event_id, detail=event.failure_code
                )
                payment.status = state.FAILED
                self.ledger.publish_after_commit(failed_event(payment))
                return await self._done(payment, "capture failed")
            return await self._done(payment, f"ignored in {status}")
        if kind == "cancelled":
            if status in {state.CREATED, state.AUTHORISED, state.CANCELLING}:
                payment.settled_at = payment.settled_at or self.clock()
                self.ledger.move(payment, state.CANCELLED, tag, source, event_id=event.event_id)
                self.ledger.publish_after_commit(settled_event(payment))
                return await self._done(payment, "cancelled")
            return await self._done(payment, f"ignored in {status}")
        if kind == "refunded":
            return await self._refund_notified(payment, event)
        if kind == "refund_failed":
            refund = await self._refund_by_ref(payment, event)
            if refund is not None:
                await self.ledger.refund_failed(payment, refund, event.failure_code or "refund_failed", source)
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
        self.ledger.move(
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
        refund = await self.db.scalar(
            select(Refund).where(Refund.payment_id == payment.id, Refund.provider_ref == event.action_ref)
        )
        if refund is None:
            # The PSP's notification can overtake its answer to our own refund call, which is
            # what stores the refund's id: then it is the oldest of that amount still without one.
            refund = await self.db.scalar(
                select(Refund)
                .where(
                    Refund.payment_id == payment.id,
                    Refund.status == "requested",
                    Refund.provider_ref.is_(None),
                    Refund.amount_minor == (event.amount_minor or 0),
                )
                .order_by(Refund.seq)
                .limit(1)
            )
            if refund is not None:
                refund.provider_ref = event.action_ref
        return refund

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

    async def _done(self, payment: Payment, outcome: str) -> str:
        await self.db.flush()
        return outcome
