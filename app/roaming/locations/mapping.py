"""Our locations, EVSEs and connectors as OCPI 2.2.1 Location, EVSE and Connector objects
(mod_locations), and the rules that turn what our chargers report into an OCPI EVSE status.

Pure: the facts come in as plain values (``repository.py`` gathers them), the objects go out
as plain dicts ready for the envelope. Every bounded string of the specification is cut to
its length here, so a long address in our database never makes an object a partner refuses.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.roaming.envelope import timestamp

# -- EVSE status --------------------------------------------------------------------------

# OCPP connector statuses (1.6 and 2.0.1) -> OCPI. "In use" is CHARGING whatever the car is
# doing: 2.2.1 defines CHARGING as "the EVSE/Connector is in use" (a cable plugged in before
# the session starts, a full car still parked, ...); BLOCKED is for a physical barrier, which
# no charger reports.
OCPP_TO_OCPI = {
    "Available": "AVAILABLE",
    "Preparing": "CHARGING",
    "Charging": "CHARGING",
    "SuspendedEV": "CHARGING",
    "SuspendedEVSE": "CHARGING",
    "Finishing": "CHARGING",
    "Occupied": "CHARGING",
    "Reserved": "RESERVED",
    "Unavailable": "INOPERATIVE",
    "Faulted": "OUTOFORDER",
}

# The worse status wins when an EVSE's connectors disagree (one EVSE charges one car: a
# connector in use makes the whole EVSE in use; a broken one makes it out of order).
SEVERITY = {"UNKNOWN": 0, "AVAILABLE": 1, "RESERVED": 2, "CHARGING": 3, "INOPERATIVE": 4, "OUTOFORDER": 5}


def ocpi_status(*, online: bool, cannot_charge: bool, statuses: Iterable[str]) -> str:
    """The OCPI status of an EVSE.

    ``online``: its charger is connected and no open offline incident says it went silent;
    offline is UNKNOWN (2.2.1: "no status information available (also used when offline)").
    ``cannot_charge``: an open health incident keeps drivers away from the EVSE or its whole
    charger (critical, or a kind where a session would fail): OUTOFORDER, as the driver app
    shows it. Otherwise the worst of its connectors' OCPP statuses; statuses the charger has
    not reported yet (``Unknown``) count only when nothing else is known.
    """
    if not online:
        return "UNKNOWN"
    worst = max((OCPP_TO_OCPI.get(s, "UNKNOWN") for s in statuses), key=SEVERITY.__getitem__, default="UNKNOWN")
    if cannot_charge and SEVERITY[worst] < SEVERITY["OUTOFORDER"]:
        return "OUTOFORDER"
    return worst


# -- facts --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectorFacts:
    number: int
    standard: str  # stored as an OCPI ConnectorType already (IEC_62196_T2, CHADEMO, ...)
    power_type: str  # AC_1_PHASE | AC_3_PHASE | DC (OCPI PowerType)
    max_kw: float
    status: str  # OCPP


@dataclass(frozen=True, slots=True)
class EvseFacts:
    uid: uuid.UUID
    evse_id: str
    status: str  # OCPI, from ocpi_status
    connectors: tuple[ConnectorFacts, ...]
    # When the EVSE's data last changed, its status and its connectors' included (we keep no
    # separate time for a connector: it counts as changed with its EVSE).
    last_updated: datetime
    tariff_id: str | None = None
    charging_profiles: bool = False


@dataclass(frozen=True, slots=True)
class LocationFacts:
    id: uuid.UUID
    country_code: str  # the tenant's party
    party_id: str
    operator_name: str
    name: str
    address: str
    city: str
    postal_code: str
    country: str  # ISO 3166-1 alpha-3, as we store it
    latitude: float
    longitude: float
    time_zone: str
    created_at: datetime
    evses: tuple[EvseFacts, ...] = field(default=())

    @property
    def last_updated(self) -> datetime:
        """The location's or any of its EVSEs' (and so connectors') newest change."""
        return max((self.created_at, *(e.last_updated for e in self.evses)))


# -- strings and numbers ------------------------------------------------------------------


def bounded(text: str | None, length: int) -> str:
    """``text`` cut to the specification's ``length`` characters (and trimmed)."""
    return (text or "").strip()[:length].rstrip()


def coordinate(value: float, max_chars: int) -> str:
    """A GeoLocation coordinate: 7 decimals (about 1 cm), fewer (never under 5) where the
    field's length would be exceeded (``-59.1234567`` is 11 characters, latitude allows 10)."""
    for decimals in (7, 6, 5):
        text = f"{value:.{decimals}f}"
        if len(text) <= max_chars:
            return text
    return text


# DC plugs and the combo/T1 inlets come on a cable fixed to the charger; an AC Type 2 point
# is a socket unless we know better (we do not store the format).
CABLE_STANDARDS = frozenset(
    {"CHADEMO", "CHAOJI", "GBT_DC", "IEC_62196_T1", "IEC_62196_T1_COMBO", "IEC_62196_T2_COMBO", "TESLA_R", "TESLA_S"}
)
PHASES = {"AC_1_PHASE": 1, "AC_2_PHASE": 2, "AC_2_PHASE_SPLIT": 2, "AC_3_PHASE": 3}
AC_VOLTAGE = 230  # line to neutral, as 2.2.1 asks for AC_3_PHASE too
DC_VOLTAGE = {"IEC_62196_T1_COMBO": 920, "IEC_62196_T2_COMBO": 920, "CHAOJI": 1000}
DEFAULT_DC_VOLTAGE = 500


def connector_format(standard: str, power_type: str) -> str:
    return "CABLE" if standard in CABLE_STANDARDS or power_type == "DC" else "SOCKET"


def electrical(power_type: str, standard: str, max_kw: float) -> tuple[int, int, int]:
    """(max_voltage V, max_amperage A, max_electric_power W) from the power we store."""
    watts = max(0, round(max_kw * 1000))
    if power_type == "DC":
        volts = DC_VOLTAGE.get(standard, DEFAULT_DC_VOLTAGE)
        return volts, max(1, math.ceil(watts / volts)), watts
    phases = PHASES.get(power_type, 3)
    return AC_VOLTAGE, max(1, math.ceil(watts / (AC_VOLTAGE * phases))), watts


# -- objects ------------------------------------------------------------------------------


def connector_object(c: ConnectorFacts, *, tariff_id: str | None, last_updated: datetime) -> dict[str, Any]:
    volts, amps, watts = electrical(c.power_type, c.standard, c.max_kw)
    body: dict[str, Any] = {
        "id": str(c.number),
        "standard": c.standard,
        "format": connector_format(c.standard, c.power_type),
        "power_type": c.power_type,
        "max_voltage": volts,
        "max_amperage": amps,
        "max_electric_power": watts,
    }
    if tariff_id is not None:
        body["tariff_ids"] = [tariff_id]
    body["last_updated"] = timestamp(last_updated)
    return body


def capabilities(e: EvseFacts) -> list[str]:
    """What partners may do with the EVSE: every charger of ours takes RFID cards and the
    remote start/stop, reservation and unlock commands; charging profiles where it can."""
    found = ["RFID_READER", "REMOTE_START_STOP_CAPABLE", "RESERVABLE", "UNLOCK_CAPABLE"]
    if e.charging_profiles:
        found.insert(0, "CHARGING_PROFILE_CAPABLE")
    return found


def evse_object(e: EvseFacts) -> dict[str, Any]:
    return {
        "uid": str(e.uid),
        "evse_id": bounded(e.evse_id, 48),
        "status": e.status,
        "capabilities": capabilities(e),
        "connectors": [connector_object(c, tariff_id=e.tariff_id, last_updated=e.last_updated) for c in e.connectors],
        "last_updated": timestamp(e.last_updated),
    }


def location_object(loc: LocationFacts) -> dict[str, Any]:
    body: dict[str, Any] = {
        "country_code": loc.country_code,
        "party_id": loc.party_id,
        "id": str(loc.id),
        "publish": True,
        "name": bounded(loc.name, 255),
        "address": bounded(loc.address, 45),
        "city": bounded(loc.city, 45),
        "country": bounded(loc.country, 3).upper(),
        "coordinates": {"latitude": coordinate(loc.latitude, 10), "longitude": coordinate(loc.longitude, 11)},
        "evses": [evse_object(e) for e in loc.evses if e.connectors],
        "operator": {"name": bounded(loc.operator_name, 100)},
        "time_zone": bounded(loc.time_zone, 255),
        # We keep no opening hours: our chargers are public and always on.
        "opening_times": {"twentyfourseven": True},
        "last_updated": timestamp(loc.last_updated),
    }
    # Optional, and left out where there is none (a motorway site may have no postal code).
    if postal_code := bounded(loc.postal_code, 10):
        body["postal_code"] = postal_code
    return body


def status_patch(status: str, at: datetime) -> dict[str, Any]:
    """The body of the PATCH that tells a partner an EVSE's new status."""
    return {"status": status, "last_updated": timestamp(at)}


def find_evse(loc: LocationFacts, uid: str) -> EvseFacts | None:
    return next((e for e in loc.evses if str(e.uid) == uid.lower() and e.connectors), None)


def find_connector(evse: EvseFacts, connector_id: str) -> ConnectorFacts | None:
    return next((c for c in evse.connectors if str(c.number) == connector_id), None)
