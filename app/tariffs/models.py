"""Tariffs as operators store them, and where each one applies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, UtcDateTime, new_id, utcnow


class Tariff(Base):
    """A price list. ``version`` grows with every change; a session keeps the snapshot it
    started with, so changing a tariff never re-prices a session already started.

    Amounts are minor units of ``currency``, VAT included; ``bands`` is a list of
    ``pricing.TariffBand`` as JSON.
    """

    __tablename__ = "tariffs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    operator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("operators.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    price_per_kwh_minor: Mapped[int] = mapped_column(Integer, default=0)
    price_per_minute_minor: Mapped[int] = mapped_column(Integer, default=0)
    session_fee_minor: Mapped[int] = mapped_column(Integer, default=0)
    idle_fee_per_minute_minor: Mapped[int] = mapped_column(Integer, default=0)
    idle_grace_minutes: Mapped[int] = mapped_column(Integer, default=0)
    vat_rate_bp: Mapped[int] = mapped_column(Integer)
    min_price_minor: Mapped[int | None] = mapped_column(Integer)
    max_price_minor: Mapped[int | None] = mapped_column(Integer)
    hold_amount_minor: Mapped[int] = mapped_column(Integer, default=0)
    bands: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # An inactive tariff applies nowhere: resolution skips its assignments.
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TariffAssignment(Base):
    """Which tariff applies to an EVSE, a location, or (the default) an operator.

    ``target_id`` is the EVSE's, location's or operator's id per ``scope``; one tariff per
    target. An EVSE's tariff is its own, else its location's, else its operator's.
    """

    __tablename__ = "tariff_assignments"
    __table_args__ = (UniqueConstraint("scope", "target_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    operator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("operators.id"))
    scope: Mapped[str] = mapped_column(String(16))  # evse | location | operator
    target_id: Mapped[uuid.UUID] = mapped_column()
    tariff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tariffs.id"), index=True)
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
