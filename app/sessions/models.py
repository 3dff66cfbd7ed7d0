"""Transactions as the chargers report them, and every meter sample they send."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, UtcDateTime, new_id, utcnow


class Transaction(Base):
    """One charging transaction.

    Deduplicated by business keys, never by OCPP message ids: 1.6 by ``start_key``
    (connector + idTag + meterStart + timestamp), 2.0.1 by the charger's own
    ``charger_transaction_id``.
    """

    __tablename__ = "transactions"
    __table_args__ = (
        UniqueConstraint("charge_point_id", "charger_transaction_id"),
        UniqueConstraint("charge_point_id", "start_key"),
        Index("ix_transactions_started_at", "started_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # What 1.6 chargers know the transaction by (we assign it); shown to operators too.
    number: Mapped[int] = mapped_column(Integer, unique=True)
    charge_point_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("charge_points.id"))
    charger_transaction_id: Mapped[str] = mapped_column(String(36))
    start_key: Mapped[str | None] = mapped_column(String(64))
    evse_number: Mapped[int] = mapped_column(Integer)
    connector_number: Mapped[int] = mapped_column(Integer)
    id_token: Mapped[str | None] = mapped_column(String(36))
    id_token_type: Mapped[str | None] = mapped_column(String(20))
    # The account that held the id token when the transaction started: the session stays
    # that driver's after the card is removed or linked to someone else.
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | completed
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    meter_start_wh: Mapped[float | None] = mapped_column(Float)
    meter_start_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    meter_last_wh: Mapped[float | None] = mapped_column(Float)
    meter_last_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    meter_stop_wh: Mapped[float | None] = mapped_column(Float)
    energy_wh: Mapped[float] = mapped_column(Float, default=0.0)
    stop_reason: Mapped[str | None] = mapped_column(String(32))
    charging_state: Mapped[str | None] = mapped_column(String(20))
    offline: Mapped[bool] = mapped_column(default=False)
    remote_start_id: Mapped[int | None] = mapped_column(Integer)
    last_seq_no: Mapped[int | None] = mapped_column(Integer)
    # The tariff as it was when the session started (a later change never reprices it),
    # and the price once the session ended (app/sessions/costs.py).
    tariff_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    cost_currency: Mapped[str | None] = mapped_column(String(3))
    cost_minor: Mapped[int | None] = mapped_column(Integer)
    cost_vat_minor: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    priced_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class TransactionEventSeen(Base):
    """2.0.1 TransactionEvent seqNos already applied: a re-sent event changes nothing."""

    __tablename__ = "transaction_events_seen"
    __table_args__ = (PrimaryKeyConstraint("transaction_id", "seq_no"),)

    transaction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("transactions.id"))
    seq_no: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(10))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class MeterSample(Base):
    """One sampled value, normalised to its base unit (Wh, W, A, V, Hz, Celsius, Percent).

    ``phase`` and ``location`` are '' rather than NULL when absent, so the unique key
    drops a replayed sample on every database.
    """

    __tablename__ = "meter_samples"
    __table_args__ = (
        UniqueConstraint(
            "charge_point_id",
            "evse_number",
            "sampled_at",
            "measurand",
            "phase",
            "location",
            "context",
            name="uq_meter_samples_reading",
        ),
        Index("ix_meter_samples_transaction", "transaction_id", "sampled_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    charge_point_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("charge_points.id"))
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("transactions.id"))
    evse_number: Mapped[int] = mapped_column(Integer)
    sampled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    measurand: Mapped[str] = mapped_column(String(48))
    phase: Mapped[str] = mapped_column(String(8), default="")
    location: Mapped[str] = mapped_column(String(8), default="")
    context: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(16))
    value: Mapped[float] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
