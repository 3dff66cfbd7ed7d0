"""JSON schemas of every OCPI 2.2.1 object Laddnät sends, written from the 2.2.1 text:
types (CiString, DateTime, DisplayText, Price, Role, URL), version_information_endpoint
(Version, VersionDetails, Endpoint), credentials (Credentials, CredentialsRole,
BusinessDetails, Image), mod_locations (Location, EVSE, Connector, GeoLocation, Hours, ...),
mod_sessions, mod_cdrs, mod_tariffs, mod_tokens (CdrToken, LocationReferences),
mod_commands (CommandResponse, CommandResult), mod_charging_profiles and
mod_hub_client_info, and transport_and_format (the response envelope).

Strict on purpose: required fields, enums, string lengths, number types; unknown fields
are refused where the spec lists every field, so a misspelt field fails too. A PATCH body
is a partial object: the fields present must be valid, and ``last_updated`` is required
(transport_and_format: "Any request to the PATCH method SHALL contain the last_updated
field").

``check_*`` raise ``fastjsonschema.JsonSchemaValueException``; :func:`received_problem`
names the schema of a call a CPO makes to an eMSP and says what is wrong with its body
(the fake eMSP in devtools takes it as its body check)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import fastjsonschema

# -- types -------------------------------------------------------------------------------

# string(25), RFC 3339 in UTC: "Z" or no zone designator, optional fractional seconds.
DATETIME = {"type": "string", "maxLength": 25, "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z?$"}
NUMBER = {"type": "number"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}


def cistring(length: int) -> dict[str, Any]:
    """CiString(n): printable ASCII, case-insensitive, at most n characters."""
    return {"type": "string", "maxLength": length, "pattern": r"^[\x20-\x7e]*$"}


def string(length: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": length}


def obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties, "additionalProperties": False}


def enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def array(items: dict[str, Any], *, min_items: int = 0) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": items}
    if min_items:
        schema["minItems"] = min_items
    return schema


def partial(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema of a PATCH of ``schema``'s object: any of its fields, last_updated always."""
    patch = copy.deepcopy(schema)
    patch["required"] = ["last_updated"]
    return patch


URL = string(255)
PRICE = obj(["excl_vat"], excl_vat=NUMBER, incl_vat=NUMBER)
DISPLAY_TEXT = obj(["language", "text"], language=string(2), text=string(512))
ROLE = enum("CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP")
TOKEN_TYPE = enum("AD_HOC_USER", "APP_USER", "OTHER", "RFID")
AUTH_METHOD = enum("AUTH_REQUEST", "COMMAND", "WHITELIST")
MODULE_ID = enum(
    "cdrs", "chargingprofiles", "commands", "credentials", "hubclientinfo", "locations", "sessions", "tariffs", "tokens"
)
VERSION_NUMBER = enum("2.0", "2.1", "2.1.1", "2.2", "2.2.1")

# -- version information, credentials ----------------------------------------------------

VERSION = obj(["version", "url"], version=VERSION_NUMBER, url=URL)
ENDPOINT = obj(["identifier", "role", "url"], identifier=MODULE_ID, role=enum("SENDER", "RECEIVER"), url=URL)
VERSION_DETAILS = obj(["version", "endpoints"], version=VERSION_NUMBER, endpoints=array(ENDPOINT, min_items=1))
IMAGE = obj(
    ["url", "category", "type"],
    url=URL,
    thumbnail=URL,
    category=enum("CHARGER", "ENTRANCE", "LOCATION", "NETWORK", "OPERATOR", "OTHER", "OWNER"),
    type=cistring(4),
    width={"type": "integer", "minimum": 0, "maximum": 99999},
    height={"type": "integer", "minimum": 0, "maximum": 99999},
)
BUSINESS_DETAILS = obj(["name"], name=string(100), website=URL, logo=IMAGE)
CREDENTIALS_ROLE = obj(
    ["role", "business_details", "party_id", "country_code"],
    role=ROLE,
    business_details=BUSINESS_DETAILS,
    party_id={**cistring(3), "minLength": 3},
    country_code={**cistring(2), "minLength": 2},
)
CREDENTIALS = obj(
    ["token", "url", "roles"],
    token={**cistring(64), "minLength": 1},
    url=URL,
    roles=array(CREDENTIALS_ROLE, min_items=1),
)

# -- locations ---------------------------------------------------------------------------

LATITUDE = {"type": "string", "maxLength": 10, "pattern": r"^-?[0-9]{1,2}\.[0-9]{5,7}$"}
LONGITUDE = {"type": "string", "maxLength": 11, "pattern": r"^-?[0-9]{1,3}\.[0-9]{5,7}$"}
GEO_LOCATION = obj(["latitude", "longitude"], latitude=LATITUDE, longitude=LONGITUDE)
ADDITIONAL_GEO_LOCATION = obj(["latitude", "longitude"], latitude=LATITUDE, longitude=LONGITUDE, name=DISPLAY_TEXT)
CONNECTOR_TYPES = (
    "CHADEMO CHAOJI DOMESTIC_A DOMESTIC_B DOMESTIC_C DOMESTIC_D DOMESTIC_E DOMESTIC_F DOMESTIC_G DOMESTIC_H "
    "DOMESTIC_I DOMESTIC_J DOMESTIC_K DOMESTIC_L DOMESTIC_M DOMESTIC_N DOMESTIC_O GBT_AC GBT_DC "
    "IEC_60309_2_single_16 IEC_60309_2_three_16 IEC_60309_2_three_32 IEC_60309_2_three_64 IEC_62196_T1 "
    "IEC_62196_T1_COMBO IEC_62196_T2 IEC_62196_T2_COMBO IEC_62196_T3A IEC_62196_T3C NEMA_5_20 NEMA_6_30 NEMA_6_50 "
    "NEMA_10_30 NEMA_10_50 NEMA_14_30 NEMA_14_50 PANTOGRAPH_BOTTOM_UP PANTOGRAPH_TOP_DOWN TESLA_R TESLA_S"
).split()
CONNECTOR_FORMAT = enum("SOCKET", "CABLE")
POWER_TYPE = enum("AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC")
EVSE_STATUS = enum(
    "AVAILABLE", "BLOCKED", "CHARGING", "INOPERATIVE", "OUTOFORDER", "PLANNED", "REMOVED", "RESERVED", "UNKNOWN"
)
CONNECTOR = obj(
    ["id", "standard", "format", "power_type", "max_voltage", "max_amperage", "last_updated"],
    id=cistring(36),
    standard=enum(*CONNECTOR_TYPES),
    format=CONNECTOR_FORMAT,
    power_type=POWER_TYPE,
    max_voltage=INTEGER,
    max_amperage=INTEGER,
    max_electric_power=INTEGER,
    tariff_ids=array(cistring(36)),
    terms_and_conditions=URL,
    last_updated=DATETIME,
)
EVSE = obj(
    ["uid", "status", "connectors", "last_updated"],
    uid=cistring(36),
    evse_id=cistring(48),
    status=EVSE_STATUS,
    status_schedule=array(
        obj(["period_begin", "status"], period_begin=DATETIME, period_end=DATETIME, status=EVSE_STATUS)
    ),
    capabilities=array(
        enum(
            "CHARGING_PROFILE_CAPABLE",
            "CHARGING_PREFERENCES_CAPABLE",
            "CHIP_CARD_SUPPORT",
            "CONTACTLESS_CARD_SUPPORT",
            "CREDIT_CARD_PAYABLE",
            "DEBIT_CARD_PAYABLE",
            "PED_TERMINAL",
            "REMOTE_START_STOP_CAPABLE",
            "RESERVABLE",
            "RFID_READER",
            "START_SESSION_CONNECTOR_REQUIRED",
            "TOKEN_GROUP_CAPABLE",
            "UNLOCK_CAPABLE",
        )
    ),
    connectors=array(CONNECTOR, min_items=1),
    floor_level=string(4),
    coordinates=GEO_LOCATION,
    physical_reference=string(16),
    directions=array(DISPLAY_TEXT),
    parking_restrictions=array(enum("EV_ONLY", "PLUGGED", "DISABLED", "CUSTOMERS", "MOTORCYCLES")),
    images=array(IMAGE),
    last_updated=DATETIME,
)
HHMM = {"type": "string", "pattern": r"^([0-1][0-9]|2[0-3]):[0-5][0-9]$"}
EXCEPTIONAL_PERIOD = obj(["period_begin", "period_end"], period_begin=DATETIME, period_end=DATETIME)
HOURS = obj(
    ["twentyfourseven"],
    twentyfourseven=BOOLEAN,
    regular_hours=array(
        obj(
            ["weekday", "period_begin", "period_end"],
            weekday={"type": "integer", "minimum": 1, "maximum": 7},
            period_begin=HHMM,
            period_end={"type": "string", "pattern": r"^(([0-1][0-9]|2[0-3]):[0-5][0-9]|24:00)$"},
        )
    ),
    exceptional_openings=array(EXCEPTIONAL_PERIOD),
    exceptional_closings=array(EXCEPTIONAL_PERIOD),
)
ENERGY_MIX = obj(
    ["is_green_energy"],
    is_green_energy=BOOLEAN,
    energy_sources=array(
        obj(
            ["source", "percentage"],
            source=enum("NUCLEAR", "GENERAL_FOSSIL", "COAL", "GAS", "GENERAL_GREEN", "SOLAR", "WIND", "WATER"),
            percentage=NUMBER,
        )
    ),
    environ_impact=array(obj(["category", "amount"], category=enum("NUCLEAR_WASTE", "CARBON_DIOXIDE"), amount=NUMBER)),
    supplier_name=string(64),
    energy_product_name=string(64),
)
PUBLISH_TOKEN_TYPE = obj(
    [],
    uid=cistring(36),
    type=TOKEN_TYPE,
    visual_number=string(64),
    issuer=string(64),
    group_id=cistring(36),
)
FACILITY = enum(
    "HOTEL",
    "RESTAURANT",
    "CAFE",
    "MALL",
    "SUPERMARKET",
    "SPORT",
    "RECREATION_AREA",
    "NATURE",
    "MUSEUM",
    "BIKE_SHARING",
    "BUS_STOP",
    "TAXI_STAND",
    "TRAM_STOP",
    "METRO_STATION",
    "TRAIN_STATION",
    "AIRPORT",
    "PARKING_LOT",
    "CARPOOL_PARKING",
    "FUEL_STATION",
    "WIFI",
)
LOCATION = obj(
    [
        "country_code",
        "party_id",
        "id",
        "publish",
        "address",
        "city",
        "country",
        "coordinates",
        "time_zone",
        "last_updated",
    ],
    country_code=cistring(2),
    party_id=cistring(3),
    id=cistring(36),
    publish=BOOLEAN,
    publish_allowed_to=array(PUBLISH_TOKEN_TYPE),
    name=string(255),
    address=string(45),
    city=string(45),
    postal_code=string(10),
    state=string(20),
    country=string(3),
    coordinates=GEO_LOCATION,
    related_locations=array(ADDITIONAL_GEO_LOCATION),
    parking_type=enum(
        "ALONG_MOTORWAY", "PARKING_GARAGE", "PARKING_LOT", "ON_DRIVEWAY", "ON_STREET", "UNDERGROUND_GARAGE"
    ),
    evses=array(EVSE),
    directions=array(DISPLAY_TEXT),
    operator=BUSINESS_DETAILS,
    suboperator=BUSINESS_DETAILS,
    owner=BUSINESS_DETAILS,
    facilities=array(FACILITY),
    time_zone=string(255),
    opening_times=HOURS,
    charging_when_closed=BOOLEAN,
    images=array(IMAGE),
    energy_mix=ENERGY_MIX,
    last_updated=DATETIME,
)

# -- tariffs -----------------------------------------------------------------------------

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
    min_duration=INTEGER,
    max_duration=INTEGER,
    day_of_week=array(DAY_OF_WEEK),
    reservation=enum("RESERVATION", "RESERVATION_EXPIRES"),
)
TARIFF_ELEMENT = obj(
    ["price_components"],
    price_components=array(PRICE_COMPONENT, min_items=1),
    restrictions=RESTRICTIONS,
)
TARIFF = obj(
    ["country_code", "party_id", "id", "currency", "elements", "last_updated"],
    country_code=cistring(2),
    party_id=cistring(3),
    id=cistring(36),
    currency=string(3),
    type=enum("AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST", "PROFILE_GREEN", "REGULAR"),
    tariff_alt_text=array(DISPLAY_TEXT),
    tariff_alt_url=URL,
    min_price=PRICE,
    max_price=PRICE,
    elements=array(TARIFF_ELEMENT, min_items=1),
    start_date_time=DATETIME,
    end_date_time=DATETIME,
    energy_mix=ENERGY_MIX,
    last_updated=DATETIME,
)

# -- sessions and CDRs -------------------------------------------------------------------

CDR_TOKEN = obj(
    ["country_code", "party_id", "uid", "type", "contract_id"],
    country_code=cistring(2),
    party_id=cistring(3),
    uid=cistring(36),
    type=TOKEN_TYPE,
    contract_id=cistring(36),
)


def charging_period(*dimension_types: str) -> dict[str, Any]:
    return obj(
        ["start_date_time", "dimensions"],
        start_date_time=DATETIME,
        dimensions=array(obj(["type", "volume"], type=enum(*dimension_types), volume=NUMBER), min_items=1),
        tariff_id=cistring(36),
    )


# CdrDimensionType: the "Session only" types may appear in a Session, never in a CDR.
CDR_DIMENSIONS = (
    "ENERGY",
    "MAX_CURRENT",
    "MIN_CURRENT",
    "MAX_POWER",
    "MIN_POWER",
    "PARKING_TIME",
    "RESERVATION_TIME",
    "TIME",
)
SESSION_DIMENSIONS = (*CDR_DIMENSIONS, "CURRENT", "ENERGY_EXPORT", "ENERGY_IMPORT", "POWER", "STATE_OF_CHARGE")
SESSION = obj(
    [
        "country_code",
        "party_id",
        "id",
        "start_date_time",
        "kwh",
        "cdr_token",
        "auth_method",
        "location_id",
        "evse_uid",
        "connector_id",
        "currency",
        "status",
        "last_updated",
    ],
    country_code=cistring(2),
    party_id=cistring(3),
    id=cistring(36),
    start_date_time=DATETIME,
    end_date_time=DATETIME,
    kwh=NUMBER,
    cdr_token=CDR_TOKEN,
    auth_method=AUTH_METHOD,
    authorization_reference=cistring(36),
    location_id=cistring(36),
    evse_uid=cistring(36),
    connector_id=cistring(36),
    meter_id=string(255),
    currency=string(3),
    charging_periods=array(charging_period(*SESSION_DIMENSIONS)),
    total_cost=PRICE,
    status=enum("ACTIVE", "COMPLETED", "INVALID", "PENDING", "RESERVATION"),
    last_updated=DATETIME,
)
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
    coordinates=GEO_LOCATION,
    evse_uid=cistring(36),
    evse_id=cistring(48),
    connector_id=cistring(36),
    connector_standard=enum(*CONNECTOR_TYPES),
    connector_format=CONNECTOR_FORMAT,
    connector_power_type=POWER_TYPE,
)
SIGNED_DATA = obj(
    ["encoding_method", "signed_values"],
    encoding_method=cistring(36),
    encoding_method_version=INTEGER,
    public_key=string(512),
    signed_values=array(
        obj(
            ["nature", "plain_data", "signed_data"],
            nature=cistring(32),
            plain_data=string(512),
            signed_data=string(5000),
        ),
        min_items=1,
    ),
    url=string(512),
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
    auth_method=AUTH_METHOD,
    authorization_reference=cistring(36),
    cdr_location=CDR_LOCATION,
    meter_id=string(255),
    currency=string(3),
    tariffs=array(TARIFF),
    charging_periods=array(charging_period(*CDR_DIMENSIONS), min_items=1),
    signed_data=SIGNED_DATA,
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
    credit=BOOLEAN,
    credit_reference_id=cistring(39),
    home_charging_compensation=BOOLEAN,
    last_updated=DATETIME,
)

# -- tokens, commands, charging profiles, hub client info --------------------------------

LOCATION_REFERENCES = obj(["location_id"], location_id=cistring(36), evse_uids=array(cistring(36)))
COMMAND_RESPONSE = obj(
    ["result", "timeout"],
    result=enum("NOT_SUPPORTED", "REJECTED", "ACCEPTED", "UNKNOWN_SESSION"),
    timeout={"type": "integer", "minimum": 0},
    message=array(DISPLAY_TEXT),
)
COMMAND_RESULT = obj(
    ["result"],
    result=enum(
        "ACCEPTED",
        "CANCELED_RESERVATION",
        "EVSE_OCCUPIED",
        "EVSE_INOPERATIVE",
        "FAILED",
        "NOT_SUPPORTED",
        "REJECTED",
        "TIMEOUT",
        "UNKNOWN_RESERVATION",
    ),
    message=array(DISPLAY_TEXT),
)
CHARGING_PROFILE_RESPONSE = obj(
    ["result", "timeout"],
    result=enum("ACCEPTED", "NOT_SUPPORTED", "REJECTED", "TOO_OFTEN", "UNKNOWN_SESSION"),
    timeout={"type": "integer", "minimum": 0},
)
CHARGING_PROFILE_RESULT_TYPE = enum("ACCEPTED", "REJECTED", "UNKNOWN")
CHARGING_PROFILE = obj(
    ["charging_rate_unit"],
    start_date_time=DATETIME,
    duration=INTEGER,
    charging_rate_unit=enum("W", "A"),
    min_charging_rate=NUMBER,
    charging_profile_period=array(obj(["start_period", "limit"], start_period=INTEGER, limit=NUMBER)),
)
ACTIVE_CHARGING_PROFILE = obj(
    ["start_date_time", "charging_profile"], start_date_time=DATETIME, charging_profile=CHARGING_PROFILE
)
ACTIVE_CHARGING_PROFILE_RESULT = obj(["result"], result=CHARGING_PROFILE_RESULT_TYPE, profile=ACTIVE_CHARGING_PROFILE)
CHARGING_PROFILE_RESULT = obj(["result"], result=CHARGING_PROFILE_RESULT_TYPE)
CLEAR_PROFILE_RESULT = obj(["result"], result=CHARGING_PROFILE_RESULT_TYPE)
CLIENT_INFO = obj(
    ["party_id", "country_code", "role", "status", "last_updated"],
    party_id=cistring(3),
    country_code=cistring(2),
    role=ROLE,
    status=enum("CONNECTED", "OFFLINE", "PLANNED", "SUSPENDED"),
    last_updated=DATETIME,
)

# -- the envelope --------------------------------------------------------------------------

ENVELOPE = obj(
    ["status_code", "timestamp"],
    data={"type": ["array", "object", "string", "null"]},
    status_code={"type": "integer", "minimum": 1000, "maximum": 4999},
    status_message=string(512),
    timestamp=DATETIME,
)

Check = Callable[[Any], Any]

check_version = fastjsonschema.compile(VERSION)
check_versions = fastjsonschema.compile(array(VERSION, min_items=1))
check_version_details = fastjsonschema.compile(VERSION_DETAILS)
check_credentials = fastjsonschema.compile(CREDENTIALS)
check_location = fastjsonschema.compile(LOCATION)
check_location_patch = fastjsonschema.compile(partial(LOCATION))
check_evse = fastjsonschema.compile(EVSE)
check_evse_patch = fastjsonschema.compile(partial(EVSE))
check_connector = fastjsonschema.compile(CONNECTOR)
check_connector_patch = fastjsonschema.compile(partial(CONNECTOR))
check_tariff = fastjsonschema.compile(TARIFF)
check_session = fastjsonschema.compile(SESSION)
check_session_patch = fastjsonschema.compile(partial(SESSION))
check_cdr = fastjsonschema.compile(CDR)
check_location_references = fastjsonschema.compile(LOCATION_REFERENCES)
check_command_response = fastjsonschema.compile(COMMAND_RESPONSE)
check_command_result = fastjsonschema.compile(COMMAND_RESULT)
check_charging_profile_response = fastjsonschema.compile(CHARGING_PROFILE_RESPONSE)
check_active_charging_profile = fastjsonschema.compile(ACTIVE_CHARGING_PROFILE)
check_active_charging_profile_result = fastjsonschema.compile(ACTIVE_CHARGING_PROFILE_RESULT)
check_charging_profile_result = fastjsonschema.compile(CHARGING_PROFILE_RESULT)
check_clear_profile_result = fastjsonschema.compile(CLEAR_PROFILE_RESULT)
check_client_info = fastjsonschema.compile(CLIENT_INFO)
check_envelope = fastjsonschema.compile(ENVELOPE)


def schema_of_received(module: str, method: str, path: list[str]) -> Check | None:
    """The check of a body a CPO sends to an eMSP's ``module`` (``path``: the URL's parts
    after the module), or None when that call carries no body to check (GET, DELETE)."""
    depth = len(path)  # country_code / party_id / object id [/ evse_uid [/ connector_id]]
    if module == "locations" and method in ("PUT", "PATCH"):
        kind = {3: "location", 4: "evse", 5: "connector"}.get(depth)
        checks = {
            ("location", "PUT"): check_location,
            ("location", "PATCH"): check_location_patch,
            ("evse", "PUT"): check_evse,
            ("evse", "PATCH"): check_evse_patch,
            ("connector", "PUT"): check_connector,
            ("connector", "PATCH"): check_connector_patch,
        }
        return checks.get((kind or "", method))
    return {
        ("sessions", "PUT"): check_session,
        ("sessions", "PATCH"): check_session_patch,
        ("tariffs", "PUT"): check_tariff,
        ("cdrs", "POST"): check_cdr,
        ("credentials", "POST"): check_credentials,
        ("credentials", "PUT"): check_credentials,
        ("commands", "POST"): check_command_result,
        ("chargingprofiles", "POST"): _charging_profile_result(path),
        ("chargingprofiles", "PUT"): check_active_charging_profile,
        ("hubclientinfo", "PUT"): check_client_info,
    }.get((module, method))


def _charging_profile_result(path: list[str]) -> Check:
    # A response_url is the eMSP's own: the fake eMSP's name the request ("active", "set",
    # "clear") first.
    return {
        "active": check_active_charging_profile_result,
        "clear": check_clear_profile_result,
    }.get(path[0].lower() if path else "", check_charging_profile_result)


def received_problem(module: str, method: str, path: list[str], body: Any) -> str | None:
    """What is wrong with ``body`` by the 2.2.1 schemas (None: nothing, or not checked).
    The tokens authorize POST carries LocationReferences or nothing."""
    if module == "tokens" and method == "POST":
        check: Check | None = check_location_references if body is not None else None
    else:
        check = schema_of_received(module, method, path)
    if check is None:
        return None
    try:
        check(body)
    except fastjsonschema.JsonSchemaValueException as exc:
        return f"{module} {method} {'/'.join(path)}: {exc.message}"
    return None
