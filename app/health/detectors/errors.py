"""Reported errors: every OCPP 1.6 StatusNotification error code (vendorErrorCode and info
kept), a Faulted connector, and 2.0.1 NotifyEvent problems. The connector reporting a
status without error again clears it."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.chargers.events import ChargerEventRecorded, ConnectorStatusChanged
from app.core.bus import Event
from app.health.detectors.base import Clock, evse_of
from app.health.signals import Severity, Signal
from app.sessions.events import MeterSampled, TransactionEnded, TransactionStarted

# 1.6 ChargePointErrorCode -> (likely cause, confidence). The charger says what failed; the
# cause is where a technician starts.
ERROR_CAUSES: dict[str, tuple[str, float]] = {
    "ConnectorLockFailure": ("connector_lock", 0.9),
    "EVCommunicationError": ("vehicle_communication", 0.8),
    # A protection device tripped (earth leakage / RCD, over-current): electrical, see PROTECTION.
    "GroundFailure": ("electrical_protection", 0.85),
    "HighTemperature": ("overheating", 0.9),
    "InternalError": ("internal_firmware", 0.7),
    "LocalListConflict": ("internal_firmware", 0.5),
    "OtherError": ("unknown", 0.3),
    "OverCurrentFailure": ("electrical_protection", 0.85),
    "OverVoltage": ("grid_supply", 0.8),
    "PowerMeterFailure": ("metering", 0.9),
    "PowerSwitchFailure": ("internal_firmware", 0.8),
    "ReaderFailure": ("rfid_reader", 0.9),
    "ResetFailure": ("internal_firmware", 0.8),
    "UnderVoltage": ("grid_supply", 0.8),
    "WeakSignal": ("site_network", 0.7),
}
# ------------------------------------------------------------------ electrical protection
# A tripped protection device is electrical: the car or its cable, the site's supply, or the
# charger's own power stage; never firmware, and a reset only closes the contactor into the
# same fault again. 1.6 names two; 2.0.1 says it with a Problem techCode or a protection
# component's variable (OverCurrentProtection / RCD, Operated / Tripped).
PROTECTION_CODES = {"OverCurrentFailure": "over_current", "GroundFailure": "ground_fault"}
_PROTECTION_NEEDLES = (
    ("overcurrent", "over_current"),
    ("over_current", "over_current"),
    ("over-current", "over_current"),
    ("groundf", "ground_fault"),
    ("ground_f", "ground_fault"),
    ("earth", "ground_fault"),
    ("residualcurrent", "ground_fault"),
    ("rcd", "ground_fault"),
    ("gfci", "ground_fault"),
)
PROTECTION_COMPONENTS = {"OverCurrentProtection": "over_current", "RCD": "ground_fault"}
# 2.0.1 TransactionEvent stoppedReason: the protection ended the session. A Faulted status
# with no stated cause just before or after it is that trip.
PROTECTION_STOPS = {"OvercurrentFault": "over_current", "GroundFault": "ground_fault"}
STOP_NEAR_FAULT = timedelta(minutes=2)
# OverCurrentProtection.Operated, RCD.Operated / RCD.Tripped are true while tripped (the
# 2.0.1 device model); their Active only says the protection is there.
PROTECTION_VARIABLES = frozenset({"Operated", "Tripped", "Problem"})
# A trip again on the same EVSE within this window is a recurrence: out of service.
TRIP_WINDOW = timedelta(hours=24)
NOMINAL_V = 230.0
# The site's voltage "moved": a sample outside EN 50160's +-10 %, or a swing this large.
VOLTAGE_BAND_V = (207.0, 253.0)
VOLTAGE_SWING_V = 20.0
# The current was over the connector's rating by more than this share.
OVER_RATING = 1.1


def protection_of(code: str | None) -> str | None:
    """over_current | ground_fault for a protection code (1.6 name or 2.0.1 techCode)."""
    if not code:
        return None
    if code in PROTECTION_CODES:
        return PROTECTION_CODES[code]
    lowered = code.lower().replace(" ", "")
    for needle, kind in _PROTECTION_NEEDLES:
        if needle in lowered:
            return kind
    return None


@dataclass
class _Electrical:
    """What an EVSE's last samples and sessions say, kept for the moment it trips."""

    currents_a: deque[float] = field(default_factory=lambda: deque(maxlen=5))  # highest phase
    phases: int = 1
    volts: deque[float] = field(default_factory=lambda: deque(maxlen=15))  # every phase's samples
    token: str | None = None
    trips: list[tuple[datetime, str | None]] = field(default_factory=list)
    # The last session the protection ended: (kind, when).
    stopped_by: tuple[str, datetime] | None = None
    # A Faulted with no stated cause is open: a protection stop that follows explains it.
    unexplained: bool = False


def separate(
    *,
    currents_a: list[float],
    rated_a: float | None,
    volts: list[float],
    tokens: list[str | None],
    trips: int,
) -> dict[str, Any]:
    """The evidence that tells the car/cable, the supply and the power stage apart, and the
    likeliest of the three (``suspect``: vehicle_or_cable | supply | power_stage | undetermined).

    - the supply: the site's voltage left its band (or swung) in the last samples;
    - the car or its cable: the current was above the connector's rating just before, or
      the trips all came with one car;
    - the power stage: several different cars tripped it, at a current within the rating and
      a steady voltage: what they have in common is the charger.
    """
    peak = max(currents_a) if currents_a else None
    over = peak is not None and rated_a is not None and peak > rated_a * OVER_RATING
    moved = bool(volts) and (
        min(volts) < VOLTAGE_BAND_V[0] or max(volts) > VOLTAGE_BAND_V[1] or max(volts) - min(volts) > VOLTAGE_SWING_V
    )
    cars = sorted({t for t in tokens if t})
    if moved:
        suspect = "supply"
    elif len(cars) >= 2 and not over:
        suspect = "power_stage"
    elif over or (len(cars) == 1 and trips >= 2):
        suspect = "vehicle_or_cable"
    else:
        suspect = "undetermined"
    return {
        "suspect": suspect,
        "peakCurrentA": None if peak is None else round(peak, 1),
        "ratedCurrentA": None if rated_a is None else round(rated_a, 1),
        "currentAboveRating": over if rated_a is not None and peak is not None else None,
        "voltageMinV": round(min(volts), 1) if volts else None,
        "voltageMaxV": round(max(volts), 1) if volts else None,
        "voltageMoved": moved if volts else None,
        "cars": len(cars),
        "trips": trips,
        "recurring": trips >= 2,
    }


# Errors that leave the connector usable: a warning, not critical.
MINOR = frozenset({"WeakSignal", "LocalListConflict"})


def cause_of(code: str | None) -> tuple[str, float]:
    if code is None:
        return "unknown", 0.3
    if code in ERROR_CAUSES:
        return ERROR_CAUSES[code]
    # 2.0.1 techCodes are free text; take the obvious ones.
    lowered = code.lower()
    if protection_of(code) is not None:
        return "electrical_protection", 0.8
    for needle, cause in (
        ("temp", "overheating"),
        ("lock", "connector_lock"),
        ("volt", "grid_supply"),
        ("meter", "metering"),
        ("reader", "rfid_reader"),
        ("rfid", "rfid_reader"),
        ("comm", "vehicle_communication"),
        ("firmware", "internal_firmware"),
    ):
        if needle in lowered:
            return cause, 0.5
    return "unknown", 0.3


class ReportedErrorDetector:
    def __init__(self, clock: Clock, ratings: dict[tuple[str, int], float] | None = None) -> None:
        self.clock = clock
        # (identity, evse) -> the EVSE's rated power in W (the low-power detector's, shared).
        self.ratings = ratings if ratings is not None else {}
        self.electrical: dict[tuple[str, int | None], _Electrical] = {}
        # (identity, evse, topic) with an error raised: the next clean status clears it.
        # The monitor adds the open incidents' at start, so a restart still clears them.
        self.raised: set[tuple[str, int | None, str]] = set()

    def feed(self, event: Event) -> list[Signal]:
        if isinstance(event, ConnectorStatusChanged):
            return self._status(event)
        if isinstance(event, ChargerEventRecorded) and event.kind == "notify_event":
            return self._notify(event)
        if isinstance(event, MeterSampled):
            self._sampled(event)
        elif isinstance(event, TransactionStarted):
            self._electrical(event.identity, evse_of(event.evse)).token = event.id_token
        elif isinstance(event, TransactionEnded) and event.stop_reason in PROTECTION_STOPS:
            return self._protection_stop(event)
        return []

    def _protection_stop(self, e: TransactionEnded) -> list[Signal]:
        """The charger ended a session because its protection tripped (2.0.1 stoppedReason)."""
        evse = evse_of(e.evse)
        state = self._electrical(e.identity, evse)
        kind = PROTECTION_STOPS[e.stop_reason or ""]
        state.stopped_by = (kind, e.stopped_at)
        state.token = e.id_token or state.token
        where = (e.identity, evse, "")
        if not (state.unexplained and where in self.raised):
            return []
        # The Faulted already told, now explained: the same incident, its diagnosis refined.
        state.unexplained = False
        self.raised.discard(where)  # a trip of its own, not a repeat
        electrical = self._trip(where, kind, e.stopped_at)
        self.raised.add(where)
        return [
            Signal(
                kind="reported_error",
                identity=e.identity,
                at=self.clock(),
                evse=evse,
                connector=e.connector,
                severity="critical",
                cause="electrical_protection",
                confidence=0.8,
                summary=f"Charger {e.identity} EVSE {evse} faulted: its {kind.replace('_', '-')} protection "
                f"ended the session ({e.stop_reason}).",
                evidence={"source": "TransactionEvent", "stoppedReason": e.stop_reason, "electrical": electrical},
            )
        ]

    # -- electrical protection ------------------------------------------------------------

    def _electrical(self, identity: str, evse: int | None) -> _Electrical:
        return self.electrical.setdefault((identity, evse), _Electrical())

    def _sampled(self, e: MeterSampled) -> None:
        state = self._electrical(e.identity, evse_of(e.evse))
        currents = [s.value for s in e.samples if s.measurand == "Current.Import"]
        volts = [s.value for s in e.samples if s.measurand == "Voltage"]
        if currents:
            state.currents_a.append(max(currents))
            state.phases = max(1, len([s for s in e.samples if s.measurand == "Current.Import" and s.phase]))
        state.volts.extend(volts)

    def _trip(self, where: tuple[str, int | None, str], kind: str, at: datetime) -> dict[str, Any]:
        """Record a protection trip (not a repeat of the one already raised) and the
        evidence that separates its possible causes."""
        identity, evse, _ = where
        state = self._electrical(identity, evse)
        state.trips = [t for t in state.trips if at - t[0] <= TRIP_WINDOW]
        if where not in self.raised or not state.trips:
            state.trips.append((at, state.token))
        rated_w = self.ratings.get((identity, evse or 1))
        rated_a = rated_w / (NOMINAL_V * state.phases) if rated_w else None
        return {
            "protection": kind,
            **separate(
                currents_a=list(state.currents_a),
                rated_a=rated_a,
                volts=list(state.volts),
                tokens=[t for _, t in state.trips],
                trips=len(state.trips),
            ),
        }

    def tick(self, now: datetime) -> list[Signal]:
        return []

    def _status(self, e: ConnectorStatusChanged) -> list[Signal]:
        where = (e.identity, evse_of(e.evse), "")
        if e.error_code is None and e.status != "Faulted":
            if where in self.raised:
                self.raised.discard(where)
                return [self._clear(e.identity, where[1], e.connector, f"status {e.status}")]
            return []
        code = e.error_code or "Faulted"
        cause, confidence = cause_of(e.error_code)
        severity: Severity = "critical" if e.status == "Faulted" or code not in MINOR else "warning"
        protection = protection_of(e.error_code)
        state = self._electrical(e.identity, where[1])
        stop = state.stopped_by
        if protection is None and e.error_code is None and stop is not None and abs(e.at - stop[1]) <= STOP_NEAR_FAULT:
            protection = stop[0]  # faulted right as the protection ended a session
            cause, confidence = "electrical_protection", 0.8
        state.unexplained = e.error_code is None and protection is None
        electrical = self._trip(where, protection, e.at) if protection else {}
        self.raised.add(where)
        detail = f" ({e.info})" if e.info else ""
        vendor = f", vendor code {e.vendor_error_code}" if e.vendor_error_code else ""
        if electrical:
            detail += f"; {electrical['suspect'].replace('_', ' ')} suspected, trip {electrical['trips']} in 24 h"
        return [
            Signal(
                kind="reported_error",
                identity=e.identity,
                at=self.clock(),
                evse=where[1],
                connector=e.connector,
                severity=severity,
                cause=cause,
                confidence=confidence,
                summary=f"Charger {e.identity} connector {e.connector} reports {code}{vendor}{detail}.",
                evidence={
                    "source": "StatusNotification",
                    "status": e.status,
                    "errorCode": e.error_code,
                    "vendorErrorCode": e.vendor_error_code,
                    "info": e.info,
                    "reportedAt": e.at.isoformat(),
                    **({"electrical": electrical} if electrical else {}),
                },
            )
        ]

    def _notify(self, e: ChargerEventRecorded) -> list[Signal]:
        data: dict[str, Any] = e.data
        variable = (data.get("variable") or {}).get("name")
        component = (data.get("component") or {}).get("name")
        # A protection device's own component (OverCurrentProtection.Operated, RCD.Tripped).
        tripped = PROTECTION_COMPONENTS.get(component or "") if variable in PROTECTION_VARIABLES else None
        if variable != "Problem" and tripped is None:
            return []  # temperature monitors go to the thermal detector
        where = (e.identity, evse_of(e.evse), "")
        active = str(data.get("actualValue", "")).lower() == "true" and not data.get("cleared")
        if not active:
            if where in self.raised:
                self.raised.discard(where)
                return [self._clear(e.identity, where[1], e.connector, "NotifyEvent Problem cleared")]
            return []
        code = data.get("techCode") or e.code
        cause, confidence = cause_of(code)
        protection = tripped or protection_of(code)
        electrical = self._trip(where, protection, e.at) if protection else {}
        if protection:
            cause, confidence = "electrical_protection", max(confidence, 0.8)
        self.raised.add(where)
        return [
            Signal(
                kind="reported_error",
                identity=e.identity,
                at=self.clock(),
                evse=where[1],
                connector=e.connector,
                severity="critical",
                cause=cause,
                confidence=confidence,
                summary=f"Charger {e.identity} EVSE {e.evse} reports a problem: {code}.",
                evidence={
                    "source": "NotifyEvent",
                    "errorCode": code,
                    "info": data.get("techInfo"),
                    "component": component,
                    "reportedAt": e.at.isoformat(),
                    **({"electrical": electrical} if electrical else {}),
                },
            )
        ]

    def _clear(self, identity: str, evse: int | None, connector: int | None, via: str) -> Signal:
        return Signal(
            kind="reported_error",
            identity=identity,
            at=self.clock(),
            evse=evse,
            connector=connector,
            clears=True,
            summary=f"Charger {identity} reports no error any more ({via}).",
            evidence={"via": via},
        )
