"""The payment state machine: which status may follow which.

    created ──▶ authorised ──▶ capturing ──▶ captured ──▶ partially_refunded ──▶ refunded
       │            │    └───▶ cancelling ──▶ cancelled
       └──▶ failed ◀┘ (declined, expired, capture refused)

``capturing`` and ``cancelling`` are ours: the payment is claimed for that call to the PSP,
so two workers never both send it; a crash leaves it there for the sweeper, which sends the
same call with the same idempotency key. PSP notifications are facts and may skip ahead
(a capture notified before the authorisation): they move a payment forward, never back.
"""

from __future__ import annotations

from typing import Final

CREATED: Final = "created"
AUTHORISED: Final = "authorised"
CAPTURING: Final = "capturing"
CANCELLING: Final = "cancelling"
CAPTURED: Final = "captured"
CANCELLED: Final = "cancelled"
FAILED: Final = "failed"
PARTIALLY_REFUNDED: Final = "partially_refunded"
REFUNDED: Final = "refunded"

_NEXT: Final[dict[str, frozenset[str]]] = {
    CREATED: frozenset({AUTHORISED, CANCELLING, CANCELLED, FAILED, CAPTURED}),
    AUTHORISED: frozenset({CAPTURING, CANCELLING, CAPTURED, CANCELLED, FAILED}),
    # A refused capture fails the payment; a refused cancel leaves the hold as it was.
    CAPTURING: frozenset({CAPTURED, FAILED, CANCELLED}),
    CANCELLING: frozenset({CANCELLED, AUTHORISED, FAILED, CAPTURED}),
    CAPTURED: frozenset({PARTIALLY_REFUNDED, REFUNDED}),
    PARTIALLY_REFUNDED: frozenset({PARTIALLY_REFUNDED, REFUNDED}),
    CANCELLED: frozenset(),
    FAILED: frozenset(),
    REFUNDED: frozenset(),
}

# Statuses where money was taken: what revenue, receipts and refunds look at.
PAID: Final = frozenset({CAPTURED, PARTIALLY_REFUNDED, REFUNDED})
# Statuses where a hold is (or may still be) on the card.
HOLDING: Final = frozenset({AUTHORISED, CAPTURING, CANCELLING})
FINAL: Final = frozenset({CANCELLED, FAILED, REFUNDED})


def can_move(current: str, to: str) -> bool:
    return to in _NEXT.get(current, frozenset())


def after_refund(captured_minor: int, refunded_minor: int) -> str:
    return REFUNDED if refunded_minor >= captured_minor else PARTIALLY_REFUNDED
