"""What a hub tells us about the parties behind it (HubClientInfo module, receiver side)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, UtcDateTime, new_id, utcnow


class OcpiClientInfo(Base):
    """The connection status of one party as the partner (a hub) last PUT it. A party that
    is not CONNECTED gets no pushes from us (app/roaming/push.py)."""

    __tablename__ = "ocpi_client_infos"
    __table_args__ = (UniqueConstraint("partner_id", "country_code", "party_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id"))
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ocpi_partners.id"), index=True)
    country_code: Mapped[str] = mapped_column(String(2))
    party_id: Mapped[str] = mapped_column(String(3))
    role: Mapped[str] = mapped_column(String(8))  # CPO | EMSP | HUB | NAP | NSP | OTHER | SCSP
    status: Mapped[str] = mapped_column(String(16))  # CONNECTED | OFFLINE | PLANNED | SUSPENDED
    last_updated: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
