"""Bus events about transactions and meter samples."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from app.core.bus import Event
from app.sessions.types import Sample


class MeterSampled(Event, frozen=True, kw_only=True):
    """Samples as stored. A 1.6 transaction is named by ``transaction_number``; a 2.0.1
    one by ``transaction_id`` too."""

    subject: ClassVar[str] = "meter.sampled"
    identity: str
    evse: int
    transaction_id: uuid.UUID | None
    samples: list[Sample]
    transaction_number: int | None = None


class TransactionStarted(Event, frozen=True, kw_only=True):
    subject: ClassVar[str] = "transaction.started"
    identity: str
    transaction_id: uuid.UUID
    number: int
    evse: int
    connector: int
    id_token: str | None
    started_at: datetime
    offline: bool


class TransactionUpdated(Event, frozen=True, kw_only=True):
    """Progress of a running transaction: ``meter_wh`` is the latest register reading;
    ``energy_wh`` (register minus start) when the publisher knows it."""

    subject: ClassVar[str] = "transaction.updated"
    identity: str
    transaction_id: uuid.UUID | None
    number: int
    energy_wh: float | None
    charging_state: str | None
    at: datetime
    meter_wh: float | None = None


class TransactionEnded(Event, frozen=True, kw_only=True):
    subject: ClassVar[str] = "transaction.ended"
    identity: str
    transaction_id: uuid.UUID
    number: int
    evse: int
    connector: int
    id_token: str | None
    started_at: datetime
    stopped_at: datetime
    energy_wh: float
    stop_reason: str | None
    # The register at the end (1.6 meterStop, the last 2.0.1 reading): the idle baseline.
    meter_stop_wh: float | None = None


class TokenChecked(Event, frozen=True, kw_only=True):
    """A charger asked to authorise a token (Authorize), and the answer it got.

    Health watches refusals pile up on one charger: many different cards refused at one
    charger points at its reader, not at the drivers; an accepted card ends that. The token
    itself stays out of the event: ``token_ref`` tells tokens apart, ``token_hint`` is its
    last four characters for a technician."""

    subject: ClassVar[str] = "token.checked"
    identity: str
    token_ref: str
    token_hint: str
    token_type: str | None
    status: str  # Accepted, Unknown, Invalid, Blocked, Expired, ...
    at: datetime
