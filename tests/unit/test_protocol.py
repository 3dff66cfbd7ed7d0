"""OCPP-J framing, schema-error mapping and unit normalisation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.sessions.service import start_key
from app.sessions.types import StartRequest
from ocpp_bridge.common import iso, normalise, parse_utc
from ocpp_bridge.protocol import (
    CALL,
    CALLERROR,
    CALLRESULT,
    OcppError,
    Version,
    call_error,
    frame_message_id,
    known_actions,
    parse_frame,
    validate,
)


def test_parse_call_result_and_error_frames() -> None:
    assert parse_frame('[2,"1","Heartbeat",{}]').kind == CALL
    result = parse_frame('[3,"1",{"currentTime":"x"}]')
    assert (result.kind, result.payload) == (CALLRESULT, {"currentTime": "x"})
    err = parse_frame('[4,"1","NotSupported","no",{}]')
    assert (err.kind, err.error_code) == (CALLERROR, "NotSupported")


@pytest.mark.parametrize(
    ("raw", "code", "message_id"),
    [
        ("{", "FormatViolation", "-1"),
        ("42", "RpcFrameworkError", "-1"),
        ('[2, 7, "Heartbeat", {}]', "RpcFrameworkError", "-1"),
        ('[2, "' + "x" * 37 + '", "Heartbeat", {}]', "RpcFrameworkError", "-1"),
        ('[2, "a", "Heartbeat"]', "FormatViolation", "a"),
        ('[2, "a", "Heartbeat", "payload"]', "FormatViolation", "a"),
        ('[9, "a", "Heartbeat", {}]', "MessageTypeNotSupported", "a"),
    ],
)
def test_bad_frames(raw: str, code: str, message_id: str) -> None:
    with pytest.raises(OcppError) as err:
        parse_frame(raw)
    assert err.value.code == code
    assert frame_message_id(err.value) == message_id


def test_codes_are_spelled_per_version() -> None:
    err = OcppError("OccurrenceConstraintViolation", "missing")
    assert '"OccurenceConstraintViolation"' in call_error("1", err, Version.V16)
    assert '"OccurrenceConstraintViolation"' in call_error("1", err, Version.V201)
    assert OcppError("FormatViolation").code_for(Version.V16) == "FormationViolation"


def test_every_action_schema_compiles() -> None:
    for version in Version:
        for action in known_actions(version):
            with pytest.raises(OcppError):
                validate(version, action, {"definitelyNotAField": 1})


def test_minimum_is_a_property_constraint() -> None:
    with pytest.raises(OcppError) as err:
        validate(Version.V201, "GetVariables", {"getVariableData": []})
    assert err.value.code == "OccurrenceConstraintViolation"


def test_units_are_normalised() -> None:
    assert normalise(1.5, "kWh") == (1500.0, "Wh")
    assert normalise(7.2, "kW") == (7200.0, "W")
    assert normalise(212.0, "Fahrenheit") == (100.0, "Celsius")
    assert normalise(300.0, "K")[1] == "Celsius"
    assert normalise(16.0, "A") == (16.0, "A")


def test_timestamps() -> None:
    at = parse_utc("2026-01-01T12:00:00+02:00")
    assert at == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert iso(at) == "2026-01-01T10:00:00.000Z"
    with pytest.raises(OcppError):
        parse_utc("2026-01-01T12:00:00")


def test_start_key_identifies_the_same_start() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    a = StartRequest(connector=1, token="T", meter_start_wh=10, at=at)
    assert start_key(a) == start_key(StartRequest(connector=1, token="T", meter_start_wh=10.0, at=at))
    assert start_key(a) != start_key(StartRequest(connector=2, token="T", meter_start_wh=10, at=at))
