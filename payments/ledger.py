"""PaymentLedger: how a payment changes state, shared by the payment and notification services.

Every status change is a ``PaymentTransition`` row written in the same transaction as the
change. Events announcing a change are queued and published only after that transaction
commits, so a subscriber always finds what an event announces, and a rolled-back change
announces nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.bus import Bus, Event
from app.core.database import claim, utcnow
from app.core.errors import Conflict
from payments import state
from payments.events import PaymentAuthorised, PaymentFailed, PaymentSettled
from payments.models import Payment, PaymentTransition, Refund
from payments.provider import PaymentMethod


class PaymentLedger:
    """Records transitions on ``db`` and publishes their events on ``bus`` after commit."""

    def __init__(self, db: AsyncSession, bus: Bus, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self._events: list[Event] = []

    def move(
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
        """Set the payment's status to ``to`` and record it; Conflict if the state machine
        forbids the move (staying in the same status is always allowed)."""
        if payment.status != to and not state.can_move(payment.status, to):
            raise Conflict(f"a payment cannot go from {payment.status} to {to}")
        self.record(payment, to, action, source, amount=amount, event_id=event_id, detail=detail)
        payment.status = to

    def record(
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
        """Record a transition from the payment's current status to ``to`` without checking
        or changing the status (the caller does, or it is a note such as a corrected amount)."""
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

    async def claim(self, payment: Payment, expected: set[str], to: str) -> bool:
        """Move the payment to ``to`` if it is still in ``expected``, committed: one worker wins.
        False (and the payment refreshed) if another worker or a notification got there first."""
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

    def authorise(self, payment: Payment, source: str, event_id: str | None = None) -> None:
        """The hold is confirmed: move to authorised and announce it (not committed)."""
        payment.authorised_at = self.clock()
        self.move(payment, state.AUTHORISED, "authorise", source, amount=payment.hold_minor, event_id=event_id)
        self.publish_after_commit(
            PaymentAuthorised(
                payment_id=payment.id,
                evse_id=payment.evse_id,
                amount_minor=payment.hold_minor,
                # A hold confirmed in the caller's request (a saved card) is started by that
                # caller; one confirmed later by the PSP's notification, by the payment worker.
                start_by="caller" if event_id is None else "worker",
            )
        )

    async def fail(self, payment: Payment, code: str, message: str, action: str) -> None:
        """The PSP refused ``action``: move to failed, commit and announce it."""
        payment.failure_code, payment.failure_message = code[:64], message[:255]
        self.move(payment, state.FAILED, action, "session", detail=code)
        self.publish_after_commit(failed_event(payment))
        await self.commit()

    async def refund_failed(self, payment: Payment, refund: Refund, code: str, source: str = "operator") -> None:
        """The PSP refused a refund: give its amount back to the payment and commit.
        A refund already marked failed is left as it is."""
        if refund.status == "failed":
            return
        refund.status = "failed"
        payment.refunded_minor -= refund.amount_minor
        to = state.CAPTURED if payment.refunded_minor == 0 else state.PARTIALLY_REFUNDED
        self.record(payment, to, "refund_failed", source, amount=refund.amount_minor, detail=code)
        payment.status = to
        await self.db.commit()

    def publish_after_commit(self, event: Event) -> None:
        """Publish ``event`` after the next commit: a subscriber must find what it announces."""
        self._events.append(event)

    async def commit(self) -> None:
        """Commit, then publish the queued events; on an IntegrityError drop them and roll back."""
        try:
            await self.db.commit()
        except IntegrityError:
            await self.rollback()
            raise
        events, self._events = self._events, []
        for event in events:
            self.bus.publish(event)

    async def rollback(self) -> None:
        """Roll back, and drop the queued events: they announce what was just undone."""
        self._events.clear()
        await self.db.rollback()


def remember_method(payment: Payment, method: PaymentMethod | None) -> None:
    """Keep what the PSP told of the card or wallet, without forgetting what it told before."""
    if method is None:
        return
    payment.method_brand = (method.brand or payment.method_brand or "")[:32] or None
    payment.method_last4 = (method.last4 or payment.method_last4 or "")[:4] or None
    payment.method_wallet = (method.wallet or payment.method_wallet or "")[:32] or None


def settled_event(payment: Payment) -> PaymentSettled:
    return PaymentSettled(
        payment_id=payment.id,
        status=payment.status,
        captured_minor=payment.captured_minor,
        currency=payment.currency,
        transaction_id=payment.transaction_id,
    )


def failed_event(payment: Payment) -> PaymentFailed:
    return PaymentFailed(
        payment_id=payment.id, code=payment.failure_code or "failed", transaction_id=payment.transaction_id
    )
