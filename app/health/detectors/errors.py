"""Reported errors: every OCPP 1.6 StatusNotification error code (vendorErrorCode and info
kept), a Faulted connector, and 2.0.1 NotifyEvent problems. The connector reporting a
status without error again clears it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.chargers.events import ChargerEventRecorded, ConnectorStatusChanged
from app.core.bus import Event
from app.health.detectors.base import Clock, evse_of
from app.health.signals import Severity, Signal

# 1.6 ChargePointErrorCode -> (likely cause, confidence). The charger says what failed; the
# cause is where a technician starts.
ERROR_CAUSES: dict[str, tuple[str, float]] = {
    "ConnectorLockFailure": ("connector_lock", 0.9),
    "EVCommunicationError": ("vehicle_communication", 0.8),
    # An earth-leakage (RCD) trip: the installation's protection acted.
    "GroundFailure": ("grid_supply", 0.5),
    "HighTemperature": ("overheating", 0.9),
    "InternalError": ("internal_firmware", 0.7),
    "LocalListConflict": ("internal_firmware", 0.5),
    "OtherError": ("unknown", 0.3),
    "OverCurrentFailure": ("internal_firmware", 0.5),
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


def cause_of(code: str | None) -> tuple[str, float]:
    if code is None:
        return "unknown", 0.3
    if code in ERROR_CAUSES:
        return ERROR_CAUSES[code]
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
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        # (identity, evse, topic) with an error raised: the next clean status clears it.
        # The monitor adds the open incidents' at start, so a restart still clears them.
        self.raised: set[tuple[str, int | None, str]] = set()

    def feed(self, event: Event) -> list[Signal]:
        if isinstance(event, ConnectorStatusChanged):
            return self._status(event)
        if isinstance(event, ChargerEventRecorded) and event.kind == "notify_event":
            return self._notify(event)
        return []

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
        self.raised.add(where)
        detail = f" ({e.info})" if e.info else ""
        vendor = f", vendor code {e.vendor_error_code}" if e.vendor_error_code else ""
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
                },
            )
        ]

    def _notify(self, e: ChargerEventRecorded) -> list[Signal]:
        data: dict[str, Any] = e.data
        variable = (data.get("variable") or {}).get("name")
        if variable != "Problem":
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
                    "component": (data.get("component") or {}).get("name"),
                    "reportedAt": e.at.isoformat(),
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
