"""The OCPI 2.2.1 schemas the roaming tests hold our objects against are strict where the
spec is: what they refuse and the partial PATCH bodies they take."""

from __future__ import annotations

from typing import Any

import fastjsonschema
import pytest

from tests.ocpi_schemas import (
    check_command_result,
    check_credentials,
    check_envelope,
    check_evse_patch,
    check_session,
    check_session_patch,
    received_problem,
)

SESSION: dict[str, Any] = {
    "country_code": "SE",
    "party_id": "LAD",
    "id": "101",
    "start_date_time": "2020-03-09T10:17:09Z",
    "kwh": 0.0,
    "cdr_token": {"country_code": "NL", "party_id": "EMP", "uid": "123abc", "type": "RFID", "contract_id": "NL-EMP-1"},
    "auth_method": "WHITELIST",
    "location_id": "LOC1",
    "evse_uid": "3256",
    "connector_id": "1",
    "currency": "EUR",
    "status": "PENDING",
    "last_updated": "2020-03-09T10:17:09.123Z",
}


def refused(check: Any, body: Any) -> bool:
    try:
        check(body)
    except fastjsonschema.JsonSchemaValueException:
        return True
    return False


def test_a_whole_session_passes_and_each_flaw_is_refused() -> None:
    check_session(SESSION)
    assert not refused(check_session, SESSION | {"end_date_time": "2020-03-09T11:17:09"})  # no zone: UTC
    for flaw in (
        {"kwh": "0.0"},  # a number, not a string
        {"status": "CHARGING"},  # not a SessionStatus
        {"id": "x" * 37},  # CiString(36)
        {"start_date_time": "2020-03-09T10:17:09+01:00"},  # UTC only
        {"unknown_field": 1},  # every field is listed
    ):
        assert refused(check_session, SESSION | flaw), flaw
    assert refused(check_session, {k: v for k, v in SESSION.items() if k != "cdr_token"})


def test_a_patch_is_any_valid_part_with_last_updated() -> None:
    check_session_patch({"kwh": 5.5, "last_updated": "2020-03-09T10:47:09Z"})
    check_evse_patch({"status": "CHARGING", "last_updated": "2020-03-09T10:47:09Z"})
    assert refused(check_session_patch, {"kwh": 5.5})
    assert refused(check_evse_patch, {"status": "BUSY", "last_updated": "2020-03-09T10:47:09Z"})


def test_credentials_results_and_the_envelope() -> None:
    role = {"role": "CPO", "business_details": {"name": "Laddnät"}, "party_id": "LAD", "country_code": "SE"}
    check_credentials({"token": "abc", "url": "https://example.com/ocpi/versions", "roles": [role]})
    assert refused(check_credentials, {"token": "abc", "url": "https://example.com/ocpi/versions", "roles": []})
    assert refused(check_credentials, {"token": "abc", "url": "u", "roles": [role | {"party_id": "LADD"}]})
    check_command_result({"result": "ACCEPTED"})
    assert refused(check_command_result, {"result": "OK"})
    check_envelope({"data": None, "status_code": 1000, "timestamp": "2020-03-09T10:17:09Z"})
    assert refused(check_envelope, {"data": [], "status_code": 1000})


@pytest.mark.parametrize(
    ("module", "method", "path", "body", "wrong"),
    [
        ("sessions", "PUT", ["SE", "LAD", "101"], SESSION, False),
        ("sessions", "PATCH", ["SE", "LAD", "101"], {"kwh": 1.0}, True),
        (
            "locations",
            "PATCH",
            ["SE", "LAD", "L", "E"],
            {"status": "CHARGING", "last_updated": "2020-03-09T10:17:09Z"},
            False,
        ),
        ("tokens", "POST", ["T1", "authorize"], {"location_id": "L", "evse_uids": ["E"]}, False),
        ("tokens", "POST", ["T1", "authorize"], {"evse_uids": ["E"]}, True),
        ("chargingprofiles", "POST", ["active", "1"], {"result": "UNKNOWN"}, False),
        ("locations", "GET", ["SE", "LAD", "L"], None, False),
    ],
)
def test_a_call_to_the_emsp_is_checked_by_what_it_carries(
    module: str, method: str, path: list[str], body: Any, wrong: bool
) -> None:
    assert (received_problem(module, method, path, body) is not None) is wrong
