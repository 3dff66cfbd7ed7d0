"""Anomalies: a charger behaving unlike its own history where no rule names the trouble.

The rules catch the named faults (over 70 °C, voltage out of EN 50160's band, a stuck
register). This catches the in-between: a charger whose voltage has always been 230 ± 1 V
now sitting at 212 V (in band), or running 12 °C hotter than it ever did at that load.

The model is small, explainable and pure Python (no numpy on the hot path, nothing
fetched): per EVSE and per operating state it keeps each feature's mean and variance
(Welford's running ones at first, exponentially weighted once the half-life is reached),
and scores a reading by its largest |z|: how many of the charger's own standard
deviations a feature is from its usual value. The features, from what chargers (and the
simulator) report:

- ``voltage:<phase>``: each phase's voltage (V);
- ``voltage_spread``: the highest minus the lowest phase-to-neutral voltage (V);
- ``frequency``: supply frequency (Hz);
- ``temperature``: the body temperature minus what the charger's thermal model expects
  at this time of day and its recent load (°C; see ``Thermal``);
- ``current_imbalance``, charging: the spread of the phases carrying current, in % of
  their mean;
- ``session_energy``, ``session_duration``, ``session_power``: per finished session (log
  scale: cars and drivers differ by factors, not by kWh).

States: ``charging`` (a transaction drawing power) and ``idle`` have baselines of their own
(voltage sags under load, a charger runs warmer), and ``session`` holds the per-session
outcomes. Raw power, current, SoC and the share of the offered power a car takes are the
car's business (a 1-phase car, a full battery), not the charger's: left out.

A feature is scored once it has ``anomaly_warmup_samples`` readings (sessions:
``anomaly_warmup_sessions``) in that state. ``anomaly_samples`` readings in a row over
``anomaly_threshold`` raise an anomaly; as many in a row under ``anomaly_clear_threshold``
clear it. A value that scores over the threshold (while raised: over the clear threshold)
is not learned, so a fault never becomes the charger's normal. Each feature has a floor
under its standard deviation, so a perfectly flat history (a simulator's 230.0 V) does not
make a tiny wiggle infinitely unusual; with the defaults the least shift flagged is 12 V
or 9 °C. Values a rule names (a voltage out of band, a temperature over the limit) are
the rule's incident: neither scored nor learned here.

The state is plain data (msgspec structs): the monitor saves it to ``health_baselines``
and loads it on start, so a restart resumes instead of re-learning.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from app.core.bus import Event
from app.core.settings import HealthSettings
from app.health.detectors.base import Clock, Where, evse_of
from app.health.signals import Signal
from app.sessions.events import MeterSampled, TransactionEnded, TransactionStarted
from app.sessions.types import Sample

MODEL_NAME = "ewma-z"
# Bump when the features or the state's shape change: older saved baselines are dropped
# (re-learnt) instead of being misread.
MODEL_VERSION = 1

# A transaction drawing less than this is suspended: electrically idle.
CHARGING_MIN_W = 100.0
# A phase carries current from this on (a 1-phase car leaves the others at 0 A).
CONDUCTING_A = 1.0
# The thermal model: a charger's parts heat with different time constants (contacts and
# cable in minutes, the enclosure in an hour), so the load is the power smoothed over each
# of these (about 63 % of the way in that long) and the model learns how much each
# heats. A reading this long after the previous one re-anchors the rest temperature (the
# weather may have changed meanwhile) instead of being scored.
THERMAL_TAUS_S = (300.0, 900.0, 2700.0)
THERMAL_GAP_S = 1800.0
# Under this load (smoothed over 900 s) the charger is at rest: its temperature teaches
# the rest temperature (the weather's); from it on, the heating. The ridge keeps the
# heating near 0 until the load has varied (kW²).
THERMAL_MIN_LOAD_KW = 0.1
THERMAL_RIDGE_KW2 = 0.25
# An hour of the day counts in the rest temperature's daily profile after this many readings.
PROFILE_MIN_READINGS = 30
# Once warmed up, a reading teaches at most this many standard deviations from the mean
# (winsorised), and one between the clear threshold and the threshold teaches a tenth as
# much: a fault creeping in under the threshold (a body heating up over half an hour)
# must not widen the variance until it looks normal, while a lasting new normal (a new
# transformer tap) is still learned, slowly.
LEARN_MAX_Z = 3.0
UNSURE_WEIGHT = 0.1
# The evidence lists the features over the clear threshold, at most this many.
EVIDENCE_FEATURES = 6


@dataclass(frozen=True)
class Feature:
    label: str
    unit: str
    # The least standard deviation the feature is judged with.
    floor: float
    log: bool = False  # modelled as ln(1 + x)


FEATURES: dict[str, Feature] = {
    "voltage": Feature("voltage", "V", 2.0),
    "voltage_spread": Feature("voltage spread between phases", "V", 2.0),
    "frequency": Feature("frequency", "Hz", 0.05),
    "temperature": Feature("temperature above its usual for the load", "°C", 1.5),
    "current_imbalance": Feature("current imbalance between phases", "%", 5.0),
    "session_energy": Feature("energy per session", "kWh", 0.35, log=True),
    "session_duration": Feature("session duration", "min", 0.35, log=True),
    "session_power": Feature("mean power per session", "kW", 0.25, log=True),
}


_SPECS: dict[str, Feature] = dict(FEATURES)  # and each phase's name, once seen


def feature(name: str) -> Feature:
    """``voltage:L1-N`` is a ``voltage``."""
    spec = _SPECS.get(name)
    if spec is None:
        spec = _SPECS[name] = FEATURES[name.split(":", 1)[0]]
    return spec


def label(name: str) -> str:
    base, _, phase = name.partition(":")
    return f"{FEATURES[base].label} {phase}" if phase else FEATURES[base].label


# -- the model's state (persisted) ------------------------------------------------------


class Stats(msgspec.Struct, kw_only=True):
    """One feature's exponentially weighted mean and variance."""

    n: int = 0
    mean: float = 0.0
    var: float = 0.0

    def std(self, floor: float) -> float:
        return max(math.sqrt(self.var), floor)

    def learn(self, x: float, alpha: float, bound: float | None = None, weight: float = 1.0) -> None:
        """Until 1/n falls under alpha this is the plain running mean and (population)
        variance; after, the oldest readings fade with the half-life. ``bound`` clips how
        far one reading pulls, ``weight`` scales how much it teaches."""
        self.n += 1
        a = max(alpha, 1.0 / self.n) * weight
        d = x - self.mean
        if bound is not None:
            d = max(-bound, min(bound, d))
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)


def _hours(at: datetime) -> float:
    """The UTC hour of day, with its fraction (whatever zone ``at`` is in)."""
    return at.timestamp() % 86_400.0 / 3600.0


class Thermal(msgspec.Struct, kw_only=True):
    """Temperature ≈ rest + Σ heating_k × load_k, where load_k is the power smoothed over
    the k-th time constant (a charger heats up over minutes and hours, not at once).

    ``rest`` is the no-load temperature, the weather's, learned only at rest (under load
    it holds: a fault heating up over minutes must not be followed). Outdoors it swings
    with the day, so it is the hour's usual rest temperature (``hourly_c``, UTC hours,
    once an hour has been seen at rest) plus how far the last rest readings were from
    theirs (``offset_c``, the shorter half-life); before that, the last rest temperature
    (``level_c``). The heating (°C per kW for each time constant) is the charger's own,
    a ridge regression over weighted means learned with the long half-life from loaded
    readings only, so days without a session do not fade it. A reading after a gap (a
    charger reporting only during sessions) re-anchors the rest.
    """

    level_c: float | None = None
    offset_c: float = 0.0
    hourly_c: list[float] = msgspec.field(default_factory=lambda: [0.0] * 24)
    hourly_n: list[int] = msgspec.field(default_factory=lambda: [0] * 24)
    loaded: int = 0  # loaded readings the heating learned from
    # °C per kW of each smoothed load: solved from the two below after each loaded reading.
    heating: list[float] = msgspec.field(default_factory=lambda: [0.0] * 3)
    # Weighted means of load_i × load_j (kW², the upper triangle row by row) and of
    # load_i × (reading − rest).
    lxl: list[float] = msgspec.field(default_factory=lambda: [0.0] * 6)
    lxr: list[float] = msgspec.field(default_factory=lambda: [0.0] * 3)
    loads_kw: list[float] | None = None
    load_at: datetime | None = None
    read_at: datetime | None = None  # the last temperature reading

    @property
    def load_kw(self) -> float:
        """The load over the middle time constant: the one evidence shows."""
        return self.loads_kw[1] if self.loads_kw else 0.0

    def heat(self) -> float:
        """The heat the recent load explains (°C)."""
        if not self.loads_kw:
            return 0.0
        return sum(h * load for h, load in zip(self.heating, self.loads_kw, strict=True))

    def follow(self, at: datetime, power_kw: float) -> None:
        """The power reported at ``at`` flowed since the previous update."""
        if self.loads_kw is None or self.load_at is None:
            self.loads_kw, self.load_at = [power_kw] * 3, at  # first seen: take it as steady
            return
        seconds = (at - self.load_at).total_seconds()
        if seconds <= 0:
            return  # a replayed older reading
        self.loads_kw = [
            load + (1.0 - math.exp(-seconds / tau)) * (power_kw - load)
            for load, tau in zip(self.loads_kw, THERMAL_TAUS_S, strict=True)
        ]
        self.load_at = at

    def usual(self, at: datetime) -> float | None:
        """The usual rest temperature at this time of day (between the two nearest hours'),
        None until those hours were seen at rest."""
        position = _hours(at) - 0.5  # each hour's mean sits at its middle
        i = math.floor(position)
        f = position - i
        a, b = i % 24, (i + 1) % 24
        ready_a, ready_b = self.hourly_n[a] >= PROFILE_MIN_READINGS, self.hourly_n[b] >= PROFILE_MIN_READINGS
        if ready_a and ready_b:
            return self.hourly_c[a] * (1.0 - f) + self.hourly_c[b] * f
        if ready_a or ready_b:
            return self.hourly_c[a] if ready_a else self.hourly_c[b]
        return None

    def rest(self, at: datetime) -> float | None:
        usual = self.usual(at)
        return usual + self.offset_c if usual is not None else self.level_c

    def expected(self, at: datetime) -> float | None:
        """The temperature the model expects now, or None when it must anchor first."""
        if self.loads_kw is None or self.read_at is None:
            return None
        if (at - self.read_at).total_seconds() > THERMAL_GAP_S:
            return None
        rest = self.rest(at)
        return None if rest is None else rest + self.heat()

    def anchor(self, at: datetime, celsius: float) -> None:
        rest = celsius - self.heat()
        self.level_c = rest
        usual = self.usual(at)
        if usual is not None:
            self.offset_c = rest - usual

    def learn(self, at: datetime, celsius: float, rest_alpha: float, heating_alpha: float) -> None:
        if self.load_kw < THERMAL_MIN_LOAD_KW:
            rest = celsius - self.heat()
            self.level_c = rest if self.level_c is None else self.level_c + rest_alpha * (rest - self.level_c)
            usual = self.usual(at)
            if usual is not None:
                self.offset_c += rest_alpha * (rest - usual - self.offset_c)
            hour = int(_hours(at))
            self.hourly_n[hour] += 1
            a = max(heating_alpha, 1.0 / self.hourly_n[hour])
            self.hourly_c[hour] += a * (rest - self.hourly_c[hour])
            return
        before, loads = self.rest(at), self.loads_kw
        if before is None or loads is None:
            return
        self.loaded += 1
        a = max(heating_alpha, 1.0 / self.loaded)
        pairs = [loads[0] * loads[0], loads[0] * loads[1], loads[0] * loads[2]]
        pairs += [loads[1] * loads[1], loads[1] * loads[2], loads[2] * loads[2]]
        self.lxl = [m + a * (p - m) for m, p in zip(self.lxl, pairs, strict=True)]
        self.lxr = [v + a * (load * (celsius - before) - v) for v, load in zip(self.lxr, loads, strict=True)]
        self.heating = _ridge3(self.lxl, self.lxr, THERMAL_RIDGE_KW2)


def _ridge3(lxl: list[float], lxr: list[float], ridge: float) -> list[float]:
    """Solve (M + ridge·I) x = v for the symmetric 3×3 M given as its upper triangle."""
    m = [
        [lxl[0] + ridge, lxl[1], lxl[2], lxr[0]],
        [lxl[1], lxl[3] + ridge, lxl[4], lxr[1]],
        [lxl[2], lxl[4], lxl[5] + ridge, lxr[2]],
    ]
    for col in range(3):  # symmetric positive definite: no pivoting needed
        for row in range(col + 1, 3):
            f = m[row][col] / m[col][col]
            for k in range(col, 4):
                m[row][k] -= f * m[col][k]
    x = [0.0, 0.0, 0.0]
    for row in (2, 1, 0):
        x[row] = (m[row][3] - sum(m[row][k] * x[k] for k in range(row + 1, 3))) / m[row][row]
    return x


class Baseline(msgspec.Struct, kw_only=True):
    """One EVSE's learned normal: per state (charging, idle, session), each feature's
    statistics; and its thermal model. Plain data: ``msgspec.to_builtins`` is its JSON."""

    version: int = MODEL_VERSION
    samples: int = 0  # meter readings learned from (and sessions)
    states: dict[str, dict[str, Stats]] = msgspec.field(default_factory=dict)
    thermal: Thermal = msgspec.field(default_factory=Thermal)


def to_json(baseline: Baseline) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(baseline)
    return data


def from_json(data: dict[str, Any]) -> Baseline | None:
    """None when it is not this model's (another version, or damaged): learn afresh."""
    if not isinstance(data, dict) or data.get("version") != MODEL_VERSION:
        return None
    try:
        return msgspec.convert(data, Baseline)
    except msgspec.ValidationError:
        return None


# -- the detector ----------------------------------------------------------------------------


@dataclass
class _Watch:
    """One stream's (meter or session) run of readings towards raising or clearing."""

    pending: list[dict[str, Any]] = field(default_factory=list)  # over the threshold, in a row
    quiet: int = 0  # under the clear threshold, in a row, while raised


@dataclass
class _Evse:
    baseline: Baseline
    in_transaction: bool = False
    watches: dict[str, _Watch] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Score:
    name: str
    value: float
    mean: float
    std: float
    z: float

    def evidence(self) -> dict[str, Any]:
        spec = feature(self.name)
        out: dict[str, Any] = {
            "feature": self.name,
            "label": label(self.name),
            "unit": f"ln(1 + {spec.unit})" if spec.log else spec.unit,
            "value": round(self.value, 4),
            "mean": round(self.mean, 4),
            "std": round(self.std, 4),
            "z": round(self.z, 2),
        }
        if spec.log:  # the same in the feature's own unit, for people
            out["actual"] = round(math.expm1(self.value), 2)
            out["usual"] = round(math.expm1(self.mean), 2)
        return out


def _alpha(halflife: float) -> float:
    return 1.0 - 0.5 ** (1.0 / max(1.0, halflife))


class AnomalyDetector:
    """Pure and in memory, O(features) per meter value. Each EVSE's ``Baseline`` is what
    the monitor persists: ``take_dirty`` hands it those changed since it last asked, and
    ``restore`` takes them back on start."""

    def __init__(self, settings: HealthSettings, clock: Clock) -> None:
        self.s = settings
        self.clock = clock
        self.evses: dict[tuple[str, int | None], _Evse] = {}
        self.dirty: set[tuple[str, int | None]] = set()
        self.raised: set[Where] = set()
        self._alpha = _alpha(settings.anomaly_halflife_samples)
        self._thermal_alpha = _alpha(settings.anomaly_thermal_halflife_samples)
        self._session_alpha = _alpha(settings.anomaly_halflife_sessions)

    # -- persistence ------------------------------------------------------------------------

    def baseline(self, identity: str, evse: int | None) -> Baseline | None:
        found = self.evses.get((identity, evse))
        return found.baseline if found else None

    def take_dirty(self) -> list[tuple[str, int | None, dict[str, Any]]]:
        """The changed baselines as JSON, and forget they changed (``mark_dirty`` them
        again when saving fails)."""
        out = [(i, e, to_json(self.evses[(i, e)].baseline)) for i, e in sorted(self.dirty, key=_order)]
        self.dirty.clear()
        return out

    def mark_dirty(self, keys: Iterable[tuple[str, int | None]]) -> None:
        self.dirty.update(k for k in keys if k in self.evses)

    def restore(self, identity: str, evse: int | None, data: dict[str, Any]) -> bool:
        """Take a saved baseline, unless it is unreadable or what was learned since start
        is already more."""
        baseline = from_json(data)
        if baseline is None:
            return False
        current = self.evses.get((identity, evse))
        if current is None:
            self.evses[(identity, evse)] = _Evse(baseline)
            return True
        if current.baseline.samples >= baseline.samples:
            return False
        current.baseline = baseline
        return True

    # -- events -------------------------------------------------------------------------------

    def tick(self, now: datetime) -> list[Signal]:
        return []

    def feed(self, event: Event) -> list[Signal]:
        if isinstance(event, MeterSampled):
            key = (event.identity, evse_of(event.evse))
            ev = self._evse(key)
            in_tx = event.transaction_id is not None or event.transaction_number is not None or ev.in_transaction
            out: list[Signal] = []
            for at, samples in _by_time(event.samples):
                out += self._reading(key, ev, at, samples, in_tx)
            return out
        if isinstance(event, TransactionStarted):
            ev = self._evse((event.identity, evse_of(event.evse)))
            ev.in_transaction = True
            # No load until the start: the first reading's power counts from here, not
            # over the whole idle time since the last reading.
            ev.baseline.thermal.follow(event.started_at, 0.0)
            return []
        if isinstance(event, TransactionEnded):
            key = (event.identity, evse_of(event.evse))
            ev = self._evse(key)
            ev.in_transaction = False
            return self._session(key, ev, event)
        return []

    def _evse(self, key: tuple[str, int | None]) -> _Evse:
        ev = self.evses.get(key)
        if ev is None:
            ev = self.evses[key] = _Evse(Baseline())
        return ev

    # -- meter values -----------------------------------------------------------------------

    def _reading(
        self, key: tuple[str, int | None], ev: _Evse, at: datetime, samples: list[Sample], in_tx: bool
    ) -> list[Signal]:
        r = _Reading.of(samples)
        charging = in_tx and (
            r.power_w >= CHARGING_MIN_W if r.power_w is not None else not r.amps or max(r.amps.values()) >= CONDUCTING_A
        )
        state = "charging" if charging else "idle"
        # Values a rule names (out of band, over the limit) are that rule's incident: they
        # are neither scored nor learned, and the reading neither raises nor clears.
        s = self.s
        named = False
        features: dict[str, float] = {}
        for phase, volts in r.volts.items():
            if s.voltage_min_v <= volts <= s.voltage_max_v:
                features[f"voltage:{phase}"] = volts
            else:
                named = True
        neutral = [v for p, v in r.volts.items() if p.endswith("-N")]
        if len(neutral) >= 2 and all(s.voltage_min_v <= v <= s.voltage_max_v for v in neutral):
            features["voltage_spread"] = max(neutral) - min(neutral)
        if r.hz is not None:
            if s.frequency_min_hz <= r.hz <= s.frequency_max_hz:
                features["frequency"] = r.hz
            else:
                named = True
        if charging:
            conducting = [a for p, a in r.amps.items() if p != "N" and a >= CONDUCTING_A]
            if len(conducting) >= 2:
                mean_a = sum(conducting) / len(conducting)
                features["current_imbalance"] = 100.0 * (max(conducting) - min(conducting)) / mean_a

        # The thermal model: the load is known when power is reported, or is none while idle.
        thermal = ev.baseline.thermal
        power_kw = r.power_w / 1000.0 if r.power_w is not None else (None if in_tx else 0.0)
        if power_kw is not None:
            thermal.follow(at, max(0.0, power_kw))
        expected = None
        celsius = r.celsius if power_kw is not None else None
        if celsius is not None and celsius >= s.temperature_limit_c:
            named, celsius = True, None
        if celsius is not None:
            expected = thermal.expected(at)
            if expected is None:
                thermal.anchor(at, celsius)
            elif thermal.loaded >= s.anomaly_warmup_samples:
                # Only once the heating is learnt: the residuals of a model still learning
                # would teach a variance that hides a real fault for weeks.
                features["temperature"] = celsius - expected
            thermal.read_at = at if thermal.read_at is None else max(at, thermal.read_at)

        self.dirty.add(key)
        if not features:
            return []
        stats = ev.baseline.states.setdefault(state, {})
        scores = self._scores(stats, features, s.anomaly_warmup_samples)
        where = (key[0], key[1], "meter")
        raised = where in self.raised

        def reading() -> dict[str, Any]:
            out: dict[str, Any] = {"at": at.isoformat(), "state": state, **r.evidence()}
            if expected is not None:
                out["expectedC"] = round(expected, 2)
                out["loadKw"] = round(thermal.load_kw, 3)
            return out

        out = [] if named else self._judge(where, ev, state, scores, reading, s.anomaly_warmup_samples)
        if named:
            ev.watches.setdefault("meter", _Watch()).pending.clear()

        unusual = self._learn(
            stats, features, scores, raised or where in self.raised, self._alpha, s.anomaly_warmup_samples
        )
        if celsius is not None and expected is not None and "temperature" not in unusual:
            thermal.learn(at, celsius, self._thermal_alpha, self._alpha)
        ev.baseline.samples += 1
        return out

    # -- sessions ---------------------------------------------------------------------------

    def _session(self, key: tuple[str, int | None], ev: _Evse, event: TransactionEnded) -> list[Signal]:
        seconds = (event.stopped_at - event.started_at).total_seconds()
        # Sessions the failed-starts rule judges (too short, too little) are its business.
        if seconds < max(1.0, self.s.short_session_s) or event.energy_wh < self.s.short_session_wh:
            return []
        kwh = event.energy_wh / 1000.0
        features = {
            "session_energy": math.log1p(kwh),
            "session_duration": math.log1p(seconds / 60.0),
            "session_power": math.log1p(kwh / (seconds / 3600.0)),
        }
        stats = ev.baseline.states.setdefault("session", {})
        scores = self._scores(stats, features, self.s.anomaly_warmup_sessions)
        where = (key[0], key[1], "session")
        raised = where in self.raised

        def reading() -> dict[str, Any]:
            return {
                "at": event.stopped_at.isoformat(),
                "state": "session",
                "transaction": event.number,
                "energyWh": round(event.energy_wh, 1),
                "durationS": round(seconds),
                "meanPowerKw": round(kwh / (seconds / 3600.0), 2),
                "stopReason": event.stop_reason,
            }

        out = self._judge(where, ev, "session", scores, reading, self.s.anomaly_warmup_sessions)
        warmup = self.s.anomaly_warmup_sessions
        self._learn(stats, features, scores, raised or where in self.raised, self._session_alpha, warmup)
        ev.baseline.samples += 1
        self.dirty.add(key)
        return out

    # -- learning, scoring and judging ------------------------------------------------------

    def _learn(
        self,
        stats: dict[str, Stats],
        features: dict[str, float],
        scores: list[_Score],
        raised: bool,
        alpha: float,
        warmup: int,
    ) -> set[str]:
        """Learn what is normal, never what made (or keeps) it anomalous: a value over the
        threshold (while raised: over the clear threshold) is left out. The features left
        out."""
        limit = self.s.anomaly_clear_threshold if raised else self.s.anomaly_threshold
        unusual = {score.name for score in scores if abs(score.z) > limit}
        unsure = {score.name for score in scores if abs(score.z) > self.s.anomaly_clear_threshold}
        for name, value in features.items():
            if name in unusual:
                continue
            learned = stats.setdefault(name, Stats())
            bound = LEARN_MAX_Z * learned.std(feature(name).floor) if learned.n >= warmup else None
            learned.learn(value, alpha, bound, UNSURE_WEIGHT if name in unsure else 1.0)
        return unusual

    @staticmethod
    def _scores(stats: dict[str, Stats], features: dict[str, float], warmup: int) -> list[_Score]:
        """The warmed-up features' z-scores, the largest |z| first."""
        out = []
        for name, value in features.items():
            learned = stats.get(name)
            if learned is None or learned.n < max(1, warmup):
                continue
            std = learned.std(feature(name).floor)
            out.append(_Score(name, value, learned.mean, std, (value - learned.mean) / std))
        out.sort(key=lambda s: (-abs(s.z), s.name))
        return out

    def _judge(
        self,
        where: Where,
        ev: _Evse,
        state: str,
        scores: list[_Score],
        reading: Callable[[], dict[str, Any]],
        warmup: int,
    ) -> list[Signal]:
        """Raise after ``anomaly_samples`` readings in a row over the threshold (``reading``
        gives the evidence of one, asked only then), clear after as many under the clear
        threshold."""
        watch = ev.watches.setdefault(where[2], _Watch())
        if not scores:  # nothing learned enough to judge by yet
            watch.pending.clear()
            return []
        score = abs(scores[0].z)
        if where not in self.raised:
            if score <= self.s.anomaly_threshold:
                watch.pending.clear()
                return []
            watch.pending.append({**reading(), "score": round(score, 2), "top": scores[0].name})
            if len(watch.pending) < max(1, self.s.anomaly_samples):
                return []
            samples, watch.pending, watch.quiet = watch.pending, [], 0
            self.raised.add(where)
            return [self._raise(where, ev, state, score, scores, samples, warmup)]
        if score > self.s.anomaly_clear_threshold:
            watch.quiet = 0
            return []
        watch.quiet += 1
        if watch.quiet < max(1, self.s.anomaly_samples):
            return []
        watch.quiet = 0
        self.raised.discard(where)
        return [
            Signal(
                kind="anomaly",
                identity=where[0],
                evse=where[1],
                topic=where[2],
                at=self.clock(),
                clears=True,
                summary=f"Charger {where[0]}{_evse_text(where[1])} behaves like its own history again.",
                evidence={
                    "score": round(score, 2),
                    "clearThreshold": self.s.anomaly_clear_threshold,
                    "state": state,
                    "features": [s.evidence() for s in scores[:EVIDENCE_FEATURES]],
                    "samplesInARow": self.s.anomaly_samples,
                },
            )
        ]

    def _raise(
        self,
        where: Where,
        ev: _Evse,
        state: str,
        score: float,
        scores: list[_Score],
        samples: list[dict[str, Any]],
        warmup: int,
    ) -> Signal:
        drivers = [s for s in scores if abs(s.z) > self.s.anomaly_clear_threshold][:EVIDENCE_FEATURES] or scores[:1]
        top = drivers[0]
        learned = ev.baseline.states.get(state, {}).get(top.name)
        return Signal(
            kind="anomaly",
            identity=where[0],
            evse=where[1],
            topic=where[2],
            at=self.clock(),
            severity="warning",
            # The model flags what no rule names: it cannot say why.
            cause="unknown",
            confidence=0.4,
            summary=_summary(where, state, top, samples),
            evidence={
                "score": round(score, 2),
                "threshold": self.s.anomaly_threshold,
                "clearThreshold": self.s.anomaly_clear_threshold,
                "state": state,
                "features": [s.evidence() for s in drivers],
                "samples": samples,
                "model": {
                    "name": MODEL_NAME,
                    "version": MODEL_VERSION,
                    "warmupSamples": warmup,
                    "halflifeSamples": (
                        self.s.anomaly_halflife_sessions if where[2] == "session" else self.s.anomaly_halflife_samples
                    ),
                    "learnedSamples": learned.n if learned else 0,
                    # Steady-state heating: °C per kW drawn for hours.
                    "thermalCPerKw": round(sum(ev.baseline.thermal.heating), 3),
                },
            },
        )


@dataclass
class _Reading:
    """One instant's measurands, as the features need them."""

    power_w: float | None = None
    offered_w: float | None = None
    celsius: float | None = None
    hz: float | None = None
    volts: dict[str, float] = field(default_factory=dict)
    amps: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, samples: list[Sample]) -> _Reading:
        r = cls()
        phase_power: dict[str, float] = {}
        body = False
        for s in samples:
            m = s.measurand
            if m == "Power.Active.Import":
                if s.phase:
                    phase_power[s.phase] = s.value
                else:
                    r.power_w = s.value
            elif m == "Power.Offered" and not s.phase:
                r.offered_w = s.value
            elif m == "Voltage":
                r.volts[s.phase or "L1-N"] = s.value
            elif m == "Current.Import":
                r.amps[s.phase or "L1"] = s.value
            elif m == "Temperature" and not body:
                # Several sensors: the body's is the one the model follows.
                r.celsius, body = s.value, s.location == "Body"
            elif m == "Frequency":
                r.hz = s.value
        if r.power_w is None and phase_power:
            r.power_w = sum(phase_power.values())
        return r

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.power_w is not None:
            out["powerW"] = round(self.power_w, 1)
        if self.offered_w is not None:
            out["offeredW"] = round(self.offered_w, 1)
        if self.volts:
            out["volts"] = {p: round(v, 2) for p, v in self.volts.items()}
        if self.amps:
            out["amps"] = {p: round(a, 2) for p, a in self.amps.items()}
        if self.celsius is not None:
            out["celsius"] = round(self.celsius, 2)
        if self.hz is not None:
            out["hz"] = round(self.hz, 3)
        return out


def _by_time(samples: list[Sample]) -> list[tuple[datetime, list[Sample]]]:
    """A MeterValues may carry several instants (a charger catching up after being
    offline): each is one reading, oldest first."""
    groups: dict[datetime, list[Sample]] = {}
    for sample in samples:
        groups.setdefault(sample.at, []).append(sample)
    return sorted(groups.items(), key=lambda g: g[0])


def _order(key: tuple[str, int | None]) -> tuple[str, int]:
    return key[0], key[1] or 0


def _evse_text(evse: int | None) -> str:
    return "" if evse is None else f" (EVSE {evse})"


def _summary(where: Where, state: str, top: _Score, samples: list[dict[str, Any]]) -> str:
    spec = feature(top.name)
    who = f"Charger {where[0]}{_evse_text(where[1])}"
    if where[2] == "session":
        return (
            f"{who}: its last {len(samples)} sessions are unlike its history: {label(top.name)} "
            f"{math.expm1(top.value):.1f} {spec.unit} where it is usually {math.expm1(top.mean):.1f} {spec.unit}."
        )
    last = samples[-1] if samples else {}
    if top.name == "temperature" and "celsius" in last and "expectedC" in last:
        return (
            f"{who} runs {abs(top.value):.1f} °C {'hotter' if top.value > 0 else 'colder'} than its own history "
            f"at this load while {state}: {last['celsius']:.1f} °C where it usually reads about "
            f"{last['expectedC']:.1f} °C ({abs(top.z):.0f} standard deviations)."
        )
    return (
        f"{who} behaves unlike its own history while {state}: {label(top.name)} is {top.value:.1f} {spec.unit} "
        f"where it is usually {top.mean:.1f} ± {top.std:.1f} {spec.unit} ({abs(top.z):.0f} standard deviations)."
    )
