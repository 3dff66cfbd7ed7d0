"""Delivered power far below what the car and the charger should give.

A car draws less than the charger offers for good reasons (a full or cold battery, a
one-phase on-board charger), so the charger alone is no yardstick. The yardstick is the
lower of two limits:

- the charger's: the EVSE's rated power, and its Power.Offered when it reports one;
- the car's: the most this card's car has drawn anywhere on the network before.

A session is judged only while both are known, the car is not pausing (SuspendedEV /
SuspendedEVSE, or a 2.0.1 charging state other than Charging), no charging profile limits
the EVSE and the battery is not in its taper (SoC below ``low_power_soc_max`` when reported). Power
under ``low_power_share`` of the yardstick for ``low_power_s`` is a signal; it clears
when a car on that EVSE draws ``low_power_clear_share`` of its yardstick again. Several
chargers of one site at once are the site's supply (diagnosis correlates kind
``power_supply``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.chargers.events import CommandAnswered, ConnectorStatusChanged
from app.core.bus import Event
from app.core.settings import HealthSettings
from app.health.detectors.base import Clock, Where, evse_of
from app.health.signals import Signal
from app.sessions.events import MeterSampled, TransactionEnded, TransactionStarted, TransactionUpdated

# Cards whose best power is remembered (least recently charged forgotten first); one-time
# payment tokens come and go, so the map must not grow with every session.
CARS_REMEMBERED = 100_000
# Statuses in which nobody expects power to flow (the car or the charger paused it).
PAUSED_STATUSES = frozenset({"SuspendedEV", "SuspendedEVSE"})
# Under this a phase voltage says the supply sags (nominal 230 V - 5 %).
SAGGING_V = 218.5


@dataclass
class _Low:
    since: datetime
    samples: list[dict[str, Any]] = field(default_factory=list)


class LowPowerDetector:
    def __init__(self, settings: HealthSettings, clock: Clock) -> None:
        self.s = settings
        self.clock = clock
        self.rated_w: dict[tuple[str, int], float] = {}  # (identity, evse) -> the EVSE's rated power
        self.car_best_w: OrderedDict[str, float] = OrderedDict()  # id token -> most it drew
        self.tokens: dict[tuple[str, int], str | None] = {}  # (identity, transaction number) -> id token
        self.profiled: set[tuple[str, int]] = set()  # EVSEs under a charging profile (0: all)
        self.paused: set[tuple[str, int]] = set()  # EVSEs whose status says the car pauses
        self.paused_tx: set[tuple[str, int]] = set()  # 2.0.1 transactions not in state Charging
        self.low: dict[tuple[str, int], _Low] = {}
        self.good: dict[tuple[str, int], int] = {}  # healthy samples in a row while raised
        self.raised: set[Where] = set()

    def know_rating(self, identity: str, evse: int, max_kw: float | None) -> None:
        if max_kw:
            self.rated_w[(identity, evse)] = max_kw * 1000.0

    def tick(self, now: datetime) -> list[Signal]:
        return []

    def feed(self, event: Event) -> list[Signal]:
        if isinstance(event, MeterSampled):
            return self._sampled(event)
        if isinstance(event, TransactionStarted):
            self.tokens[(event.identity, event.number)] = event.id_token
        elif isinstance(event, TransactionEnded):
            self.tokens.pop((event.identity, event.number), None)
            self.paused_tx.discard((event.identity, event.number))
            self.low.pop((event.identity, event.evse), None)
        elif isinstance(event, ConnectorStatusChanged):
            place = (event.identity, event.evse)
            if event.status in PAUSED_STATUSES:
                self.paused.add(place)
                self.low.pop(place, None)
            else:
                self.paused.discard(place)
        elif isinstance(event, TransactionUpdated) and event.charging_state is not None:
            if event.charging_state == "Charging":
                self.paused_tx.discard((event.identity, event.number))
            else:
                self.paused_tx.add((event.identity, event.number))
        elif isinstance(event, CommandAnswered) and event.status == "Accepted":
            evse = int(event.args.get("evse") or 0)
            if event.name == "set-charging-profile":
                self.profiled.add((event.identity, evse))
            elif event.name == "clear-charging-profile":
                self.profiled = {p for p in self.profiled if p[0] != event.identity}
        return []

    def _sampled(self, event: MeterSampled) -> list[Signal]:
        if event.transaction_number is None or event.evse < 1:
            return []
        power = offered = soc = None
        volts: dict[str, float] = {}
        at = None
        for sample in event.samples:
            if sample.measurand == "Power.Active.Import" and sample.phase == "":
                power, at = sample.value, sample.at
            elif sample.measurand == "Power.Offered" and sample.phase == "":
                offered = sample.value
            elif sample.measurand == "SoC":
                soc = sample.value
            elif sample.measurand == "Voltage":
                volts[sample.phase or "L1-N"] = sample.value
        if power is None or at is None:
            return []
        place = (event.identity, event.evse)
        token = self.tokens.get((event.identity, event.transaction_number))
        tapering = soc is not None and soc >= self.s.low_power_soc_max
        best = self.car_best_w.get(token) if token else None
        if token and not tapering:
            self.car_best_w[token] = max(best or 0.0, power)
            self.car_best_w.move_to_end(token)
            while len(self.car_best_w) > CARS_REMEMBERED:
                self.car_best_w.popitem(last=False)
        limits = [w for w in (self.rated_w.get(place), offered) if w]
        pausing = place in self.paused or (event.identity, event.transaction_number) in self.paused_tx
        profiled = place in self.profiled or (event.identity, 0) in self.profiled
        if tapering or pausing or profiled or best is None or not limits:
            self.low.pop(place, None)
            return []
        expected = min(min(limits), best)
        if expected < self.s.low_power_min_expected_w:
            return []
        where: Where = (event.identity, evse_of(event.evse), "low_power")
        if power >= self.s.low_power_clear_share * expected:
            self.low.pop(place, None)
            if where not in self.raised:
                return []
            self.good[place] = self.good.get(place, 0) + 1
            if self.good[place] < self.s.supply_samples:
                return []
            self.good.pop(place, None)
            self.raised.discard(where)
            return [
                Signal(
                    kind="power_supply",
                    identity=event.identity,
                    evse=where[1],
                    topic="low_power",
                    at=self.clock(),
                    clears=True,
                    summary=f"Charger {event.identity} delivers {power / 1000:.1f} kW again, "
                    f"as expected ({expected / 1000:.1f} kW).",
                    evidence={"powerW": power, "expectedW": expected},
                )
            ]
        self.good.pop(place, None)
        if power >= self.s.low_power_share * expected:
            self.low.pop(place, None)
            return []
        low = self.low.setdefault(place, _Low(since=at))
        low.samples = [*low.samples, {"at": at.isoformat(), "powerW": power, "soc": soc, "volts": volts}][-10:]
        seconds = (at - low.since).total_seconds()
        if seconds < self.s.low_power_s or len(low.samples) < 3 or where in self.raised:
            return []
        self.raised.add(where)
        sagging = {p: v for p, v in volts.items() if v < SAGGING_V}
        evidence = {
            "powerW": power,
            "expectedW": expected,
            "ratedW": self.rated_w.get(place),
            "offeredW": offered,
            "carBestW": best,
            "soc": soc,
            "forS": round(seconds, 1),
            "samples": low.samples,
            "saggingPhases": sagging,
            "thresholds": {
                "share": self.s.low_power_share,
                "forS": self.s.low_power_s,
                "socMax": self.s.low_power_soc_max,
            },
        }
        why = f"; the supply sags ({', '.join(f'{p} {v:.0f} V' for p, v in sagging.items())})" if sagging else ""
        return [
            Signal(
                kind="power_supply",
                identity=event.identity,
                evse=where[1],
                topic="low_power",
                at=self.clock(),
                severity="warning",
                # A sagging supply explains it; otherwise the charger's power stage, its
                # derating or its cable are as likely as each other: no rule names one.
                cause="grid_supply" if sagging else "unknown",
                confidence=0.6 if sagging else 0.35,
                summary=f"Charger {event.identity} delivers {power / 1000:.1f} kW for {seconds / 60:.0f} min where "
                f"{expected / 1000:.1f} kW is expected (this car drew {best / 1000:.1f} kW before){why}.",
                evidence=evidence,
            )
        ]
