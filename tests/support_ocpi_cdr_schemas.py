"""JSON schemas of the OCPI 2.2.1 Tariff and CDR objects, written from mod_tariffs, mod_cdrs,
mod_locations (GeoLocation, ConnectorType, ConnectorFormat, PowerType), mod_tokens (TokenType)
and types (CiString, DateTime, DisplayText, Price): field names, cardinalities, enums and
lengths. Unknown fields are refused, so a misspelt field fails too."""

from __future__ import annotations

from typing import Any

import fastjsonschema

DATETIME = {"type": "string", "maxLength": 25, "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z?$"}
NUMBER = {"type": "number"}


def cistring(length: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": length, "pattern": r"^[\x20-\x7e]*$"}


def string(length: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": length}


def obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties, "additionalProperties": False}


def enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


PRICE = obj(["excl_vat"], excl_vat=NUMBER, incl_vat=NUMBER)
DISPLAY_TEXT = obj(["language", "text"], language=string(2), text=string(512))
HHMM = {"type": "string", "pattern": r"^([0-1][0-9]|2[0-3]):[0-5][0-9]$"}
DATE = {"type": "string", "pattern": r"^([12][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"}
DAY_OF_WEEK = enum("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
PRICE_COMPONENT = obj(
    ["type", "price", "step_size"],
    type=enum("ENERGY", "FLAT", "PARKING_TIME", "TIME"),
    price=NUMBER,
    vat=NUMBER,
    step_size={"type": "integer", "minimum": 0},
)
RESTRICTIONS = obj(
    [],
    start_time=HHMM,
    end_time=HHMM,
    start_date=DATE,
    end_date=DATE,
    min_kwh=NUMBER,
    max_kwh=NUMBER,
    min_current=NUMBER,
    max_current=NUMBER,
    min_power=NUMBER,
    max_power=NUMBER,
    min_duration={"type": "integer"},
    max_duration={"type": "integer"},
    day_of_week={"type": "array", "items": DAY_OF_WEEK},
    reservation=enum("RESERVATION", "RESERVATION_EXPIRES"),
)
TARIFF_ELEMENT = obj(
    ["price_components"],
    price_components={"type": "array", "minItems": 1, "items": PRICE_COMPONENT},
    restrictions=RESTRICTIONS,
)
TARIFF = obj(
    ["country_code", "party_id", "id", "currency", "elements", "last_updated"],
    country_code=cistring(2),
    party_id=cistring(3),
    id=cistring(36),
    currency=string(3),
    type=enum("AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST", "PROFILE_GREEN", "REGULAR"),
    tariff_alt_text={"type": "array", "items": DISPLAY_TEXT},
    tariff_alt_url=string(255),
    min_price=PRICE,
    max_price=PRICE,
    elements={"type": "array", "minItems": 1, "items": TARIFF_ELEMENT},
    start_date_time=DATETIME,
    end_date_time=DATETIME,
    energy_mix={"type": "object"},
    last_updated=DATETIME,
)

CONNECTOR_TYPES = (
    "CHADEMO CHAOJI DOMESTIC_A DOMESTIC_B DOMESTIC_C DOMESTIC_D DOMESTIC_E DOMESTIC_F DOMESTIC_G DOMESTIC_H "
    "DOMESTIC_I DOMESTIC_J DOMESTIC_K DOMESTIC_L DOMESTIC_M DOMESTIC_N DOMESTIC_O GBT_AC GBT_DC "
    "IEC_60309_2_single_16 IEC_60309_2_three_16 IEC_60309_2_three_32 IEC_60309_2_three_64 IEC_62196_T1 "
    "IEC_62196_T1_COMBO IEC_62196_T2 IEC_62196_T2_COMBO IEC_62196_T3A IEC_62196_T3C NEMA_5_20 NEMA_6_30 NEMA_6_50 "
    "NEMA_10_30 NEMA_10_50 NEMA_14_30 NEMA_14_50 PANTOGRAPH_BOTTOM_UP PANTOGRAPH_TOP_DOWN TESLA_R TESLA_S"
).split()
CDR_LOCATION = obj(
    [
        "id",
        "address",
        "city",
        "country",
        "coordinates",
        "evse_uid",
        "evse_id",
        "connector_id",
        "connector_standard",
        "connector_format",
        "connector_power_type",
    ],
    id=cistring(36),
    name=string(255),
    address=string(45),
    city=string(45),
    postal_code=string(10),
    state=string(20),
    country=string(3),
    coordinates=obj(
        ["latitude", "longitude"],
        latitude={"type": "string", "maxLength": 10, "pattern": r"^-?[0-9]{1,2}\.[0-9]{5,7}$"},
        longitude={"type": "string", "maxLength": 11, "pattern": r"^-?[0-9]{1,3}\.[0-9]{5,7}$"},
    ),
    evse_uid=cistring(36),
    evse_id=cistring(48),
    connector_id=cistring(36),
    connector_standard=enum(*CONNECTOR_TYPES),
    connector_format=enum("SOCKET", "CABLE"),
    connector_power_type=enum("AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC"),
)
CDR_TOKEN = obj(
    ["country_code", "party_id", "uid", "type", "contract_id"],
    country_code=cistring(2),
    party_id=cistring(3),
    uid=cistring(36),
    type=enum("AD_HOC_USER", "APP_USER", "OTHER", "RFID"),
    contract_id=cistring(36),
)
CDR_DIMENSION = obj(
    ["type", "volume"],
    # The dimensions a CDR may carry (the "Session only" ones are left out).
    type=enum(
        "ENERGY", "MAX_CURRENT", "MIN_CURRENT", "MAX_POWER", "MIN_POWER", "PARKING_TIME", "RESERVATION_TIME", "TIME"
    ),
    volume=NUMBER,
)
CHARGING_PERIOD = obj(
    ["start_date_time", "dimensions"],
    start_date_time=DATETIME,
    dimensions={"type": "array", "minItems": 1, "items": CDR_DIMENSION},
    tariff_id=cistring(36),
)
CDR = obj(
    [
        "country_code",
        "party_id",
        "id",
        "start_date_time",
        "end_date_time",
        "cdr_token",
        "auth_method",
        "cdr_location",
        "currency",
        "charging_periods",
        "total_cost",
        "total_energy",
        "total_time",
        "last_updated",
    ],
    country_code=cistring(2),
    party_id=cistring(3),
    id=cistring(36),  # 39 for a credit CDR; ours are never credits
    start_date_time=DATETIME,
    end_date_time=DATETIME,
    session_id=cistring(36),
    cdr_token=CDR_TOKEN,
    auth_method=enum("AUTH_REQUEST", "COMMAND", "WHITELIST"),
    authorization_reference=cistring(36),
    cdr_location=CDR_LOCATION,
    meter_id=string(255),
    currency=string(3),
    tariffs={"type": "array", "items": TARIFF},
    charging_periods={"type": "array", "minItems": 1, "items": CHARGING_PERIOD},
    signed_data={"type": "object"},
    total_cost=PRICE,
    total_fixed_cost=PRICE,
    total_energy=NUMBER,
    total_energy_cost=PRICE,
    total_time=NUMBER,
    total_time_cost=PRICE,
    total_parking_time=NUMBER,
    total_parking_cost=PRICE,
    total_reservation_cost=PRICE,
    remark=string(255),
    invoice_reference_id=cistring(39),
    credit={"type": "boolean"},
    credit_reference_id=cistring(39),
    home_charging_compensation={"type": "boolean"},
    last_updated=DATETIME,
)


check_tariff = fastjsonschema.compile(TARIFF)
check_cdr = fastjsonschema.compile(CDR)
