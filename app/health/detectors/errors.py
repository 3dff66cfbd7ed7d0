"""Reported errors: every OCPP 1.6 StatusNotification error code (vendorErrorCode and info
kept), a Faulted connector, and 2.0.1 NotifyEvent problems of the device model's
components. The connector reporting a status without error again (or the 2.0.1 problem
cleared) clears it.

2.0.1 has no error codes: a charger names the component that failed (Appendix 3,
"Standardized components": ConnectorPlugRetentionLock, PowerContactor, TokenReader, RCD,
...) and a problem variable (Problem, Tripped, ...) with actualValue true. Each component is
mapped to its 1.6 ChargePointErrorCode twin, so a 2.0.1 cause is the one its twin gets (and
takes the same playbook)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec

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
# Errors that leave the connector usable: a warning, not critical.
MINOR = frozenset({"WeakSignal", "LocalListConflict"})


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


# A connector Faulted with no error code (2.0.1 always; 1.6 with NoError) states no cause. A
# 2.0.1 charger sends the NotifyEvent naming it right after the status: wait this long for
# it before diagnosing the fault as unexplained.
EXPLANATION_WAIT_S = 5.0
# Unexplained: the charger's own controller took the connector out of use without naming
# a part (no lock, meter, supply, temperature...). Its log is where a technician starts,
# and a reboot is what clears most of these; the confidence says how little is known.
UNEXPLAINED = ("internal_firmware", 0.4)

# 2.0.1 device-model component -> its 1.6 ChargePointErrorCode twin (OCPP 2.0.1 Part 2
# Appendix 3, standardized components; a few common non-standard names too).
COMPONENT_TWINS: dict[str, str] = {
    # The plug retention lock (the 1.6 connector lock); the car-side lock is the car's.
    "ConnectorPlugRetentionLock": "ConnectorLockFailure",
    "PlugRetentionLock": "ConnectorLockFailure",
    # The link to the car: the pilot signal (PWM) and the high-level protocol.
    "ConnectedEV": "EVCommunicationError",
    "ControlPilot": "EVCommunicationError",
    "CPPWMController": "EVCommunicationError",
    "ISO15118Ctrlr": "EVCommunicationError",
    # Electrical protection: earth leakage and over-current devices.
    "RCD": "GroundFailure",
    "RCDRecloser": "GroundFailure",
    "GroundIsolationProtection": "GroundFailure",
    "OverCurrentProtection": "OverCurrentFailure",
    "OverCurrentProtectionRecloser": "OverCurrentFailure",
    # Thermal: a tripped sensor or a failed cooling system.
    "TemperatureSensor": "HighTemperature",
    "AirCoolingSystem": "HighTemperature",
    "LiquidCoolingSystem": "HighTemperature",
    # Meters.
    "FiscalMetering": "PowerMeterFailure",
    "ControlMetering": "PowerMeterFailure",
    "PowerMeter": "PowerMeterFailure",
    # The power switch (contactor) and the power stage.
    "PowerContactor": "PowerSwitchFailure",
    "Contactor": "PowerSwitchFailure",
    "AcDcConverter": "InternalError",
    "Controller": "InternalError",
    "LocalController": "InternalError",
    "RealTimeClock": "InternalError",
    # The RFID reader.
    "TokenReader": "ReaderFailure",
    # The charger's own network link.
    "DataLink": "WeakSignal",
    "OCPPCommCtrlr": "WeakSignal",
    "LocalAuthListCtrlr": "LocalListConflict",
}
# The supply: its voltage left the band (the direction from the value or the techCode).
SUPPLY_COMPONENTS = frozenset({"ElectricalFeed", "ELVSupply"})
# Variables whose true value is a problem; others (Active, Enabled, Temperature, ...)
# describe normal operation or go to their own detector.
# A protection device's Operated is true while tripped (its Active only says it is fitted).
PROBLEM_VARIABLES = frozenset({"Problem", "Tripped", "Fault", "Overload", "Operated"})

# 2.0.1 TransactionEvent stoppedReason naming a protection that acted -> its 1.6 twin: a
# session ended this way explains the Faulted status beside it.
STOP_REASON_TWINS: dict[str, str] = {
    "GroundFault": "GroundFailure",
    "OvercurrentFault": "OverCurrentFailure",
}

# Device-model names are case-insensitive (OCPP 2.0.1 Part 2, 2.x "Device Model").
_TWINS = {name.lower(): twin for name, twin in COMPONENT_TWINS.items()}
_SUPPLY = frozenset(name.lower() for name in SUPPLY_COMPONENTS)
_PROBLEMS = frozenset(name.lower() for name in PROBLEM_VARIABLES)


def twin_of(component: str | None, variable: str | None, tech_code: str | None) -> str | None:
    """The 1.6 ChargePointErrorCode a 2.0.1 problem event corresponds to, None if none does.

    The part named wins (a lock is a lock whatever its firmware's techCode); on a part with
    no twin (ChargingStation, EVSE, Connector, a vendor's own) a techCode that is a 1.6 code
    (many chargers send them) is taken."""
    part, var = (component or "").lower(), (variable or "").lower()
    if var == "overload":  # any part overloaded: more current than it is rated for
        return "OverCurrentFailure"
    if part in _TWINS:
        return _TWINS[part]
    if part in _SUPPLY:
        hint = f"{tech_code or ''} {variable or ''}".lower()
        if "over" in hint or "high" in hint:
            return "OverVoltage"
        return "UnderVoltage"
    return tech_code if tech_code in ERROR_CAUSES else None


def cause_of(code: str | None) -> tuple[str, float]:
    if code is None:
        return "unknown", 0.3
    if code in ERROR_CAUSES:
        return ERROR_CAUSES[code]
    if protection_of(code) is not None:
        return "electrical_protection", 0.8
    # 2.0.1 techCodes are free text; take the obvious ones.
    lowered = code.lower()
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
    def __init__(
        self,
        clock: Clock,
        explanation_wait_s: float = EXPLANATION_WAIT_S,
        ratings: dict[tuple[str, int], float] | None = None,
    ) -> None:
        self.clock = clock
        # (identity, evse) -> the EVSE's rated power in W (the low-power detector's, shared).
        self.ratings = ratings if ratings is not None else {}
        self.electrical: dict[tuple[str, int | None], _Electrical] = {}
        # (identity, evse, topic) with an error raised: the next clean status clears it.
        # The monitor adds the open incidents' at start, so a restart still clears them.
        self.raised: set[tuple[str, int | None, str]] = set()
        # 2.0.1 components with an active problem, per raised condition: the condition
        # clears when the last of them clears (or a clean status arrives).
        self.problems: dict[tuple[str, int | None, str], set[str]] = {}
        # Faulted with no code, waiting EXPLANATION_WAIT_S for the event that names it.
        self.unexplained: dict[tuple[str, int | None, str], tuple[ConnectorStatusChanged, datetime]] = {}
        self.explanation_wait = timedelta(seconds=explanation_wait_s)
        # A session just ended by a protection (2.0.1 stoppedReason): twin code and when.
        self.tripped: dict[tuple[str, int | None, str], tuple[str, str, datetime]] = {}

    def feed(self, event: Event) -> list[Signal]:
        if isinstance(event, ConnectorStatusChanged):
            return self._status(event)
        if isinstance(event, ChargerEventRecorded) and event.kind == "notify_event":
            return self._notify(event)
        if isinstance(event, MeterSampled):
            self._sampled(event)
        elif isinstance(event, TransactionStarted):
            self._electrical(event.identity, evse_of(event.evse)).token = event.id_token
        elif isinstance(event, TransactionEnded) and event.stop_reason in STOP_REASON_TWINS:
            return self._tripped(event)
        return []

    def tick(self, now: datetime) -> list[Signal]:
        due = [w for w, (_, since) in self.unexplained.items() if now - since >= self.explanation_wait]
        return [s for w in due for s in self._faulted(self.unexplained.pop(w)[0], unexplained=True)]

    def _status(self, e: ConnectorStatusChanged) -> list[Signal]:
        where = (e.identity, evse_of(e.evse), "")
        if e.error_code is None and e.status != "Faulted":
            # Back before the wait was over: a blip nobody needs to hear about.
            self.unexplained.pop(where, None)
            self.problems.pop(where, None)
            if where in self.raised:
                self.raised.discard(where)
                return [self._clear(e.identity, where[1], e.connector, f"status {e.status}")]
            return []
        if e.error_code is None:
            if where in self.raised:
                return []  # already explained (the 2.0.1 problem event came first)
            tripped = self.tripped.pop(where, None)
            if tripped is not None and self.clock() - tripped[2] <= self.explanation_wait:
                return self._faulted(msgspec.structs.replace(e, error_code=tripped[0], info=tripped[1]))
            since = self.unexplained[where][1] if where in self.unexplained else self.clock()
            self.unexplained[where] = (e, since)
            return []
        return self._faulted(e)

    def _tripped(self, e: TransactionEnded) -> list[Signal]:
        """A session stopped by a protection: the Faulted status beside it (before or after,
        within the wait) is that protection's."""
        where = (e.identity, evse_of(e.evse), "")
        state = self._electrical(e.identity, where[1])
        state.token = e.id_token or state.token
        twin, info = STOP_REASON_TWINS[e.stop_reason or ""], f"transaction stopped: {e.stop_reason}"
        pending = self.unexplained.pop(where, None)
        if pending is not None:
            return self._faulted(msgspec.structs.replace(pending[0], error_code=twin, info=info))
        self.tripped[where] = (twin, info, self.clock())
        return []

    def _faulted(self, e: ConnectorStatusChanged, *, unexplained: bool = False) -> list[Signal]:
        where = (e.identity, evse_of(e.evse), "")
        self.unexplained.pop(where, None)
        code = e.error_code or "Faulted"
        cause, confidence = UNEXPLAINED if unexplained else cause_of(e.error_code)
        severity: Severity = "critical" if e.status == "Faulted" or code not in MINOR else "warning"
        protection = protection_of(e.error_code)
        electrical = self._trip(where, protection, e.at) if protection else {}
        self.raised.add(where)
        detail = f" ({e.info})" if e.info else ""
        vendor = f", vendor code {e.vendor_error_code}" if e.vendor_error_code else ""
        if unexplained:
            detail = f" with no cause stated within {self.explanation_wait.total_seconds():g} s"
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
                    **({"unexplained": True} if unexplained else {}),
                    **({"electrical": electrical} if electrical else {}),
                },
            )
        ]

    def _notify(self, e: ChargerEventRecorded) -> list[Signal]:
        data: dict[str, Any] = e.data
        component = (data.get("component") or {}).get("name")
        variable = (data.get("variable") or {}).get("name")
        if str(variable).lower() == "availabilitystate" and str(component).lower() in ("connector", "evse"):
            # A charger that reports its connector's state as a device-model variable.
            return self._status(
                ConnectorStatusChanged(
                    identity=e.identity,
                    evse=e.evse or 0,
                    connector=e.connector or 1,
                    status=str(data.get("actualValue", "")),
                    error_code=None,
                    vendor_error_code=None,
                    info=None,
                    at=e.at,
                )
            )
        if str(variable).lower() not in _PROBLEMS:
            return []  # normal operation (a lock engaging, ...); temperatures go to the thermal detector
        where = (e.identity, evse_of(e.evse), "")
        part = f"{component}.{variable}"
        value = str(data.get("actualValue", ""))
        active = value.strip().lower() in ("true", "1") and not data.get("cleared")
        problems = self.problems.setdefault(where, set())
        if not active:
            problems.discard(part)
            if not problems and where in self.raised:
                self.raised.discard(where)
                return [self._clear(e.identity, where[1], e.connector, f"NotifyEvent {part} cleared")]
            return []
        # The event names what the Faulted status did not: no longer unexplained.
        faulted = self.unexplained.pop(where, (None, None))[0]
        problems.add(part)
        tech_code = data.get("techCode")
        twin = twin_of(component, variable, tech_code)
        if twin is not None:
            cause, confidence = ERROR_CAUSES[twin]
        else:  # a vendor's own component or techCode: take the obvious words
            cause, confidence = cause_of(tech_code or component)
        severity: Severity = "warning" if twin in MINOR and faulted is None else "critical"
        protection = PROTECTION_CODES.get(twin or "") or protection_of(tech_code)
        electrical = self._trip(where, protection, e.at) if protection else {}
        if protection:
            cause, confidence = "electrical_protection", max(confidence, 0.8)
        self.raised.add(where)
        named = tech_code or part
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
                summary=f"Charger {e.identity} EVSE {e.evse} reports a problem: {named}"
                + (f" ({twin})" if twin and twin != named else "")
                + ".",
                evidence={
                    "source": "NotifyEvent",
                    "errorCode": tech_code or e.code,
                    "info": data.get("techInfo"),
                    "component": component,
                    "variable": variable,
                    "actualValue": value,
                    "trigger": data.get("trigger"),
                    "twin16": twin,
                    "status": faulted.status if faulted is not None else None,
                    "reportedAt": e.at.isoformat(),
                    **({"electrical": electrical} if electrical else {}),
                },
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
