"""Our locations as OCPI 2.2.1 objects: the status rules, the bounded strings, the connector
figures and the shape partners validate."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.roaming.locations.mapping import (
    ConnectorFacts,
    EvseFacts,
    LocationFacts,
    bounded,
    connector_format,
    connector_object,
    coordinate,
    electrical,
    evse_object,
    location_object,
    ocpi_status,
    status_patch,
)

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")
LATITUDE = re.compile(r"^-?[0-9]{1,2}\.[0-9]{5,7}$")
LONGITUDE = re.compile(r"^-?[0-9]{1,3}\.[0-9]{5,7}$")


def status(*statuses: str, online: bool = True, cannot_charge: bool = False) -> str:
    return ocpi_status(online=online, cannot_charge=cannot_charge, statuses=statuses)


@pytest.mark.parametrize(
    ("ocpp", "ocpi"),
    [
        ("Available", "AVAILABLE"),
        ("Preparing", "CHARGING"),
        ("Charging", "CHARGING"),
        ("SuspendedEV", "CHARGING"),
        ("SuspendedEVSE", "CHARGING"),
        ("Finishing", "CHARGING"),
        ("Occupied", "CHARGING"),
        ("Reserved", "RESERVED"),
        ("Unavailable", "INOPERATIVE"),
        ("Faulted", "OUTOFORDER"),
        ("Unknown", "UNKNOWN"),
        ("SomethingNew", "UNKNOWN"),
    ],
)
def test_each_ocpp_status_maps_to_its_ocpi_status(ocpp: str, ocpi: str) -> None:
    assert status(ocpp) == ocpi


def test_an_evse_is_the_worst_of_its_connectors() -> None:
    assert status("Available", "Charging") == "CHARGING"
    assert status("Charging", "Reserved") == "CHARGING"
    assert status("Available", "Reserved") == "RESERVED"
    assert status("Charging", "Unavailable") == "INOPERATIVE"
    assert status("Unavailable", "Faulted") == "OUTOFORDER"
    # A connector never reported does not hide what the others say.
    assert status("Unknown", "Available") == "AVAILABLE"
    assert status() == "UNKNOWN"


def test_an_offline_charger_is_unknown_whatever_it_said_last() -> None:
    assert status("Charging", online=False) == "UNKNOWN"
    assert status("Faulted", online=False, cannot_charge=True) == "UNKNOWN"


def test_an_incident_that_keeps_drivers_away_makes_the_evse_out_of_order() -> None:
    assert status("Available", cannot_charge=True) == "OUTOFORDER"
    assert status("Charging", cannot_charge=True) == "OUTOFORDER"
    assert status("Unavailable", cannot_charge=True) == "OUTOFORDER"


def test_bounded_strings_are_cut_to_the_spec_length() -> None:
    assert bounded("x" * 300, 255) == "x" * 255
    assert bounded("  Storgatan 1  ", 45) == "Storgatan 1"
    assert bounded("a" * 44 + " b", 45) == "a" * 44  # no dangling space after the cut
    assert bounded(None, 10) == ""


def test_coordinates_have_up_to_seven_decimals_within_the_field_length() -> None:
    assert coordinate(59.3293235, 10) == "59.3293235"
    assert coordinate(18.0685808, 11) == "18.0685808"
    assert coordinate(-59.3293235, 10) == "-59.329324"  # 11 characters would be too long
    assert coordinate(-126.104965, 11) == "-126.104965"
    for value, length, pattern in ((-89.9999999, 10, LATITUDE), (-179.9999999, 11, LONGITUDE), (0.0, 10, LATITUDE)):
        text = coordinate(value, length)
        assert len(text) <= length and pattern.fullmatch(text), text


def test_connector_figures_follow_the_stored_power() -> None:
    assert electrical("AC_3_PHASE", "IEC_62196_T2", 22.0) == (230, 32, 22000)
    assert electrical("AC_1_PHASE", "IEC_62196_T2", 7.4) == (230, 33, 7400)
    assert electrical("DC", "IEC_62196_T2_COMBO", 150.0) == (920, 164, 150000)
    assert electrical("DC", "CHADEMO", 50.0) == (500, 100, 50000)
    assert connector_format("IEC_62196_T2", "AC_3_PHASE") == "SOCKET"
    assert connector_format("IEC_62196_T2_COMBO", "DC") == "CABLE"
    assert connector_format("CHADEMO", "DC") == "CABLE"


def test_a_connector_names_its_tariff_and_its_number_as_id() -> None:
    plug = ConnectorFacts(2, "IEC_62196_T2", "AC_3_PHASE", 11.0, "Available")
    body = connector_object(plug, tariff_id="T-1", last_updated=T0)
    assert body == {
        "id": "2",
        "standard": "IEC_62196_T2",
        "format": "SOCKET",
        "power_type": "AC_3_PHASE",
        "max_voltage": 230,
        "max_amperage": 16,
        "max_electric_power": 11000,
        "tariff_ids": ["T-1"],
        "last_updated": "2026-12-07T12:00:00.000Z",
    }
    assert "tariff_ids" not in connector_object(plug, tariff_id=None, last_updated=T0)


def evse(**overrides: object) -> EvseFacts:
    values: dict[str, object] = {
        "uid": uuid.UUID(int=7),
        "evse_id": "SE*LAD*E0001*1",
        "status": "AVAILABLE",
        "connectors": (ConnectorFacts(1, "IEC_62196_T2", "AC_3_PHASE", 22.0, "Available"),),
        "last_updated": T0 + timedelta(minutes=5),
        "tariff_id": "T-1",
    }
    values.update(overrides)
    return EvseFacts(**values)  # type: ignore[arg-type]


def location(*evses: EvseFacts, **overrides: object) -> LocationFacts:
    values: dict[str, object] = {
        "id": uuid.UUID(int=1),
        "country_code": "SE",
        "party_id": "LAD",
        "operator_name": "Laddnät AB",
        "name": "Centralen",
        "address": "Vasagatan 1",
        "city": "Stockholm",
        "postal_code": "111 20",
        "country": "SWE",
        "latitude": 59.3303,
        "longitude": 18.0586,
        "time_zone": "Europe/Stockholm",
        "created_at": T0,
        "evses": evses,
    }
    values.update(overrides)
    return LocationFacts(**values)  # type: ignore[arg-type]


def test_an_evse_object_has_the_required_fields() -> None:
    body = evse_object(evse())
    assert body["uid"] == str(uuid.UUID(int=7)) and len(body["uid"]) <= 36
    assert body["evse_id"] == "SE*LAD*E0001*1"
    assert body["status"] == "AVAILABLE"
    assert "RFID_READER" in body["capabilities"] and "REMOTE_START_STOP_CAPABLE" in body["capabilities"]
    assert "CHARGING_PROFILE_CAPABLE" not in body["capabilities"]
    assert "CHARGING_PROFILE_CAPABLE" in evse_object(evse(charging_profiles=True))["capabilities"]
    assert [c["id"] for c in body["connectors"]] == ["1"]
    assert body["connectors"][0]["tariff_ids"] == ["T-1"]
    assert DATETIME.match(body["last_updated"])
    assert body["connectors"][0]["last_updated"] == body["last_updated"]


def test_a_location_object_is_bounded_and_carries_its_newest_change() -> None:
    older = evse(last_updated=T0 + timedelta(minutes=1))
    newer = evse(uid=uuid.UUID(int=8), last_updated=T0 + timedelta(minutes=9))
    body = location_object(location(older, newer, address="A" * 60, city="C" * 60, name="N" * 300))
    assert body["country_code"] == "SE" and body["party_id"] == "LAD" and body["id"] == str(uuid.UUID(int=1))
    assert body["publish"] is True
    assert len(body["address"]) == 45 and len(body["city"]) == 45 and len(body["name"]) == 255
    assert body["country"] == "SWE"
    assert body["postal_code"] == "111 20"
    assert LATITUDE.fullmatch(body["coordinates"]["latitude"])
    assert LONGITUDE.fullmatch(body["coordinates"]["longitude"])
    assert body["operator"] == {"name": "Laddnät AB"}
    assert body["opening_times"] == {"twentyfourseven": True}
    assert body["time_zone"] == "Europe/Stockholm"
    assert body["last_updated"] == "2026-12-07T12:09:00.000Z"
    assert [e["uid"] for e in body["evses"]] == [str(uuid.UUID(int=7)), str(uuid.UUID(int=8))]


def test_a_location_without_evses_dates_from_its_creation_and_omits_an_empty_postal_code() -> None:
    body = location_object(location(postal_code=""))
    assert body["evses"] == [] and body["last_updated"] == "2026-12-07T12:00:00.000Z"
    assert "postal_code" not in body


def test_an_evse_without_connectors_is_not_published() -> None:
    # OCPI requires at least one connector per EVSE.
    body = location_object(location(evse(connectors=())))
    assert body["evses"] == []


def test_a_status_patch_carries_last_updated() -> None:
    assert status_patch("OUTOFORDER", T0) == {"status": "OUTOFORDER", "last_updated": "2026-12-07T12:00:00.000Z"}
