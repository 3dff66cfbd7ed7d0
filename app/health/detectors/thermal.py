"""Overheating, three ways: a temperature over the limit; a fast rise while little power
flows; and a steady climb under an unchanged load that will not level off (the trend),
noticed before the limit so the playbook can derate first. 1.6 reports temperatures as a
Temperature measurand; 2.0.1 as a TemperatureSensor monitor event, whose load is the
EVSE's last sampled power.

The trend is physics, not a threshold: under a constant load a housing heats like a
first-order system and levels off at a plateau; a climb whose rate does not fall as it
warms is heat the load does not explain (a failing fan, a high-resistance contact). A load
step starts a new transient, so only readings under the latest load count, and only once
that load has held for ``settle_s``. See ``trend_of``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime

from app.chargers.events import ChargerEventRecorded
from app.core.bus import Event
from app.core.settings import HealthSettings
from app.health.detectors.base import Clock, Where, evse_of
from app.health.signals import Signal
from app.sessions.events import MeterSampled, TransactionEnded, TransactionStarted

# ------------------------------------------------------------------------------ the trend


@dataclass(frozen=True)
class TrendSettings:
    """When a climb under an unchanged load is a fault (see ``assess``)."""

    # Readings kept per EVSE, and how far back they reach.
    window_s: float = 1800.0
    max_readings: int = 12
    # At least this many readings under one load, spanning at least this long, the load
    # held at least ``settle_s`` (the transient after a load step is the load's heat),
    # unless the climb accelerates (a transient never does).
    min_readings: int = 3
    min_span_s: float = 120.0
    settle_s: float = 300.0
    # The climb: at least this fast and this much in all, never falling back more than
    # ``max_dip_c`` between readings (a noisy plateau is no climb).
    min_rate_c_per_min: float = 0.3
    min_rise_c: float = 3.0
    max_dip_c: float = 0.5
    # Below this a housing is in its working range whatever it does (a session's warm-up,
    # the afternoon sun); above it, a climb that will not settle is acted on.
    floor_c: float = 45.0
    # With no load (under ``idle_w``) the sun and the weather can warm a housing steadily for
    # a while; only a climb past this is beyond them.
    idle_floor_c: float = 55.0
    idle_w: float = 500.0
    # Only climbs that reach the limit within this long count.
    horizon_min: float = 60.0
    # The load is unchanged while within this share (or this many watts) of where it began.
    load_share: float = 0.1
    load_w: float = 300.0
    # The climb has stopped (clears) when none of the last readings rose more than this.
    settled_c: float = 0.2


@dataclass(frozen=True)
class Reading:
    at: datetime
    celsius: float
    power_w: float | None


@dataclass(frozen=True)
class Trend:
    """A climb under one load: its slope, where it would settle and when it hits the limit."""

    readings: int
    minutes: float
    rise_c: float
    rate_c_per_min: float
    # Where the climb levels off (the temperature at which its rate reaches 0), projected
    # from how the rate changes with temperature; None: it does not level off.
    plateau_c: float | None
    minutes_to_limit: float | None
    power_w: float | None

    def evidence(self, limit_c: float) -> dict[str, object]:
        return {
            "slopeCPerMin": round(self.rate_c_per_min, 3),
            "riseC": round(self.rise_c, 2),
            "minutes": round(self.minutes, 2),
            "readings": self.readings,
            "powerW": self.power_w,
            "projectedPlateauC": None if self.plateau_c is None else round(self.plateau_c, 1),
            "minutesToLimit": None if self.minutes_to_limit is None else round(self.minutes_to_limit, 1),
            "limitC": limit_c,
        }


def same_load(a: float | None, b: float | None, t: TrendSettings) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= max(t.load_w, t.load_share * max(abs(a), abs(b)))


def under_one_load(readings: list[Reading], t: TrendSettings) -> list[Reading]:
    """The latest readings taken under the load of the latest one: a load step (a car
    arriving, ramping up, a derate) starts a new thermal transient, which the load explains."""
    out: list[Reading] = []
    for reading in reversed(readings):
        if not same_load(reading.power_w, readings[-1].power_w, t):
            break
        out.append(reading)
    return out[::-1]


def _slope(xs: list[float], ys: list[float]) -> float:
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 0.0 if var == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var


def trend_of(readings: list[Reading], limit_c: float) -> Trend | None:
    """The least-squares slope of temperature over time, and the plateau.

    Under a constant load a housing heats like a first-order system,
    dT/dt = (T_plateau - T) / tau: its rate of rise falls linearly as it warms and reaches
    0 at the plateau. So the rates between readings, against the temperature they were
    measured at, project the plateau; a rate that does not fall (a failing fan, a
    high-resistance contact heating itself) has none, and the climb runs to the limit.
    """
    if len(readings) < 2:
        return None
    t0 = readings[0].at
    minutes = [(r.at - t0).total_seconds() / 60.0 for r in readings]
    temps = [r.celsius for r in readings]
    if minutes[-1] <= 0:
        return None
    rate = _slope(minutes, temps)
    rates, mids = [], []
    for i in range(1, len(readings)):
        dt = minutes[i] - minutes[i - 1]
        if dt > 0:
            rates.append((temps[i] - temps[i - 1]) / dt)
            mids.append((temps[i] + temps[i - 1]) / 2)
    plateau: float | None = None
    if len(rates) >= 2:
        fall = _slope(mids, rates)  # d(rate)/dT: negative while it levels off
        if fall < 0:
            mean_rate, mean_mid = sum(rates) / len(rates), sum(mids) / len(mids)
            plateau = mean_mid - mean_rate / fall
    to_limit = (limit_c - temps[-1]) / rate if rate > 0 and temps[-1] < limit_c else None
    if plateau is not None and plateau < limit_c:
        to_limit = None  # it settles first
    return Trend(
        readings=len(readings),
        minutes=minutes[-1],
        rise_c=temps[-1] - temps[0],
        rate_c_per_min=rate,
        plateau_c=plateau,
        minutes_to_limit=to_limit,
        power_w=readings[-1].power_w,
    )


def runaway(readings: list[Reading], limit_c: float, t: TrendSettings) -> Trend | None:
    """The climb under the latest load, if it is one the load does not explain: steady (no
    dips), fast enough, above the working range, not levelling off below the limit, and
    reaching the limit within the horizon. None otherwise."""
    window = under_one_load(readings, t)
    span_s = (window[-1].at - window[0].at).total_seconds() if window else 0.0
    if len(window) < t.min_readings or span_s < t.min_span_s:
        return None
    if any(b.celsius < a.celsius - t.max_dip_c for a, b in itertools.pairwise(window)):
        return None
    trend = trend_of(window, limit_c)
    if trend is None or trend.rate_c_per_min < t.min_rate_c_per_min or trend.rise_c < t.min_rise_c:
        return None
    idle = window[-1].power_w is not None and window[-1].power_w < t.idle_w
    if window[-1].celsius < (t.idle_floor_c if idle else t.floor_c) or window[-1].celsius >= limit_c:
        return None
    if trend.minutes_to_limit is None or trend.minutes_to_limit > t.horizon_min:
        return None
    if span_s < t.settle_s and not accelerating(window):
        return None
    return trend


def accelerating(readings: list[Reading]) -> bool:
    """The last interval's rate at least 1.2 times the first's, both rising."""

    def rate(a: Reading, b: Reading) -> float:
        dt = (b.at - a.at).total_seconds() / 60.0
        return (b.celsius - a.celsius) / dt if dt > 0 else 0.0

    first, last = rate(readings[0], readings[1]), rate(readings[-2], readings[-1])
    return first > 0 and last >= 1.2 * first


def settled(readings: list[Reading], t: TrendSettings) -> bool:
    """The last two intervals rose no more than ``settled_c`` each: plateau or cooling."""
    if len(readings) < 3:
        return False
    last = readings[-3:]
    return all(b.celsius - a.celsius <= t.settled_c for a, b in itertools.pairwise(last))


# ------------------------------------------------------------------------------ the detector


@dataclass
class _Evse:
    """One EVSE's thermal state: its recent readings and the power it last drew."""

    readings: list[Reading] = field(default_factory=list)
    power_w: float | None = None
    # The limit was crossed while the trend's incident was open: the limit is that incident.
    limit_in_trend: bool = False


class ThermalDetector:
    def __init__(self, settings: HealthSettings, clock: Clock, trend: TrendSettings | None = None) -> None:
        self.s = settings
        self.t = trend or TrendSettings()
        self.clock = clock
        self.evses: dict[tuple[str, int | None], _Evse] = {}
        # identity -> EVSE -> the power it last sampled (a charger-wide reading's load).
        self.loads: dict[str, dict[int, float | None]] = {}
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
            if power is not None:  # 2.0.1's temperature events are judged under it
                self._power(event.identity, evse_of(event.evse), power)
            if temperature is None or at is None:
                return []
            evse = evse_of(event.evse)
            load = power if power is not None else self._load(event.identity, evse)
            return self._reading(event.identity, evse, temperature, load, at, sampled=power is not None)
        if isinstance(event, TransactionStarted | TransactionEnded):
            # A load step: until a meter value says what flows, the old power is wrong.
            self._power(event.identity, evse_of(event.evse), None)
            return []
        if isinstance(event, ChargerEventRecorded) and event.kind == "notify_event":
            data = event.data
            if (data.get("variable") or {}).get("name") != "Temperature":
                return []
            try:
                celsius = float(data.get("actualValue", ""))
            except ValueError:
                return []
            evse = evse_of(event.evse)
            load = self._load(event.identity, evse)
            return self._reading(event.identity, evse, celsius, load, event.at, sampled=False)
        return []

    def _state(self, identity: str, evse: int | None) -> _Evse:
        return self.evses.setdefault((identity, evse), _Evse())

    def _load(self, identity: str, evse: int | None) -> float | None:
        """The power last sampled on the EVSE; for the charger itself (a body temperature on
        connector 0 / no EVSE) the sum over its EVSEs, all of whose heat it holds."""
        if evse is not None:
            return self._state(identity, evse).power_w
        powers = [p for p in self.loads.get(identity, {}).values() if p is not None]
        return sum(powers) if powers else None

    def _power(self, identity: str, evse: int | None, power_w: float | None) -> None:
        self._state(identity, evse).power_w = power_w
        if evse is not None:
            self.loads.setdefault(identity, {})[evse] = power_w

    def _reading(
        self, identity: str, evse: int | None, celsius: float, power: float | None, at: datetime, *, sampled: bool
    ) -> list[Signal]:
        state = self._state(identity, evse)
        readings = state.readings
        previous = readings[-1] if readings else None
        if previous is not None and at <= previous.at:
            return []  # a replayed or out-of-order reading says nothing new
        readings.append(Reading(at, celsius, power))
        cutoff = at.timestamp() - self.t.window_s
        while len(readings) > self.t.max_readings or readings[0].at.timestamp() < cutoff:
            readings.pop(0)
        over = (identity, evse, "limit")
        rise = (identity, evse, "rise")
        trend = (identity, evse, "trend")
        limit = self.s.temperature_limit_c
        out: list[Signal] = []
        if celsius >= limit and over not in self.raised and not state.limit_in_trend:
            evidence = {"celsius": celsius, "limitC": limit, "at": at.isoformat(), "powerW": power}
            summary = f"Charger {identity} is at {celsius:.1f} °C, over the {limit:g} °C limit."
            if trend in self.raised:
                # The climb already told reached the limit: the same incident, now critical.
                state.limit_in_trend = True
                out.append(self._signal(trend, "critical", summary, evidence))
            else:
                self.raised.add(over)
                out.append(self._signal(over, "critical", summary, evidence))
        elif celsius <= self.s.temperature_clear_c:
            if over in self.raised:
                self.raised.discard(over)
                out.append(self._clear(over, celsius))
            if state.limit_in_trend:
                state.limit_in_trend = False
                if trend in self.raised:
                    self.raised.discard(trend)
                    out.append(self._clear(trend, celsius))
        out += self._trend(identity, evse, state, trend, over)
        # The fast rise at low load reads the power sampled with the temperature (1.6).
        if previous is not None and power is not None and sampled:
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

    def _trend(self, identity: str, evse: int | None, state: _Evse, trend: Where, over: Where) -> list[Signal]:
        limit = self.s.temperature_limit_c
        if trend in self.raised:
            if not state.limit_in_trend and settled(state.readings, self.t):
                self.raised.discard(trend)
                return [self._clear(trend, state.readings[-1].celsius)]
            return []
        if over in self.raised:
            return []  # over the limit already: that incident acts
        found = runaway(state.readings, limit, self.t)
        if found is None:
            return []
        self.raised.add(trend)
        load = "an unknown load" if found.power_w is None else f"an unchanged {found.power_w / 1000:.1f} kW"
        celsius = state.readings[-1].celsius
        return [
            self._signal(
                trend,
                "warning",
                f"Charger {identity} climbs {found.rate_c_per_min:.1f} °C/min under {load} and does not level "
                f"off: {celsius:.1f} °C now, the {limit:g} °C limit in about {found.minutes_to_limit:.0f} min.",
                {"celsius": celsius, **found.evidence(limit)},
            )
        ]

    def _signal(self, where: Where, severity: str, summary: str, evidence: dict[str, object]) -> Signal:
        return Signal(
            kind="overheating",
            identity=where[0],
            evse=where[1],
            topic=where[2],
            at=self.clock(),
            severity="critical" if severity == "critical" else "warning",
            cause="overheating",
            confidence={"limit": 0.9, "trend": 0.8}.get(where[2], 0.6),
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
