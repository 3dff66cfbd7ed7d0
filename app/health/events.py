"""Bus events about incidents: what operators' webhooks, the drivers' live streams and the
playbooks react to. Published after the incident's change is committed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from app.core.bus import Event


class IncidentOpened(Event, frozen=True, kw_only=True):
    subject: ClassVar[str] = "incident.opened"
    incident_id: uuid.UUID
    operator_id: uuid.UUID | None
    identity: str  # the charger's; a site or fleet incident names the first charger it saw
    location_id: uuid.UUID | None
    evse: int | None  # None: the whole charger (or site, or fleet)
    connectors: list[int]
    kind: str  # the detector: offline, reported_error, overheating, power_supply, metering, ...
    # overheating | grid_supply | site_network | vehicle_communication | metering |
    # connector_lock | internal_firmware | rfid_reader | electrical_protection | unknown
    cause: str
    severity: str  # info | warning | critical
    confidence: float
    summary: str  # one plain sentence
    opened_at: datetime


class IncidentChanged(Event, frozen=True, kw_only=True):
    """State, diagnosis or remediation step changed (acknowledged, a reset sent, ...)."""

    subject: ClassVar[str] = "incident.changed"
    incident_id: uuid.UUID
    operator_id: uuid.UUID | None
    identity: str
    state: str  # open | acknowledged | resolved
    cause: str
    severity: str
    summary: str
    # what changed, e.g. "action:soft_reset", "acknowledged", "diagnosis", "reopened";
    # a fleet incident's "joined:<charger identity>" (a charger in the same trouble joined it)
    change: str
    at: datetime


class IncidentResolved(Event, frozen=True, kw_only=True):
    subject: ClassVar[str] = "incident.resolved"
    incident_id: uuid.UUID
    operator_id: uuid.UUID | None
    identity: str
    cause: str
    summary: str
    resolved_at: datetime
    automatic: bool  # the charger recovered (True) or an operator closed it
    # automatic | operator | merged (folded into a site or fleet incident: not recovered yet)
    resolution: str = "automatic"
