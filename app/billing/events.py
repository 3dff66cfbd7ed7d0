"""Bus events about paid sessions."""

from __future__ import annotations

import uuid
from typing import ClassVar

from app.core.bus import Event


class HoldLimitReached(Event, frozen=True, kw_only=True):
    """A paid session was stopped because its cost reached the hold: tell the driver why."""

    subject: ClassVar[str] = "payment.hold_limit_reached"
    durable: ClassVar[bool] = False  # only the driver's live stream shows it
    payment_id: uuid.UUID
    transaction_id: uuid.UUID
    cost_minor: int
    hold_minor: int
    currency: str
