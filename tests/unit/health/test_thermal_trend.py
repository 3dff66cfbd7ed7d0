"""The thermal trend: a climb under an unchanged load that will not level off is noticed
before the limit; warm-ups, load steps, the sun and climbs that plateau are not."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from app.chargers.events import ChargerEventRecorded
from app.core.settings import HealthSettings
from app.health.detectors import ThermalDetector
from app.health.detectors.thermal import Reading, TrendSettings, runaway, trend_of, under_one_load
from app.sessions.events import MeterSampled
from app.sessions.types import Sample
from tests.unit.health.clock import HandClock

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
S = HealthSettings()
T = TrendSettings()


def series(celsius: list[float], power_w: float | None = 11_000.0, every_s: float = 60.0) -> list[Reading]:
    return [Reading(T0 + timedelta(seconds=i * every_s), c, power_w) for i, c in enumerate(celsius)]


def sample(at: datetime, celsius: float | None, w: float | None) -> MeterSampled:
    samples = []
    if w is not None:
        samples.append(Sample(at=at, measurand="Power.Active.Import", value=w, unit="W"))
    if celsius is not None:
        samples.append(Sample(at=at, measurand="Temperature", value=celsius, unit="Celsius", location="Body"))
    return MeterSampled(identity="CP1", evse=1, transaction_id=uuid.uuid4(), samples=samples)


def feed_1_6(d: ThermalDetector, clock: HandClock, celsius: list[float], w: float = 11_000.0) -> list:
    out = []
    for c in celsius:
        out += d.feed(sample(clock.advance(60), c, w))
    return out


# -- the maths ---------------------------------------------------------------------------------


def test_a_first_order_warm_up_projects_its_plateau() -> None:
    # T = 60 - 30 e^(-t/5): the rate falls linearly with T and reaches 0 at 60 °C.
    import math

    readings = series([60 - 30 * math.exp(-i / 5) for i in range(8)])
    trend = trend_of(readings, 70.0)
    assert trend is not None and trend.plateau_c is not None
    assert abs(trend.plateau_c - 60.0) < 1.5
    assert trend.minutes_to_limit is None  # it settles below the limit


def test_a_linear_climb_has_no_plateau_and_a_time_to_the_limit() -> None:
    trend = trend_of(series([46, 48, 50, 52, 54, 56]), 70.0)
    assert trend is not None
    assert abs(trend.rate_c_per_min - 2.0) < 1e-9
    assert trend.plateau_c is None
    assert trend.minutes_to_limit is not None and abs(trend.minutes_to_limit - 7.0) < 1e-9


def test_only_readings_under_the_latest_load_count() -> None:
    readings = series([30, 34], 3_700.0) + [
        Reading(T0 + timedelta(minutes=2 + i), c, w) for i, (c, w) in enumerate([(38, 11_000.0), (41, 10_900.0)])
    ]
    assert [r.celsius for r in under_one_load(readings, T)] == [38, 41]


def test_a_steady_climb_under_unchanged_power_is_a_runaway() -> None:
    # Settled near 40 °C, then climbing 2 °C a minute at the same 11 kW.
    found = runaway(series([40, 40.2, 40.1, 42, 44, 46, 48]), 70.0, T)
    assert found is not None
    assert found.power_w == 11_000.0 and found.rate_c_per_min > 1.0
    assert found.minutes_to_limit is not None and found.minutes_to_limit < 30


def test_healthy_climbs_are_not_runaways() -> None:
    # A fast climb that plateaus under the limit.
    assert runaway(series([30, 40, 46, 50, 52.5, 54, 54.8, 55.2, 55.3]), 70.0, T) is None
    # The transient right after a load step (8 °C/min at 22 kW, three minutes in).
    assert runaway(series([22, 30, 38, 45], 22_000.0), 70.0, T) is None
    # Heat with rising load: each step a transient of its own.
    rising = [
        Reading(T0 + timedelta(minutes=i), c, w)
        for i, (c, w) in enumerate([(35, 3_700.0), (39, 3_700.0), (43, 7_400.0), (47, 7_400.0), (51, 11_000.0)])
    ]
    assert runaway(rising, 70.0, T) is None
    # The afternoon sun on an idle charger: slow and levelling off.
    sun = series([30, 33, 35.5, 37.5, 39, 40, 40.6], 0.0, every_s=600)
    assert runaway(sun, 70.0, T) is None
    # A noisy plateau at 55 °C.
    assert runaway(series([55, 56, 54.8, 56.1, 55.2, 56]), 70.0, T) is None
    # A slow creep far from the limit (hours away).
    assert runaway(series([50, 50.3, 50.6, 50.9, 51.2, 51.5, 51.8]), 70.0, T) is None


def test_an_accelerating_climb_counts_before_the_load_has_settled() -> None:
    assert runaway(series([44, 46, 49, 53]), 70.0, T) is not None


# -- the detector --------------------------------------------------------------------------------


def test_runaway_opens_a_trend_incident_with_its_evidence_before_the_limit_and_clears_when_it_settles() -> None:
    clock = HandClock(T0)
    d = ThermalDetector(S, clock)
    assert feed_1_6(d, clock, [40, 40.2, 40.1, 42, 44]) == []
    [signal] = feed_1_6(d, clock, [46])
    assert (signal.kind, signal.topic, signal.cause, signal.clears) == ("overheating", "trend", "overheating", False)
    assert signal.confidence >= 0.8
    assert signal.evidence["powerW"] == 11_000.0
    assert signal.evidence["slopeCPerMin"] > 0.3 and signal.evidence["minutesToLimit"] < 60
    assert signal.evidence["celsius"] == 46 < S.temperature_limit_c
    assert feed_1_6(d, clock, [48, 50]) == []  # one incident, not one per reading
    # Derated: the climb stops and the housing cools.
    [cleared] = feed_1_6(d, clock, [49, 47], w=5_500.0)
    assert cleared.clears and cleared.topic == "trend"


def test_a_runaway_that_reaches_the_limit_stays_one_incident() -> None:
    clock = HandClock(T0)
    d = ThermalDetector(S, clock)
    [trend] = feed_1_6(d, clock, [40, 40.2, 40.1, 42, 44, 46])
    assert trend.topic == "trend"
    [critical] = feed_1_6(d, clock, [56, 64, 72])
    assert (critical.topic, critical.severity, critical.clears) == ("trend", "critical", False)
    assert feed_1_6(d, clock, [66, 63]) == []  # still over the clear temperature
    [cleared] = feed_1_6(d, clock, [58])
    assert cleared.clears and cleared.topic == "trend"


def test_v201_temperature_events_are_judged_under_the_evse_power() -> None:
    clock = HandClock(T0)
    d = ThermalDetector(S, clock)
    out = []
    for c in [40, 45, 50, 55, 60]:
        at = clock.advance(120)
        d.feed(sample(at, None, 11_000.0))
        out += d.feed(
            ChargerEventRecorded(
                identity="CP1",
                kind="notify_event",
                code="TemperatureSensor.Temperature",
                evse=1,
                connector=None,
                at=at,
                data={
                    "component": {"name": "TemperatureSensor"},
                    "variable": {"name": "Temperature"},
                    "actualValue": str(c),
                },
            )
        )
    [signal] = out
    assert signal.topic == "trend" and signal.evidence["powerW"] == 11_000.0


def test_a_charger_wide_temperature_is_judged_under_the_sum_of_its_evses_loads() -> None:
    """1.6 connector 0 (the charger's body) samples only the temperature; its load is what
    its EVSEs draw."""
    clock = HandClock(T0)
    d = ThermalDetector(S, clock)
    out = []
    for c in [40, 40.2, 40.1, 42, 44, 46]:
        at = clock.advance(60)
        for evse, w in ((1, 11_000.0), (2, 7_000.0)):
            d.feed(
                MeterSampled(
                    identity="CP1",
                    evse=evse,
                    transaction_id=None,
                    samples=[Sample(at=at, measurand="Power.Active.Import", value=w, unit="W")],
                )
            )
        out += d.feed(
            MeterSampled(
                identity="CP1",
                evse=0,
                transaction_id=None,
                samples=[Sample(at=at, measurand="Temperature", value=c, unit="Celsius", location="Body")],
            )
        )
    [signal] = out
    assert signal.evse is None and signal.topic == "trend" and signal.evidence["powerW"] == 18_000.0


def test_an_idle_climb_counts_only_past_what_the_sun_can_do() -> None:
    # 1 °C a minute with no load for ten minutes, to 50 °C: the afternoon sun can.
    sunny = series([40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50], 0.0)
    assert runaway(sunny, 70.0, T) is None
    # The same climb on to 56 °C is not the weather.
    assert runaway(series([46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56], 0.0), 70.0, T) is not None
