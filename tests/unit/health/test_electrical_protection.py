"""A tripped protection device (over-current, earth leakage) is electrical, never firmware:
its evidence separates the car or cable, the supply and the charger's power stage."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from app.chargers.events import ChargerEventRecorded, ConnectorStatusChanged
from app.health.detectors import ReportedErrorDetector
from app.health.detectors.errors import cause_of, protection_of, separate
from app.sessions.events import MeterSampled, TransactionEnded, TransactionStarted
from app.sessions.types import Sample
from tests.unit.health.clock import HandClock

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
RATED_W = 11_000.0  # 16 A on three phases


def detector() -> tuple[ReportedErrorDetector, HandClock]:
    clock = HandClock(T0)
    return ReportedErrorDetector(clock, ratings={("CP1", 1): RATED_W}), clock


def started(token: str) -> TransactionStarted:
    return TransactionStarted(
        identity="CP1",
        transaction_id=uuid.uuid4(),
        number=1,
        evse=1,
        connector=1,
        id_token=token,
        started_at=T0,
        offline=False,
    )


def sampled(at: datetime, amps: float, volts: float = 230.0) -> MeterSampled:
    samples = [Sample(at=at, measurand="Current.Import", value=amps, unit="A", phase=p) for p in ("L1", "L2", "L3")]
    samples += [Sample(at=at, measurand="Voltage", value=volts, unit="V", phase=p) for p in ("L1-N", "L2-N", "L3-N")]
    return MeterSampled(identity="CP1", evse=1, transaction_id=uuid.uuid4(), samples=samples)


def status(state: str, code: str | None, at: datetime) -> ConnectorStatusChanged:
    return ConnectorStatusChanged(
        identity="CP1", evse=1, connector=1, status=state, error_code=code, vendor_error_code=None, info=None, at=at
    )


def trip(
    d: ReportedErrorDetector,
    clock: HandClock,
    token: str,
    amps: float,
    volts: float = 230.0,
    code: str = "OverCurrentFailure",
):
    d.feed(started(token))
    for _ in range(3):
        d.feed(sampled(clock.advance(60), amps, volts))
    [signal] = d.feed(status("Faulted", code, clock.now))
    d.feed(status("Available", None, clock.advance(60)))
    return signal


def test_protection_codes_are_electrical_never_firmware() -> None:
    for code in ("OverCurrentFailure", "GroundFailure"):
        assert cause_of(code)[0] == "electrical_protection" and cause_of(code)[1] >= 0.8
    # 2.0.1 techCodes are free text.
    assert protection_of("OvercurrentFault") == "over_current"
    assert protection_of("RCD tripped") == "ground_fault"
    assert protection_of("GroundFault") == "ground_fault"
    assert cause_of("EarthLeakage")[0] == "electrical_protection"
    assert protection_of("InternalError") is None


def test_current_over_the_rating_with_one_car_points_at_the_car_or_cable() -> None:
    d, clock = detector()
    signal = trip(d, clock, "CAR-A", amps=21.0)
    assert signal.cause == "electrical_protection"
    electrical = signal.evidence["electrical"]
    assert electrical["protection"] == "over_current"
    assert electrical["currentAboveRating"] is True and electrical["ratedCurrentA"] == 15.9
    assert electrical["suspect"] == "vehicle_or_cable" and electrical["recurring"] is False


def test_a_voltage_that_moved_points_at_the_supply() -> None:
    d, clock = detector()
    electrical = trip(d, clock, "CAR-A", amps=15.0, volts=196.0).evidence["electrical"]
    assert electrical["voltageMoved"] is True and electrical["suspect"] == "supply"


def test_trips_with_several_cars_within_the_rating_point_at_the_power_stage_and_recur() -> None:
    d, clock = detector()
    first = trip(d, clock, "CAR-A", amps=15.5, code="GroundFailure").evidence["electrical"]
    assert (first["protection"], first["trips"], first["recurring"]) == ("ground_fault", 1, False)
    clock.advance(3600)
    second = trip(d, clock, "CAR-B", amps=15.5, code="GroundFailure").evidence["electrical"]
    assert (second["cars"], second["trips"], second["recurring"]) == (2, 2, True)
    assert second["suspect"] == "power_stage" and second["currentAboveRating"] is False


def test_trips_a_day_apart_are_not_a_recurrence() -> None:
    d, clock = detector()
    trip(d, clock, "CAR-A", amps=15.0)
    clock.advance(timedelta(days=1, hours=1).total_seconds())
    assert trip(d, clock, "CAR-A", amps=15.0).evidence["electrical"]["trips"] == 1


def test_a_repeated_status_is_not_a_second_trip() -> None:
    d, clock = detector()
    d.feed(status("Faulted", "OverCurrentFailure", clock.now))
    [again] = d.feed(status("Faulted", "OverCurrentFailure", clock.advance(10)))
    assert again.evidence["electrical"]["trips"] == 1


def test_v201_protection_events_are_electrical() -> None:
    d, clock = detector()

    def event(component: str, variable: str, tech: str | None = None) -> ChargerEventRecorded:
        data = {
            "component": {"name": component, "evse": {"id": 1}},
            "variable": {"name": variable},
            "actualValue": "true",
        }
        if tech:
            data["techCode"] = tech
        return ChargerEventRecorded(
            identity="CP1", kind="notify_event", code=tech, evse=1, connector=1, at=clock.now, data=data
        )

    [problem] = d.feed(event("Connector", "Problem", "OverCurrentFailure"))
    assert problem.cause == "electrical_protection" and problem.evidence["electrical"]["protection"] == "over_current"
    d2, _ = detector()
    [rcd] = d2.feed(event("RCD", "Tripped"))
    assert rcd.cause == "electrical_protection" and rcd.evidence["electrical"]["protection"] == "ground_fault"


def test_separate_is_undetermined_without_evidence() -> None:
    assert separate(currents_a=[], rated_a=None, volts=[], tokens=[None], trips=1)["suspect"] == "undetermined"


def ended(reason: str, at: datetime, token: str = "CAR-A") -> TransactionEnded:
    return TransactionEnded(
        identity="CP1",
        transaction_id=uuid.uuid4(),
        number=1,
        evse=1,
        connector=1,
        id_token=token,
        started_at=at - timedelta(minutes=10),
        stopped_at=at,
        energy_wh=1_500.0,
        stop_reason=reason,
    )


def test_v201_faulted_with_no_cause_is_explained_by_a_protection_stop_either_way_round() -> None:
    # Faulted first (2.0.1 carries no error code): it waits for what explains it, here the
    # Ended event naming the trip.
    d, clock = detector()
    assert d.feed(status("Faulted", None, clock.now)) == []
    [explained] = d.feed(ended("OvercurrentFault", clock.advance(1)))
    assert explained.cause == "electrical_protection" and explained.confidence >= 0.8
    assert explained.evidence["electrical"]["protection"] == "over_current"
    # Ended first, then Faulted.
    d2, clock2 = detector()
    assert d2.feed(ended("GroundFault", clock2.now)) == []
    [signal] = d2.feed(status("Faulted", None, clock2.advance(2)))
    assert signal.cause == "electrical_protection" and signal.evidence["electrical"]["protection"] == "ground_fault"
    # An ordinary stop explains nothing.
    d3, clock3 = detector()
    d3.feed(status("Faulted", None, clock3.now))
    assert d3.feed(ended("Local", clock3.advance(1))) == []


def test_a_protection_that_is_merely_present_is_no_trip() -> None:
    d, clock = detector()
    data = {"component": {"name": "OverCurrentProtection"}, "variable": {"name": "Active"}, "actualValue": "true"}
    event = ChargerEventRecorded(
        identity="CP1", kind="notify_event", code=None, evse=1, connector=None, at=clock.now, data=data
    )
    assert d.feed(event) == []
