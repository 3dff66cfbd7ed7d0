"""Power supply: voltage out of band on a phase, a lost phase, frequency out of band.

A condition counts after ``supply_samples`` meter values in a row show it, and clears
after as many in a row without it, so one noisy reading does neither. Several chargers
of one site in trouble together are the site's supply: diagnosis correlates them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.core.bus import Event
from app.core.settings import HealthSettings
from app.health.detectors.base import Clock, Where, evse_of
from app.health.signals import Signal
from app.sessions.events import MeterSampled


class SupplyDetector:
    def __init__(self, settings: HealthSettings, clock: Clock) -> None:
        self.s = settings
        self.clock = clock
        # (identity, evse, topic) -> consecutive readings against the current state
        self.streak: dict[Where, int] = {}
        self.raised: set[Where] = set()

    def tick(self, now: datetime) -> list[Signal]:
        return []

    def feed(self, event: Event) -> list[Signal]:
        if not isinstance(event, MeterSampled):
            return []
        volts: dict[str, float] = {}
        frequency = None
        for sample in event.samples:
            if sample.measurand == "Voltage":
                volts[sample.phase or "L1-N"] = sample.value
            elif sample.measurand == "Frequency":
                frequency = sample.value
        if not volts and frequency is None:
            return []
        identity, evse = event.identity, evse_of(event.evse)
        out: list[Signal] = []
        if volts:
            in_band = {p: v for p, v in volts.items() if self.s.voltage_min_v <= v <= self.s.voltage_max_v}
            lost = sorted(p for p, v in volts.items() if v < self.s.phase_lost_v) if in_band else []
            out += self._judge(
                (identity, evse, "phase_loss"),
                bool(lost),
                f"Charger {identity} lost phase {', '.join(lost)} (the others are in band).",
                {"volts": volts, "lostPhases": lost, "phaseLostBelowV": self.s.phase_lost_v},
            )
            bad = {p: v for p, v in volts.items() if p not in in_band and p not in lost}
            worst = max(bad.values(), key=lambda v: abs(v - 230.0)) if bad else 0.0
            out += self._judge(
                (identity, evse, "voltage"),
                bool(bad),
                f"Charger {identity} sees {worst:.0f} V, outside {self.s.voltage_min_v:g}..{self.s.voltage_max_v:g} V.",
                {"volts": volts, "outOfBand": bad, "bandV": [self.s.voltage_min_v, self.s.voltage_max_v]},
            )
        if frequency is not None:
            out += self._judge(
                (identity, evse, "frequency"),
                not self.s.frequency_min_hz <= frequency <= self.s.frequency_max_hz,
                f"Charger {identity} sees {frequency:.2f} Hz, outside "
                f"{self.s.frequency_min_hz:g}..{self.s.frequency_max_hz:g} Hz.",
                {"hz": frequency, "bandHz": [self.s.frequency_min_hz, self.s.frequency_max_hz]},
            )
        return out

    def _judge(self, where: Where, bad: bool, summary: str, evidence: dict[str, Any]) -> list[Signal]:
        raised = where in self.raised
        if bad == raised:
            self.streak.pop(where, None)
            return []
        streak = self.streak.get(where, 0) + 1
        if streak < self.s.supply_samples:
            self.streak[where] = streak
            return []
        self.streak.pop(where, None)
        if bad:
            self.raised.add(where)
            return [
                Signal(
                    kind="power_supply",
                    identity=where[0],
                    evse=where[1],
                    topic=where[2],
                    at=self.clock(),
                    severity="critical" if where[2] == "phase_loss" else "warning",
                    cause="grid_supply",
                    confidence=0.6,
                    summary=summary,
                    evidence={**evidence, "samplesInARow": self.s.supply_samples},
                )
            ]
        self.raised.discard(where)
        return [
            Signal(
                kind="power_supply",
                identity=where[0],
                evse=where[1],
                topic=where[2],
                at=self.clock(),
                clears=True,
                summary=f"Charger {where[0]}'s supply ({where[2]}) is back in band.",
                evidence=evidence,
            )
        ]
