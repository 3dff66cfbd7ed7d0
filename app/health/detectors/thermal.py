"""Overheating: a temperature over the limit, or rising faster than the load explains
(a fast rise while little power flows). 1.6 reports it as a Temperature measurand; 2.0.1
as a TemperatureSensor monitor event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.chargers.events import ChargerEventRecorded
from app.core.bus import Event
from app.core.settings import HealthSettings
from app.health.detectors.base import Clock, Where, evse_of
from app.health.signals import Signal
from app.sessions.events import MeterSampled


@dataclass
class _Thermal:
    celsius: float
    at: datetime


class ThermalDetector:
    def __init__(self, settings: HealthSettings, clock: Clock) -> None:
        self.s = settings
        self.clock = clock
        self.last: dict[tuple[str, int | None], _Thermal] = {}
        self.raised: set[Where] = set()

    def tick(self, now: datetime) -> list[Signal]:
        return []

    def feed(self, event: Event) -> list[Signal]:
        if isinstance(event, MeterSampled):
            temperature = power = None
            at = None
            for sample in event.samples:
                if sample.measurand == "Temperature":
                    temperature, at = sample.value, sample.at
                elif sample.measurand == "Power.Active.Import" and sample.phase == "":
                    power = sample.value
            if temperature is None or at is None:
                return []
            return self._reading(event.identity, evse_of(event.evse), temperature, power, at)
        if isinstance(event, ChargerEventRecorded) and event.kind == "notify_event":
            data = event.data
            if (data.get("variable") or {}).get("name") != "Temperature":
                return []
            try:
                celsius = float(data.get("actualValue", ""))
            except ValueError:
                return []
            return self._reading(event.identity, evse_of(event.evse), celsius, None, event.at)
        return []

    def _reading(
        self, identity: str, evse: int | None, celsius: float, power: float | None, at: datetime
    ) -> list[Signal]:
        previous = self.last.get((identity, evse))
        self.last[(identity, evse)] = _Thermal(celsius, at)
        over = (identity, evse, "limit")
        rise = (identity, evse, "rise")
        out: list[Signal] = []
        if celsius >= self.s.temperature_limit_c and over not in self.raised:
            self.raised.add(over)
            out.append(
                self._signal(
                    over,
                    "critical",
                    f"Charger {identity} is at {celsius:.1f} °C, over the {self.s.temperature_limit_c:g} °C limit.",
                    {"celsius": celsius, "limitC": self.s.temperature_limit_c, "at": at.isoformat(), "powerW": power},
                )
            )
        elif celsius <= self.s.temperature_clear_c and over in self.raised:
            self.raised.discard(over)
            out.append(self._clear(over, celsius))
        if previous is not None and power is not None:
            minutes = (at - previous.at).total_seconds() / 60.0
            if minutes >= 0.5:
                rate = (celsius - previous.celsius) / minutes
                if rate >= self.s.temperature_rise_c_per_min and power < self.s.temperature_rise_low_load_w:
                    if rise not in self.raised:
                        self.raised.add(rise)
                        out.append(
                            self._signal(
                                rise,
                                "warning",
                                f"Charger {identity} heats up {rate:.1f} °C/min at only {power:.0f} W.",
                                {
                                    "fromC": previous.celsius,
                                    "toC": celsius,
                                    "minutes": round(minutes, 2),
                                    "ratePerMin": round(rate, 2),
                                    "powerW": power,
                                    "thresholds": {
                                        "riseCPerMin": self.s.temperature_rise_c_per_min,
                                        "lowLoadW": self.s.temperature_rise_low_load_w,
                                    },
                                },
                            )
                        )
                elif rate < self.s.temperature_rise_c_per_min / 2 and rise in self.raised:
                    self.raised.discard(rise)
                    out.append(self._clear(rise, celsius))
        return out

    def _signal(self, where: Where, severity: str, summary: str, evidence: dict[str, object]) -> Signal:
        return Signal(
            kind="overheating",
            identity=where[0],
            evse=where[1],
            topic=where[2],
            at=self.clock(),
            severity="critical" if severity == "critical" else "warning",
            cause="overheating",
            confidence=0.9 if where[2] == "limit" else 0.6,
            summary=summary,
            evidence=evidence,
        )

    def _clear(self, where: Where, celsius: float) -> Signal:
        return Signal(
            kind="overheating",
            identity=where[0],
            evse=where[1],
            topic=where[2],
            at=self.clock(),
            clears=True,
            summary=f"Charger {where[0]} cooled down to {celsius:.1f} °C.",
            evidence={"celsius": celsius},
        )
