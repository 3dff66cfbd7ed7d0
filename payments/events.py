"""Bus events about payments."""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from app.core.bus import Event


class PaymentAuthorised(Event, frozen=True, kw_only=True):
    """The hold is on the card: the session may start."""

    subject: ClassVar[str] = "payment.authorised"
    payment_id: uuid.UUID
    evse_id: uuid.UUID
    amount_minor: int
    # Who sends the remote start: the request that placed the hold, or the payment worker.
    start_by: Literal["caller", "worker"] = "worker"


class PaymentSettled(Event, frozen=True, kw_only=True):
    """Captured or cancelled: the driver gets a receipt (or word that nothing was charged)."""

    subject: ClassVar[str] = "payment.settled"
    payment_id: uuid.UUID
    status: str
    captured_minor: int
    currency: str
    transaction_id: uuid.UUID | None


class PaymentFailed(Event, frozen=True, kw_only=True):
    subject: ClassVar[str] = "payment.failed"
    payment_id: uuid.UUID
    code: str
    transaction_id: uuid.UUID | None
