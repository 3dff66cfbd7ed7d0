"""Metering: a stuck register (charging, power reported, energy not rising), energy
rising while idle, a register going backwards, power and energy that disagree."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.core.bus import Event
from app.core.settings import HealthSettings
from app.health.detectors.base import Clock, Where, evse_of
from app.health.signals import Signal
from app.sessions.events import MeterSampled, TransactionEnded, TransactionStarted

# Register resolution: Wh meters round; a smaller step back is not "backwards".
BACKWARDS_TOLERANCE_WH = 1.0
# Only intervals this long with this much expected energy are compared with power.
MIN_COMPARE_S = 10.0
MIN_COMPARE_WH = 20.0
# A session's unreported tail: at most its last power (cars taper) over the gap, give or take.
TAIL_MARGIN = 1.1


@dataclass
class _Meter:
    register_wh: float | None = None
    power_w: float | None = None
    at: datetime | None = None
    in_transaction: bool = False
    idle_base_wh: float | None = None
    stuck: int = 0
    disagree: int = 0
    still: int = 0  # idle readings in a row with the register not moving
    tail_wh: float = 0.0  # energy a session's unreported last minutes may still show
    evidence: list[dict[str, Any]] = field(default_factory=list)


class MeteringDetector:
    def __init__(self, settings: HealthSettings, clock: Clock) -> None:
        self.s = settings
        self.clock = clock
        self.meters: dict[tuple[str, int | None], _Meter] = {}
        self.raised: set[Where] = set()
        # Per charger, the EVSEs with a transaction running: a charger-wide meter (1.6
        # connector 0) counts their energy, so it is idle only when none runs.
        self.charging: dict[str, set[int | None]] = {}

    def tick(self, now: datetime) -> list[Signal]:
        return []

    @staticmethod
    def _stop_reading(meter: _Meter, ended: TransactionEnded, power_w: float | None) -> None:
        """The register at the transaction's end (1.6 meterStop, the 2.0.1 Ended reading) is
        a reading like any other: the idle baseline starts from it. Without it the energy
        since the last periodic reading (a minute of charging, say) would count as flowing
        while idle.

        A stop that tells no register of its own (a 2.0.1 Ended without meter values: its
        register is the last one reported) leaves the session's last minutes unreported:
        the first idle reading may show them, up to the last power over that gap."""
        meter.tail_wh = 0.0
        stop = ended.meter_stop_wh
        if stop is None or (meter.at is not None and ended.stopped_at < meter.at):
            return
        if (
            meter.register_wh is not None
            and meter.at is not None
            and abs(stop - meter.register_wh) <= BACKWARDS_TOLERANCE_WH
        ):
            gap_h = (ended.stopped_at - meter.at).total_seconds() / 3600.0
            meter.tail_wh = TAIL_MARGIN * (power_w or 0.0) * gap_h
            return
        meter.register_wh, meter.at = stop, ended.stopped_at

    def feed(self, event: Event) -> list[Signal]:
        if isinstance(event, TransactionStarted | TransactionEnded):
            key = (event.identity, evse_of(event.evse))
            meter = self.meters.setdefault(key, _Meter())
            meter.in_transaction = isinstance(event, TransactionStarted)
            meter.idle_base_wh = None
            meter.stuck = meter.disagree = meter.still = 0
            meter.tail_wh = 0.0
            # The power last reported describes the time before this edge, not the next interval.
            last_power, meter.power_w = meter.power_w, None
            running = self.charging.setdefault(event.identity, set())
            if isinstance(event, TransactionStarted):
                running.add(key[1])
            else:
                running.discard(key[1])
                self._stop_reading(meter, event, last_power)
            return []
        if not isinstance(event, MeterSampled):
            return []
        register = power = None
        at = None
        for sample in event.samples:
            if sample.is_energy_register:
                # The newest register reading (1.6 transactionData holds the start's too).
                if at is None or sample.at >= at:
                    register, at = sample.value, sample.at
            elif sample.measurand == "Power.Active.Import" and sample.phase == "":
                power = sample.value
        if register is None or at is None:
            return []
        key = (event.identity, evse_of(event.evse))
        meter = self.meters.setdefault(key, _Meter())
        in_tx = event.transaction_id is not None or event.transaction_number is not None or meter.in_transaction
        if key[1] is None and self.charging.get(event.identity):
            in_tx = True  # the charger-wide meter while an EVSE charges: its energy is that session's
        out: list[Signal] = []
        previous, previous_power, previous_at = meter.register_wh, meter.power_w, meter.at
        if previous_at is not None and at < previous_at:
            return out  # a replayed older reading: the newer one stays the baseline
        meter.register_wh, meter.power_w, meter.at = register, power, at
        if previous is None or previous_at is None:
            return out  # the first reading
        delta = register - previous
        reading = {"at": at.isoformat(), "registerWh": register, "previousWh": previous, "powerW": power}

        out += self._judge(
            key,
            "backwards",
            delta < -BACKWARDS_TOLERANCE_WH,
            f"Charger {key[0]}'s meter went backwards from {previous:.0f} to {register:.0f} Wh.",
            {"sample": reading},
            severity="critical",
            clear_when=delta >= 0,
        )

        if in_tx:
            meter.idle_base_wh = None
            charging = power is not None and power >= self.s.stuck_power_w
            meter.stuck = meter.stuck + 1 if charging and delta <= 0 else 0
            if meter.stuck:
                meter.evidence = (
                    [*meter.evidence[-(self.s.stuck_samples - 1) :], reading] if self.s.stuck_samples > 1 else [reading]
                )
            out += self._judge(
                key,
                "stuck",
                meter.stuck >= self.s.stuck_samples,
                f"Charger {key[0]}'s meter is stuck at {register:.0f} Wh while it reports {power or 0:.0f} W.",
                {
                    "samples": meter.evidence,
                    "thresholds": {"powerW": self.s.stuck_power_w, "samples": self.s.stuck_samples},
                },
                clear_when=delta > 0,
            )
            seconds = (at - previous_at).total_seconds()
            if power is not None and previous_power is not None and seconds >= MIN_COMPARE_S:
                expected = (power + previous_power) / 2 * seconds / 3600.0
                if expected >= MIN_COMPARE_WH and delta > 0:
                    ratio = delta / expected
                    off = ratio > self.s.energy_power_ratio_max or ratio < 1 / self.s.energy_power_ratio_max
                    meter.disagree = meter.disagree + 1 if off else 0
                    out += self._judge(
                        key,
                        "power_energy",
                        meter.disagree >= self.s.stuck_samples,
                        f"Charger {key[0]}'s energy ({delta:.0f} Wh) and power ({expected:.0f} Wh expected) disagree.",
                        {"sample": reading, "expectedWh": round(expected, 1), "ratio": round(ratio, 2)},
                        clear_when=not off,
                    )
        else:
            if meter.idle_base_wh is None:
                # The first idle reading: what the session's unreported tail explains is its.
                tail = 0 < delta <= meter.tail_wh + BACKWARDS_TOLERANCE_WH
                meter.idle_base_wh = register if tail else previous
                meter.tail_wh = 0.0
            if delta < 0:
                meter.idle_base_wh = register  # a new baseline; going backwards is judged above
            # Raised, the register standing still for as many readings as a stuck one needs
            # is the charger recovered: counting starts afresh from here.
            meter.still = meter.still + 1 if abs(delta) <= BACKWARDS_TOLERANCE_WH else 0
            recovered = meter.still >= self.s.stuck_samples and (*key, "idle_energy") in self.raised
            if recovered:
                meter.idle_base_wh = register
            gained = register - meter.idle_base_wh
            out += self._judge(
                key,
                "idle_energy",
                gained > self.s.idle_energy_wh,
                f"Charger {key[0]}'s meter counted {gained:.0f} Wh with no session running.",
                {"sample": reading, "sinceWh": meter.idle_base_wh, "thresholdWh": self.s.idle_energy_wh},
                clear_when=recovered,
            )
        return out

    def _judge(
        self,
        key: tuple[str, int | None],
        topic: str,
        bad: bool,
        summary: str,
        evidence: dict[str, Any],
        *,
        clear_when: bool,
        severity: str = "warning",
    ) -> list[Signal]:
        where = (key[0], key[1], topic)
        if bad and where not in self.raised:
            self.raised.add(where)
            return [
                Signal(
                    kind="metering",
                    identity=key[0],
                    evse=key[1],
                    topic=topic,
                    at=self.clock(),
                    severity="critical" if severity == "critical" else "warning",
                    cause="metering",
                    confidence=0.8 if topic in ("stuck", "backwards") else 0.6,
                    summary=summary,
                    evidence=evidence,
                )
            ]
        if not bad and clear_when and where in self.raised:
            self.raised.discard(where)
            return [
                Signal(
                    kind="metering",
                    identity=key[0],
                    evse=key[1],
                    topic=topic,
                    at=self.clock(),
                    clears=True,
                    summary=f"Charger {key[0]}'s meter behaves again ({topic}).",
                    evidence=evidence,
                )
            ]
        return []
