"""Pure mappings of the OCPI command receivers: a charger's answer as a CommandResult or
ChargingProfileResult, composite schedules as ActiveChargingProfiles, OCPI profiles as the
CSMS's set-charging-profile arguments, and what a charger declares about smart charging."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.chargers.command_service import parse_args
from app.chargers.commands import SchedulePeriod, SetChargingProfileArgs
from app.roaming.chargingprofiles.mapping import (
    ChargingProfile,
    ChargingProfilePeriod,
    active_profile,
    checked,
    set_profile_args,
)
from app.roaming.chargingprofiles.support import declares_smart_charging
from app.roaming.commands.results import command_result, profile_result, refused_start
from app.roaming.commands.schemas import decode
from app.roaming.envelope import InvalidParameters

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "outcome", "status", "code", "expected"),
    [
        ("START_SESSION", "answered", "Accepted", None, "ACCEPTED"),
        ("START_SESSION", "answered", "Rejected", None, "REJECTED"),
        ("STOP_SESSION", "answered", "Rejected", None, "REJECTED"),
        ("RESERVE_NOW", "answered", "Occupied", None, "EVSE_OCCUPIED"),
        ("RESERVE_NOW", "answered", "Faulted", None, "EVSE_INOPERATIVE"),
        ("RESERVE_NOW", "answered", "Unavailable", None, "EVSE_INOPERATIVE"),
        ("CANCEL_RESERVATION", "answered", "Rejected", None, "UNKNOWN_RESERVATION"),
        ("UNLOCK_CONNECTOR", "answered", "Unlocked", None, "ACCEPTED"),
        ("UNLOCK_CONNECTOR", "answered", "UnlockFailed", None, "FAILED"),
        ("UNLOCK_CONNECTOR", "answered", "NotSupported", None, "NOT_SUPPORTED"),
        ("UNLOCK_CONNECTOR", "answered", "OngoingAuthorizedTransaction", None, "REJECTED"),
        ("START_SESSION", "timeout", None, None, "TIMEOUT"),
        ("START_SESSION", "offline", None, None, "FAILED"),
        ("START_SESSION", "call_error", None, "NotImplemented", "NOT_SUPPORTED"),
        ("START_SESSION", "call_error", None, "InternalError", "FAILED"),
        ("RESERVE_NOW", "unsupported", None, None, "NOT_SUPPORTED"),
        ("START_SESSION", "invalid", None, None, "FAILED"),
    ],
)
def test_command_results(kind: str, outcome: str, status: str | None, code: str | None, expected: str) -> None:
    assert command_result(kind, outcome, status, code) == expected


def test_profile_results() -> None:
    assert profile_result("answered", "Accepted") == "ACCEPTED"
    assert profile_result("answered", "Rejected") == "REJECTED"
    assert profile_result("answered", "Unknown") == "UNKNOWN"
    assert profile_result("timeout", None) == "REJECTED"


def test_a_16_composite_schedule_is_an_active_charging_profile() -> None:
    answer = {
        "status": "Accepted",
        "connectorId": 1,
        "scheduleStart": "2026-12-07T12:00:00Z",
        "chargingSchedule": {
            "duration": 3600,
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.04}, {"startPeriod": 1800, "limit": 3700}],
            "minChargingRate": 1000,
        },
    }
    assert active_profile(answer, NOW) == {
        "start_date_time": "2026-12-07T12:00:00.000Z",
        "charging_profile": {
            "charging_rate_unit": "W",
            "charging_profile_period": [{"start_period": 0, "limit": 7400.0}, {"start_period": 1800, "limit": 3700.0}],
            "duration": 3600,
            "min_charging_rate": 1000.0,
        },
    }


def test_a_201_composite_schedule_is_an_active_charging_profile() -> None:
    answer = {
        "status": "Accepted",
        "schedule": {
            "evseId": 1,
            "duration": 600,
            "scheduleStart": "2026-12-07T12:05:00+00:00",
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
        },
    }
    profile = active_profile(answer, NOW)
    assert profile is not None
    assert profile["start_date_time"] == "2026-12-07T12:05:00.000Z"
    assert profile["charging_profile"]["charging_profile_period"] == [{"start_period": 0, "limit": 16.0}]
    assert active_profile({"status": "Rejected"}, NOW) is None


def test_an_ocpi_profile_becomes_a_tx_profile_the_csms_can_send() -> None:
    profile = ChargingProfile(
        charging_rate_unit="A",
        start_date_time=datetime(2026, 12, 7, 13, 0),
        duration=7200,
        min_charging_rate=6.0,
        charging_profile_period=[
            ChargingProfilePeriod(start_period=0, limit=16),
            ChargingProfilePeriod(start_period=60, limit=10),
        ],
    )
    args = set_profile_args(checked(profile), evse=2, charger_transaction_id="42", profile_id=7)
    parsed = parse_args("set-charging-profile", args)
    assert parsed == SetChargingProfileArgs(
        limit=16,
        unit="A",
        evse=2,
        profile_id=7,
        stack_level=1,
        purpose="Tx",
        transaction_id="42",
        periods=[SchedulePeriod(start_s=0, limit=16), SchedulePeriod(start_s=60, limit=10)],
        start_at=datetime(2026, 12, 7, 13, 0, tzinfo=UTC),
        duration_s=7200,
        min_rate=6.0,
    )


@pytest.mark.parametrize(
    "periods",
    [[], [(5, 1.0)], [(0, 1.0), (0, 2.0)], [(0, -1.0)]],
)
def test_profiles_ocpp_cannot_carry_are_invalid(periods: list[tuple[int, float]]) -> None:
    profile = ChargingProfile(
        charging_rate_unit="W",
        charging_profile_period=[ChargingProfilePeriod(start_period=s, limit=limit) for s, limit in periods],
    )
    with pytest.raises(InvalidParameters):
        checked(profile)


def test_what_chargers_declare_about_smart_charging() -> None:
    key = {"key": "SupportedFeatureProfiles", "readonly": True}
    assert declares_smart_charging("1.6", {"configurationKey": [key | {"value": "Core,SmartCharging"}]})
    assert not declares_smart_charging("1.6", {"configurationKey": [key | {"value": "Core,Reservation"}]})
    assert not declares_smart_charging("1.6", {"unknownKey": ["SupportedFeatureProfiles"]})

    def variable(name: str, value: str, status: str = "Accepted") -> dict[str, object]:
        return {
            "attributeStatus": status,
            "attributeValue": value,
            "component": {"name": "SmartChargingCtrlr"},
            "variable": {"name": name},
        }

    assert declares_smart_charging("2.0.1", {"getVariableResult": [variable("Enabled", "true")]})
    assert not declares_smart_charging(
        "2.0.1", {"getVariableResult": [variable("Enabled", "false"), variable("Available", "true")]}
    )
    assert declares_smart_charging(
        "2.0.1", {"getVariableResult": [variable("Enabled", "", "UnknownVariable"), variable("Available", "true")]}
    )
    assert not declares_smart_charging("2.0.1", {"getVariableResult": []})


def test_command_bodies_take_unknown_fields_but_not_broken_ones() -> None:
    body = b'{"response_url": "https://emsp.example/r/1", "session_id": "abc", "extra": 1}'
    assert decode("STOP_SESSION", body).session_id == "abc"  # type: ignore[union-attr]
    with pytest.raises(InvalidParameters):
        decode("STOP_SESSION", b'{"response_url": "https://emsp.example/r/1", "session_id": 5}')
    with pytest.raises(InvalidParameters):
        decode("START_SESSION", b'{"response_url": "https://emsp.example/r/1", "session_id": "x"}')


def test_a_refused_start_says_why_when_the_evse_status_tells() -> None:
    assert refused_start("REJECTED", "Charging") == "EVSE_OCCUPIED"
    assert refused_start("REJECTED", "Reserved") == "EVSE_OCCUPIED"
    assert refused_start("REJECTED", "Faulted") == "EVSE_INOPERATIVE"
    assert refused_start("REJECTED", "Available") == "REJECTED"
    assert refused_start("ACCEPTED", "Charging") == "ACCEPTED"
