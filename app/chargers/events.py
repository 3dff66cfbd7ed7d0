"""Bus events about chargers: what the bridge saw, version-neutral."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from app.core.bus import Event


class ChargerConnected(Event, frozen=True, kw_only=True):
    subject: ClassVar[str] = "charger.connected"
    identity: str
    ocpp_version: str
    at: datetime


class ChargerDisconnected(Event, frozen=True, kw_only=True):
    subject: ClassVar[str] = "charger.disconnected"
    identity: str
    at: datetime
    reason: str


class ChargerBooted(Event, frozen=True, kw_only=True):
    subject: ClassVar[str] = "charger.booted"
    identity: str
    vendor: str
    model: str
    firmware_version: str | None
    reason: str | None
    registration_status: str
    at: datetime


class ConnectorStatusChanged(Event, frozen=True, kw_only=True):
    subject: ClassVar[str] = "charger.connector_status_changed"
    identity: str
    evse: int
    connector: int
    status: str
    error_code: str | None
    vendor_error_code: str | None
    info: str | None
    at: datetime


class ChargerEventRecorded(Event, frozen=True, kw_only=True):
    """A raw event from the charger: NotifyEvent, security event, firmware status..."""

    subject: ClassVar[str] = "charger.event"
    identity: str
    kind: str
    code: str | None
    evse: int | None
    connector: int | None
    at: datetime
    data: dict[str, Any]


class DiagnosticsUploaded(Event, frozen=True, kw_only=True):
    """A charger uploaded the diagnostics / log file a GetDiagnostics / GetLog asked for."""

    subject: ClassVar[str] = "charger.diagnostics_uploaded"
    identity: str
    file_id: uuid.UUID
    request_id: int
    size_bytes: int
    at: datetime


class ChargerCredentialsChanged(Event, frozen=True, kw_only=True):
    """Its password or registration changed: bridges must check it again at the next connect."""

    subject: ClassVar[str] = "charger.credentials_changed"
    durable: ClassVar[bool] = False  # every bridge drops its cache entry; nothing to do once
    identity: str


class CommandAnswered(Event, frozen=True, kw_only=True):
    """A command to a charger got its answer (or none): health watches what follows, e.g.
    an accepted remote start that never becomes a transaction."""

    subject: ClassVar[str] = "charger.command_answered"
    identity: str
    name: str  # remote-start, reset, ...
    outcome: str  # answered | offline | timeout | call_error | ...
    status: str | None  # the charger's verdict: Accepted, Rejected, ...
    args: dict[str, Any]
    at: datetime


class LocationChanged(Event, frozen=True, kw_only=True):
    """A location was created, or its set of chargers changed (one registered there):
    roaming partners are sent the whole location again."""

    subject: ClassVar[str] = "charger.location_changed"
    location_id: uuid.UUID
    operator_id: uuid.UUID | None
    at: datetime
