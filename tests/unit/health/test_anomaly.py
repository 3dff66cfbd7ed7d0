"""The anomaly detector on synthetic chargers: days of healthy readings (noise, a daily
swing of the weather and the grid, sessions of different cars) stay quiet; in-band
trouble that no rule names is flagged with the feature that drove it."""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from app.core.bus import Event
from app.core.settings import HealthSettings
from app.health import detectors
from app.health.detectors import AnomalyDetector
from app.health.detectors.anomaly import MODEL_VERSION, Baseline, from_json, to_json
from app.health.signals import KINDS, Signal
from app.sessions.events import MeterSampled, TransactionEnded, TransactionStarted
from app.sessions.types import Sample
from tests.unit.health.clock import HandClock

T0 = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
S = HealthSettings()
PHASES = ("L1", "L2", "L3")


class Clock(HandClock):
    def __init__(self) -> None:
        super().__init__(T0)


def reading(
    at: datetime,
    *,
    volts: list[float],
    celsius: float | None = None,
    power_w: float = 0.0,
    amps: list[float] | None = None,
    offered_w: float | None = None,
    hz: float | None = None,
    tx: int | None = None,
) -> MeterSampled:
    samples = [Sample(at=at, measurand="Power.Active.Import", value=power_w, unit="W")]
    if offered_w is not None:
        samples.append(Sample(at=at, measurand="Power.Offered", value=offered_w, unit="W"))
    for phase, value in zip(PHASES, amps or [0.0] * len(volts), strict=False):
        samples.append(Sample(at=at, measurand="Current.Import", value=value, unit="A", phase=phase))
    for phase, value in zip(PHASES, volts, strict=False):
        samples.append(Sample(at=at, measurand="Voltage", value=value, unit="V", phase=f"{phase}-N"))
    if celsius is not None:
        samples.append(Sample(at=at, measurand="Temperature", value=celsius, unit="Celsius", location="Body"))
    if hz is not None:
        samples.append(Sample(at=at, measurand="Frequency", value=hz, unit="Hz"))
    return MeterSampled(identity="CP1", evse=1, transaction_id=None, samples=samples, transaction_number=tx)


class Charger:
    """A healthy 11 kW charger, one reading a minute: the weather swings 8 °C a day and
    drifts from day to day, the grid swings 3 V; about three sessions a day by different cars (3-phase at 11 kW, some
    1-phase at 3.7 kW), tapering at the end. Its body heats 1.45 °C per kW of load with a
    time constant its model does not know exactly. Faults are attributes to set."""

    def __init__(self, rng: random.Random, *, only_in_sessions: bool = False) -> None:
        self.rng = rng
        self.at = T0
        self.only_in_sessions = only_in_sessions
        self.load_kw = 0.0
        self.session: tuple[int, int, float, datetime] | None = None  # number, minutes left, kW, start
        self.minutes = 0
        self.number = 0
        self.energy_wh = 0.0
        self.weather = 0.0
        # faults
        self.volt_shift = 0.0
        self.heat_per_kw = 1.45
        self.ambient_shift = 0.0

    def ambient(self) -> float:
        hours = (self.at - T0).total_seconds() / 3600.0
        day = 4.0 * math.sin(2 * math.pi * (hours - 9.0) / 24.0)
        return 14.0 + self.ambient_shift + self.weather + day

    def start(self, minutes: int) -> list[Event]:
        self.number += 1
        kw = 11.0 if self.rng.random() < 0.75 else 3.7
        self.session = (self.number, minutes, kw, self.at)
        self.minutes, self.energy_wh = minutes, 0.0
        return [
            TransactionStarted(
                identity="CP1",
                transaction_id=uuid.uuid4(),
                number=self.number,
                evse=1,
                connector=1,
                id_token="TAG",
                started_at=self.at,
                offline=False,
            )
        ]

    def step(self) -> list[Event]:
        """One minute on: its events."""
        events: list[Event] = []
        if self.session is None and self.rng.random() < 3 / 1440:
            events += self.start(self.rng.randint(40, 150))
        self.at += timedelta(seconds=60)
        rng = self.rng
        power_kw = 0.0
        amps = [0.0, 0.0, 0.0]
        tx = None
        if self.session is not None:
            number, left, kw, started = self.session
            share = 1.0 if left > self.minutes * 0.2 else max(0.3, left / (self.minutes * 0.2))
            power_kw = kw * share * rng.uniform(0.97, 1.0)
            per_phase = power_kw * 1000.0 / 230.0 / (3 if kw > 4 else 1)
            amps = [per_phase * rng.uniform(0.98, 1.02) for _ in range(3)] if kw > 4 else [per_phase, 0.0, 0.0]
            self.energy_wh += power_kw * 1000.0 / 60.0
            tx = number
        self.load_kw += (power_kw - self.load_kw) * (1 - math.exp(-60 / 1200))
        self.weather += rng.gauss(0, 0.04) - self.weather / 2880  # warmer and colder days
        grid = 231.0 + 1.5 * math.sin(2 * math.pi * (self.at - T0).total_seconds() / 86400.0) + self.volt_shift
        sag = 2.5 * power_kw / 11.0
        volts = [grid - sag + rng.gauss(0, 0.4) for _ in range(3)]
        celsius = self.ambient() + self.heat_per_kw * self.load_kw + rng.gauss(0, 0.3)
        if tx is not None or not self.only_in_sessions:
            events.append(
                reading(
                    self.at,
                    volts=volts,
                    celsius=celsius,
                    power_w=power_kw * 1000.0,
                    amps=amps,
                    offered_w=11_040.0 if tx is not None else None,
                    hz=50.0 + rng.gauss(0, 0.02),
                    tx=tx,
                )
            )
        if self.session is not None:
            number, left, kw, started = self.session
            if left <= 1:
                self.session = None
                events.append(
                    TransactionEnded(
                        identity="CP1",
                        transaction_id=uuid.uuid4(),
                        number=number,
                        evse=1,
                        connector=1,
                        id_token="TAG",
                        started_at=started,
                        stopped_at=self.at,
                        energy_wh=self.energy_wh,
                        stop_reason="Local",
                    )
                )
            else:
                self.session = (number, left - 1, kw, started)
        return events

    def run(self, detector: AnomalyDetector, minutes: int) -> list[Signal]:
        out: list[Signal] = []
        for _ in range(minutes):
            for event in self.step():
                out += detector.feed(event)
        return out


def detector(settings: HealthSettings = S) -> AnomalyDetector:
    return AnomalyDetector(settings, Clock())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_healthy_charger_stays_quiet_for_days(seed: int) -> None:
    d = detector()
    charger = Charger(random.Random(seed))
    assert charger.run(d, 10 * 1440) == []  # ten days, 14 400 readings and ~30 sessions
    baseline = d.baseline("CP1", 1)
    assert baseline is not None and baseline.samples > 14_000
    assert set(baseline.states) == {"charging", "idle", "session"}
    # What it learned is the charger's: its heating per kW and its voltage under load.
    assert 1.2 < sum(baseline.thermal.heating) < 1.7
    assert baseline.states["idle"]["voltage:L1-N"].mean == pytest.approx(231.0, abs=1.5)
    assert baseline.states["charging"]["voltage:L1-N"].mean < baseline.states["idle"]["voltage:L1-N"].mean


def test_a_charger_reporting_only_in_sessions_stays_quiet_when_the_weather_changes_in_between() -> None:
    d = detector()
    charger = Charger(random.Random(4), only_in_sessions=True)
    out = []
    for day in range(12):
        while charger.session is not None:
            out += charger.run(d, 1)
        charger.ambient_shift = 8.0 if day % 2 else -4.0  # a warm day, a cold day: unseen
        out += charger.run(d, 1440)
    assert out == []


def test_an_in_band_voltage_shift_is_flagged_with_the_voltage_first() -> None:
    d = detector()
    charger = Charger(random.Random(5))
    assert charger.run(d, 4 * 1440) == []
    while charger.session is not None:
        charger.run(d, 1)
    charger.volt_shift = -19.0  # about 212 V: inside 207..253, no rule fires
    [signal] = charger.run(d, S.anomaly_samples)
    assert signal.kind == "anomaly" and signal.kind in KINDS and signal.topic == "meter"
    assert (signal.cause, signal.severity, signal.clears) == ("unknown", "warning", False)
    assert signal.evse == 1 and 0 < signal.confidence < 0.5
    e = signal.evidence
    assert e["score"] > e["threshold"] == S.anomaly_threshold and e["state"] == "idle"
    first = e["features"][0]
    assert first["feature"].startswith("voltage:L")
    assert first["value"] == pytest.approx(212.0, abs=3.0) and first["mean"] == pytest.approx(231.0, abs=3.0)
    assert abs(first["z"]) == pytest.approx(e["score"], abs=0.01) and first["std"] >= 2.0
    assert len(e["samples"]) == S.anomaly_samples and all(s["score"] > S.anomaly_threshold for s in e["samples"])
    assert "volts" in e["samples"][-1] and e["samples"][-1]["state"] == "idle"
    assert e["model"]["name"] and e["model"]["version"] == MODEL_VERSION
    assert e["model"]["warmupSamples"] == S.anomaly_warmup_samples and e["model"]["learnedSamples"] > 1000
    assert "voltage" in signal.summary and "usually" in signal.summary


def test_a_charger_running_hotter_than_its_history_at_the_same_load_is_flagged() -> None:
    d = detector()
    charger = Charger(random.Random(6))
    assert charger.run(d, 5 * 1440) == []
    while charger.session is not None:
        charger.run(d, 1)
    charger.heat_per_kw = 1.45 + 12.0 / 11.0  # 12 °C more at full load, still far under 70 °C
    out = []
    for event in charger.start(150):
        out += d.feed(event)
    for _ in range(150):
        out += charger.run(d, 1)
        if out:
            break
    [signal] = out
    assert signal.topic == "meter" and signal.evidence["state"] == "charging"
    first = signal.evidence["features"][0]
    assert first["feature"] == "temperature" and first["value"] > 6.0
    last = signal.evidence["samples"][-1]
    assert last["celsius"] - last["expectedC"] == pytest.approx(first["value"], abs=0.01)
    assert last["celsius"] < S.temperature_limit_c
    assert "hotter" in signal.summary


def flat(d: AnomalyDetector, clock: Clock, rng: random.Random, n: int, volts: float = 230.0) -> list[Signal]:
    """Idle readings a minute apart: 230 ± 0.5 V (under the 2 V floor), 20 °C."""
    out: list[Signal] = []
    for _ in range(n):
        clock.now += timedelta(seconds=60)
        v = volts + rng.gauss(0, 0.5)
        out += d.feed(reading(clock.now, volts=[v, v, v], celsius=20.0 + rng.gauss(0, 0.2)))
    return out


def test_the_warm_up_suppresses_scoring() -> None:
    settings = HealthSettings(anomaly_warmup_samples=50)
    rng, clock = random.Random(8), Clock()
    d = AnomalyDetector(settings, clock)
    assert flat(d, clock, rng, 40) == []
    assert flat(d, clock, rng, 5, volts=212.0) == []  # 45 readings: not judged yet

    d = AnomalyDetector(settings, clock)
    assert flat(d, clock, rng, 60) == []
    [signal] = flat(d, clock, rng, 5, volts=212.0)  # warmed up, the same shift counts
    assert signal.evidence["model"]["warmupSamples"] == 50


def test_it_clears_with_hysteresis() -> None:
    rng, clock = random.Random(9), Clock()
    d = AnomalyDetector(S, clock)
    assert flat(d, clock, rng, 300) == []
    [raised] = flat(d, clock, rng, 3, volts=212.0)
    assert not raised.clears and ("CP1", 1, "meter") in d.raised
    # Better, but not back (z about 4.5, between the clear threshold and the threshold).
    assert flat(d, clock, rng, 20, volts=221.0) == []
    assert flat(d, clock, rng, 2) == []
    assert flat(d, clock, rng, 1, volts=221.0) == []  # the run of normal readings starts over
    assert flat(d, clock, rng, 2) == []
    [cleared] = flat(d, clock, rng, 1)
    assert cleared.clears and cleared.kind == "anomaly" and cleared.topic == "meter"
    assert cleared.evidence["score"] <= S.anomaly_clear_threshold
    assert ("CP1", 1, "meter") not in d.raised


def test_anomalous_readings_do_not_poison_the_baseline() -> None:
    rng, clock = random.Random(10), Clock()
    d = AnomalyDetector(S, clock)
    assert flat(d, clock, rng, 300) == []
    before = msgspec.structs.replace(d.baseline("CP1", 1).states["idle"]["voltage:L1-N"])  # type: ignore[union-attr]
    [_] = flat(d, clock, rng, 3, volts=212.0)
    assert flat(d, clock, rng, 3000, volts=212.0) == []  # two days at 212 V: still anomalous
    after = d.baseline("CP1", 1).states["idle"]["voltage:L1-N"]  # type: ignore[union-attr]
    assert after.mean == pytest.approx(before.mean, abs=0.01) and after.var == pytest.approx(before.var)
    # The temperature, normal all along, kept learning meanwhile.
    assert sum(d.baseline("CP1", 1).thermal.hourly_n) > 3000  # type: ignore[union-attr]
    [cleared] = flat(d, clock, rng, 3)
    assert cleared.clears


def test_out_of_band_values_are_the_rules_business() -> None:
    rng, clock = random.Random(11), Clock()
    d = AnomalyDetector(S, clock)
    assert flat(d, clock, rng, 300) == []
    assert flat(d, clock, rng, 10, volts=190.0) == []  # under 207 V: the supply rule's incident
    stats = d.baseline("CP1", 1).states["idle"]["voltage:L1-N"]  # type: ignore[union-attr]
    assert stats.mean == pytest.approx(230.0, abs=0.3)  # and not learned


def sessions(d: AnomalyDetector, rng: random.Random, count: int, *, kw: float | None = None) -> list[Signal]:
    out: list[Signal] = []
    start = T0 + timedelta(days=30)
    for number in range(count):
        start += timedelta(hours=rng.uniform(4, 12))
        minutes = rng.uniform(30, 180)
        power = kw if kw is not None else rng.choice([11.0, 11.0, 10.6, 7.4])
        out += d.feed(
            TransactionEnded(
                identity="CP1",
                transaction_id=uuid.uuid4(),
                number=number,
                evse=1,
                connector=1,
                id_token="TAG",
                started_at=start,
                stopped_at=start + timedelta(minutes=minutes),
                energy_wh=power * 1000.0 * minutes / 60.0,
                stop_reason="EVDisconnected",
            )
        )
    return out


def test_sessions_delivering_a_fraction_of_their_usual_power_are_flagged() -> None:
    rng = random.Random(12)
    d = detector()
    assert sessions(d, rng, 40) == []
    [signal] = sessions(d, rng, S.anomaly_samples, kw=1.2)
    assert signal.topic == "session" and signal.evidence["state"] == "session"
    first = signal.evidence["features"][0]
    assert first["feature"] == "session_power" and first["actual"] == pytest.approx(1.2, abs=0.01)
    assert first["usual"] > 7.0
    assert [s["meanPowerKw"] for s in signal.evidence["samples"]] == [1.2] * S.anomaly_samples
    assert "sessions" in signal.summary
    [cleared] = sessions(d, rng, S.anomaly_samples, kw=11.0)
    assert cleared.clears and cleared.topic == "session"


def test_the_baseline_round_trips_through_its_json() -> None:
    d = detector()
    charger = Charger(random.Random(13))
    assert charger.run(d, 3 * 1440) == []
    baseline = d.baseline("CP1", 1)
    assert baseline is not None
    data = msgspec.json.decode(msgspec.json.encode(to_json(baseline)))
    restored = from_json(data)
    assert restored == baseline and isinstance(restored, Baseline)

    twin = detector()
    assert twin.restore("CP1", 1, data)
    assert not twin.restore("CP1", 1, data)  # what it holds is already as much
    assert not detector().restore("CP1", 1, {**data, "version": MODEL_VERSION + 1})
    assert not detector().restore("CP1", 1, {"version": MODEL_VERSION, "states": "garbage"})
    # Both judge what follows alike.
    twin.evses[("CP1", 1)].in_transaction = d.evses[("CP1", 1)].in_transaction
    charger.volt_shift = -19.0
    events = [e for _ in range(S.anomaly_samples) for e in charger.step()]
    ours = [s for e in events for s in d.feed(e)]
    theirs = [s for e in events for s in twin.feed(e)]
    assert ours and [s.evidence for s in ours] == [s.evidence for s in theirs]


def test_changed_baselines_are_taken_once_and_can_be_given_back() -> None:
    rng, clock = random.Random(14), Clock()
    d = AnomalyDetector(S, clock)
    flat(d, clock, rng, 3)
    [(identity, evse, model)] = d.take_dirty()
    assert (identity, evse, model["samples"]) == ("CP1", 1, 3)
    assert d.take_dirty() == []
    d.mark_dirty([("CP1", 1), ("NOPE", 1)])
    assert [row[:2] for row in d.take_dirty()] == [("CP1", 1)]


def test_it_runs_with_the_other_detectors_unless_switched_off() -> None:
    _, running = detectors.build(S, 60.0, Clock())
    [anomaly] = [d for d in running if isinstance(d, AnomalyDetector)]
    assert detectors.raised_sets(running)["anomaly"] is anomaly.raised
    _, running = detectors.build(HealthSettings(anomaly_enabled=False), 60.0, Clock())
    assert not any(isinstance(d, AnomalyDetector) for d in running)
