"""The 2.2.1 Token object as the tokens receiver checks it, and the parties a partner speaks for."""

from __future__ import annotations

from typing import Any

import pytest

from app.roaming.envelope import InvalidParameters
from app.roaming.models import OcpiPartner
from app.roaming.tokens.schemas import parse_token
from app.roaming.tokens.service import partner_parties, token_type

TOKEN: dict[str, Any] = {
    "country_code": "NL",
    "party_id": "EMP",
    "uid": "012345678",
    "type": "RFID",
    "contract_id": "NL-EMP-C12345678",
    "issuer": "Test eMSP",
    "valid": True,
    "whitelist": "ALLOWED",
    "last_updated": "2026-12-01T10:00:00+01:00",
}


def test_a_token_is_stored_in_utc_with_the_ocpi_datetime_form() -> None:
    stored = parse_token({**TOKEN, "unknown_extension": 1}).to_ocpi()
    assert stored["last_updated"] == "2026-12-01T09:00:00.000Z"
    assert "unknown_extension" not in stored and "visual_number" not in stored


def test_a_datetime_without_a_zone_is_utc() -> None:
    assert parse_token({**TOKEN, "last_updated": "2026-12-01T10:00:00"}).to_ocpi()["last_updated"] == (
        "2026-12-01T10:00:00.000Z"
    )


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("uid", "x" * 37, "$.uid"),
        ("uid", "", "$.uid"),
        ("type", "BARCODE", "$.type"),
        ("whitelist", "SOMETIMES", "$.whitelist"),
        ("valid", "true", "$.valid"),
        ("country_code", "NLD", "$.country_code"),
        ("party_id", "EM", "$.party_id"),
        ("language", "dutch", "$.language"),
        ("default_profile_type", "SLOW", "$.default_profile_type"),
        ("energy_contract", {"contract_id": "1"}, "supplier_name"),
        ("last_updated", "soon", "$.last_updated"),
    ],
)
def test_a_bad_field_is_2001_naming_it(field: str, value: Any, named: str) -> None:
    with pytest.raises(InvalidParameters) as refused:
        parse_token({**TOKEN, field: value})
    assert named in refused.value.message


def test_a_missing_required_field_is_2001() -> None:
    with pytest.raises(InvalidParameters):
        parse_token({k: v for k, v in TOKEN.items() if k != "issuer"})


def test_the_type_parameter_defaults_to_rfid() -> None:
    assert token_type(None) == "RFID" and token_type("APP_USER") == "APP_USER"
    with pytest.raises(InvalidParameters):
        token_type("rfid")


def test_a_partners_parties_are_its_roles_case_insensitively() -> None:
    partner = OcpiPartner(
        country_code="nl",
        party_id="emp",
        roles=[{"role": "EMSP", "country_code": "DE", "party_id": "abc"}],
    )
    assert partner_parties(partner) == {("NL", "EMP"), ("DE", "ABC")}
