"""The commands partners send us (Commands and ChargingProfiles modules): each one a row,
so a retried request is recognised, the charger gets each command once, and the result
reaches the partner's ``response_url`` even when the answering process is not the one
that accepted it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, UtcDateTime, new_id, utcnow


class OcpiCommand(Base):
    """One command or charging-profile request of a partner and what became of it.

    ``state``: ``accepted`` (answered ACCEPTED, waiting for the worker), ``sent`` (under way
    to the charger), ``done`` (its result is in the push outbox), ``duplicate`` (a retry of
    ``duplicate_of``: it gets that command's result, the charger nothing).
    """

    __tablename__ = "ocpi_commands"
    __table_args__ = (
        UniqueConstraint("partner_id", "kind", "response_url"),
        Index("ix_ocpi_commands_due", "state", "due_at"),
        Index("ix_ocpi_commands_request", "partner_id", "request_digest"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id"))
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ocpi_partners.id"))
    # START_SESSION | STOP_SESSION | RESERVE_NOW | CANCEL_RESERVATION | UNLOCK_CONNECTOR |
    # SET_PROFILE | GET_PROFILE | CLEAR_PROFILE
    kind: Mapped[str] = mapped_column(String(24))
    response_url: Mapped[str] = mapped_column(String(255))
    # sha256 of the request without its response_url: the same request sent again.
    request_digest: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="accepted")
    duplicate_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ocpi_commands.id"))
    # What goes to the charger: the domain command (app/chargers/commands.py) and its arguments.
    charge_point_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("charge_points.id"), index=True)
    evse_number: Mapped[int | None] = mapped_column(Integer)
    command: Mapped[str | None] = mapped_column(String(40))
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # START_SESSION: the PENDING roaming session it created; STOP_SESSION / profiles: the session.
    ocpi_session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ocpi_sessions.id"), index=True)
    # RESERVE_NOW / CANCEL_RESERVATION: the partner's reservation id and the one the charger knows.
    reservation_id: Mapped[str | None] = mapped_column(String(36))
    charger_reservation_id: Mapped[int | None] = mapped_column(Integer)
    # The timeout we promised; a command still not answered by then is TIMEOUT.
    due_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # The result type and the whole object POSTed to response_url (sent again to a retry).
    result: Mapped[str | None] = mapped_column(String(24))
    result_body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
