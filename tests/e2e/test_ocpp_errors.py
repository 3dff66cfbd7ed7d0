"""Bad input: each class gets the CALLERROR code the spec names, nothing is stored,
and the connection stays up."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select

from app.sessions.models import Transaction
from ocpp_bridge.protocol import Version
from tests.conftest import System
from tests.e2e.ocpp_helpers import PASSWORD, register
from tests.support import RawCharger, close_code

GOOD_STATUS_16 = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
GOOD_STATUS_201 = {"timestamp": "2026-01-01T00:00:00Z", "connectorStatus": "Available", "evseId": 1, "connectorId": 1}

CASES_16 = [
    ("missing field", "StatusNotification", {"connectorId": 1, "errorCode": "NoError"}, "OccurenceConstraintViolation"),
    ("wrong type", "StatusNotification", {**GOOD_STATUS_16, "connectorId": "one"}, "TypeConstraintViolation"),
    ("bad enum", "StatusNotification", {**GOOD_STATUS_16, "status": "Sleeping"}, "PropertyConstraintViolation"),
    ("unknown property", "StatusNotification", {**GOOD_STATUS_16, "colour": "red"}, "FormationViolation"),
    ("over-long string", "StatusNotification", {**GOOD_STATUS_16, "info": "x" * 51}, "PropertyConstraintViolation"),
    (
        "bad timestamp",
        "StatusNotification",
        {**GOOD_STATUS_16, "timestamp": "yesterday"},
        "PropertyConstraintViolation",
    ),
    (
        "non-numeric meter value",
        "MeterValues",
        {"connectorId": 1, "meterValue": [{"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "lots"}]}]},
        "PropertyConstraintViolation",
    ),
    ("unknown action", "Teleport", {}, "NotImplemented"),
    ("CSMS-only action", "RemoteStartTransaction", {"idTag": "x"}, "NotSupported"),
]
CASES_201 = [
    (
        "missing field",
        "StatusNotification",
        {k: v for k, v in GOOD_STATUS_201.items() if k != "evseId"},
        "OccurrenceConstraintViolation",
    ),
    ("wrong type", "StatusNotification", {**GOOD_STATUS_201, "evseId": "1"}, "TypeConstraintViolation"),
    (
        "bad enum",
        "StatusNotification",
        {**GOOD_STATUS_201, "connectorStatus": "Charging"},
        "PropertyConstraintViolation",
    ),
    ("unknown property", "StatusNotification", {**GOOD_STATUS_201, "colour": "red"}, "FormatViolation"),
    (
        "over-long string",
        "Authorize",
        {"idToken": {"idToken": "x" * 37, "type": "ISO14443"}},
        "PropertyConstraintViolation",
    ),
    ("unknown action", "Teleport", {}, "NotImplemented"),
    (
        "CSMS-only action",
        "RequestStartTransaction",
        {"idToken": {"idToken": "x", "type": "Central"}, "remoteStartId": 1},
        "NotSupported",
    ),
]


@pytest.mark.parametrize(("case", "action", "payload", "code"), CASES_16, ids=[c[0] for c in CASES_16])
async def test_v16_bad_payloads(system: System, case: str, action: str, payload: dict[str, object], code: str) -> None:
    identity = await register(system)
    cp = await RawCharger.open(system.ocpp_url, identity, PASSWORD, Version.V16)
    got, description = await cp.error(action, payload)
    assert got == code, description
    # The connection is still usable.
    assert (await cp.ok("Heartbeat", {}))["currentTime"]
    await cp.close()


@pytest.mark.parametrize(("case", "action", "payload", "code"), CASES_201, ids=[c[0] for c in CASES_201])
async def test_v201_bad_payloads(system: System, case: str, action: str, payload: dict[str, object], code: str) -> None:
    identity = await register(system)
    cp = await RawCharger.open(system.ocpp_url, identity, PASSWORD, Version.V201)
    got, description = await cp.error(action, payload)
    assert got == code, description
    assert (await cp.ok("Heartbeat", {}))["currentTime"]
    await cp.close()


@pytest.mark.parametrize(("version", "code"), [(Version.V16, "FormationViolation"), (Version.V201, "FormatViolation")])
async def test_malformed_json_gets_formation_violation(system: System, version: Version, code: str) -> None:
    identity = await register(system)
    cp = await RawCharger.open(system.ocpp_url, identity, PASSWORD, version)
    reply = await cp.send_raw('[2, "abc", "Heartbeat", {')
    assert reply[0] == 4 and reply[1] == "-1" and reply[2] == code
    reply = await cp.send_raw('[2, "abc", "Heartbeat", []]')
    assert reply[:3] == [4, "abc", code]
    reply = await cp.send_raw('{"not": "a frame"}')
    assert reply[0] == 4 and reply[1] == "-1"
    assert (await cp.ok("Heartbeat", {}))["currentTime"]
    await cp.close()


async def test_v201_unknown_message_type(system: System) -> None:
    identity = await register(system)
    cp = await RawCharger.open(system.ocpp_url, identity, PASSWORD, Version.V201)
    reply = await cp.send_raw('[7, "abc", "Heartbeat", {}]')
    assert reply[:3] == [4, "abc", "MessageTypeNotSupported"]
    await cp.close()


async def test_invalid_start_stores_nothing(system: System) -> None:
    identity = await register(system)
    cp = await RawCharger.open(system.ocpp_url, identity, PASSWORD, Version.V16)
    code, _ = await cp.error(
        "StartTransaction", {"connectorId": 1, "idTag": "x" * 21, "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"}
    )
    code0, _ = await cp.error(
        "StartTransaction", {"connectorId": 0, "idTag": "T", "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"}
    )
    await cp.close()
    assert code == code0 == "PropertyConstraintViolation"
    async with system.maker() as db:
        count = await db.scalar(select(func.count()).select_from(Transaction).where(Transaction.id_token == "T"))
    assert count == 0


async def test_oversized_frame_closes_only_that_charger(system: System) -> None:
    flood_id, calm_id = await register(system), await register(system)
    big = await RawCharger.open(system.ocpp_url, flood_id, PASSWORD, Version.V16)
    calm = await RawCharger.open(system.ocpp_url, calm_id, PASSWORD, Version.V16)
    payload = {"vendorId": "x", "data": "y" * (system.settings.ocpp.max_frame_bytes + 10)}
    await big.ws.send(json.dumps([2, "1", "DataTransfer", payload]))
    assert await close_code(big.ws) == 1009
    assert (await calm.ok("Heartbeat", {}))["currentTime"]
    await calm.close()


async def test_flooding_charger_does_not_starve_another(system: System) -> None:
    flood_id, calm_id = await register(system), await register(system)
    flood = await RawCharger.open(system.ocpp_url, flood_id, PASSWORD, Version.V16)
    calm = await RawCharger.open(system.ocpp_url, calm_id, PASSWORD, Version.V16)
    # Hundreds of calls without waiting for answers (a misbehaving charger).
    for i in range(120):
        await flood.ws.send(json.dumps([2, f"f{i}", "Heartbeat", {}]))
    # The well-behaved charger is answered while the flood is still being worked off.
    assert (await calm.ok("Heartbeat", {}))["currentTime"]
    answered = 0
    while answered < 120:
        frame = json.loads(await asyncio.wait_for(flood.ws.recv(), 30))
        answered += frame[0] == 3
    await calm.close()
    await flood.close()
