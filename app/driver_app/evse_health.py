"""An EVSE's health as a driver reads it, in Python (``health_of``) and, for filtering in
SQL, its exact twin (``working_sql``).

An open incident that keeps drivers away (app/health/driver_impact.py) makes the EVSE out
of order; the finder reads its cause as a subquery (``incidents_sql``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, Select, and_, exists, or_
from sqlalchemy.orm import aliased

from app.chargers.models import ChargePoint, Connector, Evse
from app.health.driver_impact import incidents_keeping_drivers_away
from app.health.words import for_driver

HealthState = Literal["working", "in_use", "reserved", "out_of_order", "offline", "unknown"]
CannotStart = Literal["offline", "out_of_order", "in_use", "reserved", "unknown"]

# OCPP statuses (1.6 and 2.0.1) as a driver reads them.
IN_USE_STATUSES = frozenset({"Occupied", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Preparing"})
FAULT_STATUSES = frozenset({"Faulted", "Unavailable"})
# Any of these on the EVSE or one of its connectors: not free to use.
BUSY_STATUSES = FAULT_STATUSES | IN_USE_STATUSES | {"Reserved"}

# OCPP 1.6 ChargePointErrorCode (2.0.1 reports only "Faulted") -> what a driver is told.
ERROR_REASONS = {
    "ConnectorLockFailure": "The cable lock is broken.",
    "EVCommunicationError": "The charger cannot talk to cars.",
    "GroundFailure": "Electrical fault (earth leakage).",
    "HighTemperature": "The charger is overheated.",
    "InternalError": "Internal fault in the charger.",
    "LocalListConflict": "Authorisation fault in the charger.",
    "OtherError": "Fault in the charger.",
    "OverCurrentFailure": "Electrical fault (overcurrent).",
    "OverVoltage": "The grid voltage is too high.",
    "PowerMeterFailure": "The energy meter is broken.",
    "PowerSwitchFailure": "The power switch is broken.",
    "ReaderFailure": "The card reader is broken.",
    "ResetFailure": "The charger failed to restart.",
    "UnderVoltage": "The grid voltage is too low.",
    "WeakSignal": "The charger has a poor network connection.",
}
FAULTED_REASON = "Out of order."
UNAVAILABLE_REASON = "Taken out of service by the operator."


@dataclass(frozen=True, slots=True)
class Health:
    state: HealthState
    # out_of_order: a short sentence; offline: None.
    reason: str | None = None
    # offline: when the charger was last heard from; otherwise when the status last changed.
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConnectorView:
    number: int
    standard: str
    power_type: str
    max_kw: float
    status: str
    error_code: str | None


def health_of(
    *,
    connected: bool,
    last_seen_at: datetime | None,
    evse_status: str,
    status_updated_at: datetime | None,
    connectors: Sequence[ConnectorView],
    incident_cause: str | None = None,
) -> Health:
    """The EVSE's state for a driver, most telling first: offline, out of order, in use,
    reserved, working; ``unknown`` while a connected charger has not reported it.
    ``incident_cause``: the cause of an open incident that keeps drivers away."""
    if not connected:
        return Health("offline", since=last_seen_at)
    statuses = {evse_status, *(c.status for c in connectors)}
    if statuses & FAULT_STATUSES:
        codes = [c.error_code for c in connectors if c.status in FAULT_STATUSES and c.error_code]
        codes += [c.error_code for c in connectors if c.error_code and c.error_code not in codes]
        if codes:
            reason = ERROR_REASONS.get(codes[0], FAULTED_REASON)
        elif "Faulted" in statuses:
            reason = FAULTED_REASON
        else:
            reason = UNAVAILABLE_REASON
        return Health("out_of_order", reason=reason, since=status_updated_at)
    if incident_cause is not None:
        return Health("out_of_order", reason=for_driver(incident_cause), since=status_updated_at)
    if statuses & IN_USE_STATUSES:
        return Health("in_use", since=status_updated_at)
    if "Reserved" in statuses:
        return Health("reserved", since=status_updated_at)
    if "Available" in statuses:
        return Health("working", since=status_updated_at)
    return Health("unknown")


def can_start(health: Health, evse_status: str, connectors: Sequence[ConnectorView]) -> tuple[bool, CannotStart | None]:
    """Whether a session may be started now, else why not (the health state as a code).

    ``Preparing`` (a cable plugged in, no session yet) is ``in_use`` to someone searching,
    but to the driver who plugged in and then scanned the code it is their own car: it may
    start.
    """
    if health.state == "working":
        return True, None
    statuses = {evse_status, *(c.status for c in connectors)}
    if health.state == "in_use" and statuses & IN_USE_STATUSES == {"Preparing"}:
        return True, None
    return False, health.state


def incidents_sql() -> Select[str]:
    """``incidents_keeping_drivers_away`` for the ``Evse`` of the enclosing query."""
    return incidents_keeping_drivers_away(ChargePoint.id, Evse.evse_number).correlate(ChargePoint, Evse)


def working_sql() -> ColumnElement[bool]:
    """SQL over ``Evse``/``ChargePoint`` true exactly when ``health_of`` says ``working``."""
    busy = aliased(Connector)
    free = aliased(Connector)
    return and_(
        ChargePoint.connected.is_(True),
        ~incidents_sql().exists(),
        Evse.status.not_in(sorted(BUSY_STATUSES)),
        ~exists().where(busy.evse_pk == Evse.id, busy.status.in_(sorted(BUSY_STATUSES))),
        or_(Evse.status == "Available", exists().where(free.evse_pk == Evse.id, free.status == "Available")),
    )
