"""Fleet accounts, the id tokens billed to them, and their monthly invoices.

The tables are those of migration 0005 (they lived in ``payments.models`` before).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, UtcDateTime, new_id, utcnow


class FleetAccount(Base):
    """A business that charges on account: its drivers' sessions go on a monthly invoice."""

    __tablename__ = "fleet_accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id"))
    name: Mapped[str] = mapped_column(String(200))
    organisation_number: Mapped[str] = mapped_column(String(40), default="")
    vat_number: Mapped[str] = mapped_column(String(40), default="")
    billing_email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(500), default="")
    currency: Mapped[str] = mapped_column(String(3))
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=30)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class FleetToken(Base):
    """An id token (RFID card, app token) whose sessions are billed to a fleet account."""

    __tablename__ = "fleet_tokens"

    id_token: Mapped[str] = mapped_column(String(36), primary_key=True)
    fleet_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("fleet_accounts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Invoice(Base):
    """A monthly invoice of a fleet account; ``number`` is gapless per operator (a counter
    taken in the same database transaction as the insert)."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("operator_id", "number"),
        UniqueConstraint("fleet_account_id", "period_start"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id"))
    fleet_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("fleet_accounts.id"))
    number: Mapped[str] = mapped_column(String(32))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # exclusive
    currency: Mapped[str] = mapped_column(String(3))
    net_minor: Mapped[int] = mapped_column(Integer)
    vat_minor: Mapped[int] = mapped_column(Integer)
    total_minor: Mapped[int] = mapped_column(Integer)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    due_on: Mapped[date] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
