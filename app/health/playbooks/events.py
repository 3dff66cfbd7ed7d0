"""The playbooks' bus event, and the incident as its opening announced it (a playbook's input)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from app.core.bus import Event
from app.health.events import IncidentOpened
from app.health.models import Incident


class IncidentActionTaken(Event, frozen=True, kw_only=True):
    """A playbook step was sent (or skipped, and why): the incident's trail and feeds."""

    subject: ClassVar[str] = "incident.action"
    incident_id: uuid.UUID
    identity: str
    step: str
    outcome: str  # sent | answered:<status> | failed:<code> | skipped:<why>
    at: datetime


def as_opened(incident: Incident) -> IncidentOpened:
    """The incident on record as its opening announced it: a playbook restarted later (a
    refined diagnosis, a recurrence, a fleet's new member) takes it as it stands now."""
    return IncidentOpened(
        incident_id=incident.id,
        operator_id=incident.operator_id,
        identity=incident.identity,
        location_id=incident.location_id,
        evse=incident.evse,
        connectors=list(incident.connectors or []),
        kind=incident.kind,
        cause=incident.cause,
        severity=incident.severity,
        confidence=incident.confidence,
        summary=incident.summary,
        opened_at=incident.opened_at,
    )
