"""The uptime table: outage causes an operator excludes from uptime."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, UtcDateTime, new_id, utcnow


class UptimeExclusion(Base):
    """An outage cause the operator marks as excluded from uptime (NEVI 680.116(b)(2)).

    ``target_id`` is a ``connectors.id`` (scope ``port``), ``charge_points.id`` or
    ``locations.id``; ``operator_id`` is the target's location's operator when marked.
    """

    __tablename__ = "uptime_exclusions"
    __table_args__ = (Index("ix_uptime_exclusions_target", "target_id", "starts_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    operator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("operators.id"), index=True)
    scope: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[uuid.UUID] = mapped_column()
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
