"""Incidents and their trail of signals, state changes, actions and notes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, UtcDateTime, new_id


class Incident(Base):
    """One fault of one charger (EVSE), one site or one fleet (a tenant's chargers of one
    model and firmware), open -> acknowledged -> resolved.

    ``dedupe_key`` names the condition (charger + evse + kind + topic, site + kind, or
    fleet: tenant + vendor|model|firmware + kind + topic + cause); its prefix is the scope;
    ``open_key`` holds it while the incident is not resolved and NULL after, so the unique
    constraint allows one unresolved incident per condition on SQLite and PostgreSQL alike.
    """

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_state_opened", "state", "opened_at"),
        Index("ix_incidents_dedupe_resolved", "dedupe_key", "resolved_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    operator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("operators.id"))
    location_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("locations.id"), index=True)
    # None: a site or fleet incident (``identity`` then names the first charger in trouble).
    charge_point_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("charge_points.id"), index=True)
    identity: Mapped[str] = mapped_column(String(48))
    evse: Mapped[int | None] = mapped_column(Integer)
    connectors: Mapped[list[int]] = mapped_column(JSON, default=list)
    kind: Mapped[str] = mapped_column(String(32))
    topic: Mapped[str] = mapped_column(String(32), default="")
    cause: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | acknowledged | resolved
    summary: Mapped[str] = mapped_column(String(500))
    # The diagnosis' evidence chain: signals, samples, neighbours (newest last, bounded).
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_signal_at: Mapped[datetime] = mapped_column(UtcDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    resolution: Mapped[str | None] = mapped_column(String(16))  # automatic | operator | merged
    # The condition cleared at; resolved once it stays clear for the hold time.
    clear_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    flaps: Mapped[int] = mapped_column(Integer, default=0)
    dedupe_key: Mapped[str] = mapped_column(String(160))
    open_key: Mapped[str | None] = mapped_column(String(160), unique=True)

    @property
    def scope(self) -> Scope:
        return scope_of(self.dedupe_key)


Scope = Literal["charger", "site", "fleet"]
# The dedupe key's prefix (app/health/signals.py, app/health/fleet.py) -> the scope.
SCOPE_PREFIXES: dict[Scope, str] = {"charger": "cp:", "site": "site:", "fleet": "fleet:"}


def scope_of(dedupe_key: str) -> Scope:
    for scope, prefix in SCOPE_PREFIXES.items():
        if dedupe_key.startswith(prefix):
            return scope
    return "charger"


class IncidentEvent(Base):
    """The incident's trail: ``kind`` signal | state | action | note, ``data`` its detail."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class HealthBaseline(Base):
    """One EVSE's learned normal for the anomaly detector (app/health/detectors/anomaly.py):
    per state (charging, idle, session) its features' statistics, and its thermal model,
    as the detector's JSON. Saved now and then and on shutdown, loaded on start, so a
    restart resumes learning instead of starting over. ``evse`` 0 is the charger as a whole."""

    __tablename__ = "health_baselines"

    identity: Mapped[str] = mapped_column(String(48), primary_key=True)
    evse: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    model: Mapped[dict[str, Any]] = mapped_column(JSON)
    samples: Mapped[int] = mapped_column(Integer)  # readings and sessions learned from
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
