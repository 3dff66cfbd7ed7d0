"""What the Locations module remembers between events: each EVSE's OCPI status as partners
were last told it, and since when."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, UtcDateTime


class OcpiEvseStatus(Base):
    """An EVSE's OCPI status as last pushed (``status``) and when it became that
    (``changed_at``, the EVSE's ``last_updated``). A status only our health incidents or
    the charger's connection change (OUTOFORDER, UNKNOWN) has no other timestamp, so
    ``date_from`` finds such changes through this row; and an unchanged status is never
    pushed twice, across restarts and processes alike."""

    __tablename__ = "ocpi_evse_statuses"

    evse_pk: Mapped[uuid.UUID] = mapped_column(ForeignKey("evses.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
