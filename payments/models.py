"""Payments, their state transitions, refunds and PSP notifications."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, UtcDateTime, new_id, utcnow


class Payment(Base):
    """One card payment for one charging session: a hold, then a capture of the exact cost.

    ``status``: created -> authorised -> captured | cancelled | failed; a captured payment
    may then become partially_refunded or refunded. Every change is a PaymentTransition.
    """

    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_provider_ref", "provider", "provider_ref"),
        Index("ix_payments_status", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id"))
    provider: Mapped[str] = mapped_column(String(10))  # stripe | adyen
    provider_ref: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(24), default="created")
    currency: Mapped[str] = mapped_column(String(3))
    hold_minor: Mapped[int] = mapped_column(Integer)
    # The session's price when it ended; captured = min(due, hold).
    amount_due_minor: Mapped[int | None] = mapped_column(Integer)
    captured_minor: Mapped[int] = mapped_column(Integer, default=0)
    refunded_minor: Mapped[int] = mapped_column(Integer, default=0)
    # Who pays: an app user, or nobody we know (the QR web checkout).
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    payer_email: Mapped[str | None] = mapped_column(String(254))
    evse_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("evses.id"))
    # The token the charger starts the transaction with (remote start): links the two.
    id_token: Mapped[str] = mapped_column(String(20), unique=True)
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("transactions.id"), unique=True)
    tariff_snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    client_secret: Mapped[str | None] = mapped_column(String(255))
    session_ref: Mapped[str | None] = mapped_column(String(255))  # Adyen Drop-in session id
    session_data: Mapped[str | None] = mapped_column(Text)  # ... and the blob the Drop-in needs
    method_brand: Mapped[str | None] = mapped_column(String(32))
    method_last4: Mapped[str | None] = mapped_column(String(4))
    method_wallet: Mapped[str | None] = mapped_column(String(32))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(String(255))
    # Set once the remote start was sent (one claim: the API call or the notification).
    start_requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Set once a remote stop was sent because the session's cost reached the hold.
    limit_stop_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    authorised_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # captured or cancelled
    capture_confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class PaymentTransition(Base):
    """The payment's history: every status change and every money movement, with its cause."""

    __tablename__ = "payment_transitions"
    __table_args__ = (Index("ix_payment_transitions_payment", "payment_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"))
    from_status: Mapped[str] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    action: Mapped[str] = mapped_column(String(32))  # hold | capture | cancel | refund | webhook:<kind> | ...
    amount_minor: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))  # session | webhook | operator | sweeper | driver
    event_id: Mapped[str | None] = mapped_column(String(120))
    detail: Mapped[str | None] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Refund(Base):
    """A refund we asked the PSP for; ``seq`` numbers a payment's refunds (idempotency)."""

    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("payment_id", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"))
    seq: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16), default="requested")  # requested | succeeded | failed
    provider_ref: Mapped[str | None] = mapped_column(String(80), index=True)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class WebhookEvent(Base):
    """A verified PSP notification, stored before it is processed; the unique key drops repeats."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(10))
    event_id: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(24))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    event: Mapped[dict[str, Any]] = mapped_column(JSON)  # the normalised ProviderEvent
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(String(64))
