"""Remote control end-to-end: HTTP API -> bus -> bridge -> simulated charger -> answer,
in both OCPP versions; offline, timeout, CALLERROR, invalid requests, queueing, audit."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from app.chargers.errors import ChargerTimeout
from app.chargers.service import ChargerService
from app.core.bus import InProcessBus
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import HttpSettings, Settings
from app.main import create_app
from app.runner import _EmbeddedServer
from app.sessions.commands import CommandService
from devtools.simulator import SimConfig, SimulatedCharger
from ocpp_bridge.protocol import Version
from ocpp_bridge.server import Bridge, create_bridge
from tests.e2e.ocpp_helpers import PASSWORD, charge_point, transactions
from tests.e2e.test_restart import free_port
from tests.support import RawCharger, create_staff

OPERATOR = ("ops@commands.test", "ops-password-123")
TAG = "CMD-TAG"


@dataclass
class Stack:
    settings: Settings
    http: httpx.AsyncClient
    bridge: Bridge
    bus: InProcessBus
    maker: Any
    headers: dict[str, str]
    # The operator user's company: the chargers the tests register are its own.
    tenant_id: uuid.UUID

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.bridge.port}/ocpp"

    async def command(self, charger_id: Any, name: str, body: Any = None) -> httpx.Response:
        return await self.http.post(
            f"/api/v1/operator/chargers/{charger_id}/commands/{name}", json=body or {}, headers=self.headers
        )

    async def ok(self, charger_id: Any, name: str, body: Any = None) -> dict[str, Any]:
        r = await self.command(charger_id, name, body)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        assert out["outcome"] == "answered"
        return out


@pytest.fixture(scope="module")
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    port = free_port()
    settings = dataclasses.replace(
        settings,
        http=HttpSettings(port=port, public_base_url=f"http://127.0.0.1:{port}"),
        ocpp=dataclasses.replace(settings.ocpp, command_timeout_s=10.0, push_boot_config=True),
    )
    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    bus = InProcessBus()
    await bus.start()
    bridge = create_bridge(settings.ocpp, maker, bus)
    await bridge.start()
    app = create_app(settings, engine=engine, bus=bus)
    server = _EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    async with maker() as db:
        staff = await create_staff(db, *OPERATOR)
    await add_token_via(maker, TAG)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        token = (await http.post("/api/v1/auth/token", json={"email": OPERATOR[0], "password": OPERATOR[1]})).json()
        headers = {"Authorization": f"Bearer {token['accessToken']}"}
        assert staff.operator_id is not None
        yield Stack(settings, http, bridge, bus, maker, headers, staff.operator_id)
    server.should_exit = True
    await serving
    await bridge.close()
    await bus.close()
    await engine.dispose()


async def register(stack: Stack, identity: str | None = None, evses: int = 1) -> str:
    """A charger of the operator user's company."""
    identity = identity or f"CP-{uuid.uuid4().hex[:8]}"
    async with stack.maker() as db:
        await ChargerService(db, stack.bus, tenant_id=stack.tenant_id).register(identity, PASSWORD, evse_count=evses)
    return identity


async def add_token_via(maker: Any, token: str) -> None:
    from app.drivers.models import IdToken

    async with maker() as db:
        db.add(IdToken(token=token, status="Accepted"))
        await db.commit()


async def sim(stack: Stack, version: str, **kwargs: Any) -> tuple[SimulatedCharger, Any]:
    identity = await register(stack, evses=2)
    config = SimConfig(
        url=stack.ocpp_url,
        identity=identity,
        password=PASSWORD,
        version=version,
        id_tag=TAG,
        meter_interval_s=0.05,
        connectors=2,
        **kwargs,
    )
    charger = SimulatedCharger(config)
    await charger.connect()
    await charger.boot()
    cp = await charger_row(stack, identity)
    return charger, cp.id


async def charger_row(stack: Stack, identity: str) -> Any:
    return await charge_point(stack, identity)


async def eventually(predicate: Any, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not await predicate():
            await asyncio.sleep(0.05)


VERSIONS = ["1.6", "2.0.1"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_boot_configuration_is_pushed_and_audited(stack: Stack, version: str) -> None:
    charger, cp_id = await sim(stack, version)

    async def pushed() -> bool:
        r = await stack.http.get(f"/api/v1/operator/chargers/{cp_id}/commands", headers=stack.headers)
        items = r.json()["items"]
        return bool(items) and all(i["outcome"] == "answered" for i in items)

    await eventually(pushed)
    items = (await stack.http.get(f"/api/v1/operator/chargers/{cp_id}/commands", headers=stack.headers)).json()["items"]
    assert {i["origin"] for i in items} == {"boot-configuration"}
    assert all(i["status"] == "Accepted" for i in items), items
    await charger.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_remote_start_then_remote_stop(stack: Stack, version: str) -> None:
    charger, cp_id = await sim(stack, version)
    started = await stack.ok(cp_id, "remote-start", {"idToken": TAG, "evse": 1})
    assert started["status"] == "Accepted"

    async def active() -> bool:
        return any(t.status == "active" for t in await transactions(stack, charger.config.identity))

    await eventually(active)
    [tx] = await transactions(stack, charger.config.identity)
    stopped = await stack.ok(cp_id, "remote-stop", {"transactionId": str(tx.id)})
    assert stopped["status"] == "Accepted"

    async def done() -> bool:
        return all(t.status == "completed" for t in await transactions(stack, charger.config.identity))

    await eventually(done)
    [tx] = await transactions(stack, charger.config.identity)
    assert tx.stop_reason == "Remote"
    again = await stack.command(cp_id, "remote-stop", {"transactionId": str(tx.id)})
    assert again.status_code == 409 and again.json()["code"] == "transaction.not_active"
    await charger.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_every_command_is_answered(stack: Stack, version: str) -> None:
    charger, cp_id = await sim(stack, version)
    soon = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    common: list[tuple[str, dict[str, Any], set[str]]] = [
        ("unlock-connector", {"evse": 1}, {"Unlocked"}),
        ("change-availability", {"evse": 2, "operative": False}, {"Accepted", "Scheduled"}),
        ("change-availability", {"evse": 2, "operative": True}, {"Accepted", "Scheduled"}),
        ("trigger-message", {"message": "Heartbeat"}, {"Accepted"}),
        ("trigger-message", {"message": "StatusNotification", "evse": 1}, {"Accepted"}),
        ("clear-cache", {}, {"Accepted"}),
        ("send-local-list", {"version": 3, "entries": [{"idToken": "LOCAL-1"}]}, {"Accepted"}),
        ("get-local-list-version", {}, {"Accepted"}),
        ("set-charging-profile", {"evse": 1, "limit": 7400.5, "unit": "W", "purpose": "TxDefault"}, {"Accepted"}),
        ("get-composite-schedule", {"evse": 1, "durationS": 600}, {"Accepted"}),
        ("clear-charging-profile", {"profileId": 1}, {"Accepted"}),
        ("reserve-now", {"idToken": TAG, "evse": 2, "expiresAt": soon, "reservationId": 77}, {"Accepted"}),
        ("cancel-reservation", {"reservationId": 77}, {"Accepted"}),
        ("data-transfer", {"vendorId": "com.example"}, {"UnknownVendorId"}),
        ("update-firmware", {"location": "https://firmware.example/fw-2.bin"}, {"Accepted"}),
    ]
    per_version: dict[str, list[tuple[str, dict[str, Any], set[str]]]] = {
        "1.6": [
            ("get-configuration", {"keys": ["HeartbeatInterval"]}, {"Accepted"}),
            ("change-configuration", {"key": "MeterValueSampleInterval", "value": "30"}, {"Accepted"}),
        ],
        "2.0.1": [
            (
                "get-variables",
                {"variables": [{"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"}]},
                {"Accepted"},
            ),
            (
                "set-variables",
                {"variables": [{"component": "SampledDataCtrlr", "variable": "TxUpdatedInterval", "value": "30"}]},
                {"Accepted"},
            ),
            ("get-base-report", {"reportBase": "SummaryInventory"}, {"Accepted"}),
        ],
    }
    for name, body, statuses in common + per_version[version]:
        out = await stack.ok(cp_id, name, body)
        assert out["status"] in statuses, (name, out)
    if version == "1.6":
        assert (await stack.ok(cp_id, "get-local-list-version"))["data"]["listVersion"] == 3
    else:
        assert (await stack.ok(cp_id, "get-local-list-version"))["data"]["versionNumber"] == 3
    # A reset reboots the charger: it comes back with a new BootNotification.
    boots_before = len(charger.sent_actions("BootNotification"))
    assert (await stack.ok(cp_id, "reset", {"kind": "hard"}))["status"] == "Accepted"

    async def rebooted() -> bool:
        return len(charger.sent_actions("BootNotification")) > boots_before

    await eventually(rebooted, 15)
    await charger.close()


@pytest.mark.parametrize("version", VERSIONS)
async def test_diagnostics_upload_is_stored_on_the_charger(stack: Stack, version: str) -> None:
    charger, cp_id = await sim(stack, version)
    out = await stack.ok(cp_id, "get-diagnostics", {})
    assert out["status"] == "Accepted"
    # The URL's token is the upload's only credential: the audit log keeps it redacted;
    # the charger got the real one (its upload below arrives).
    assert out["args"]["uploadUrl"] == f"{stack.settings.http.public_base_url}/uploads/diagnostics/***"
    log = await stack.http.get(f"/api/v1/operator/chargers/{cp_id}/commands", headers=stack.headers)
    [listed] = [c for c in log.json()["items"] if c["id"] == out["id"]]
    assert listed["args"]["uploadUrl"].endswith("/uploads/diagnostics/***")

    async def uploaded() -> bool:
        r = await stack.http.get(f"/api/v1/operator/chargers/{cp_id}/diagnostics", headers=stack.headers)
        return any(f["uploadedAt"] for f in r.json()["items"])

    await eventually(uploaded)
    [f] = (await stack.http.get(f"/api/v1/operator/chargers/{cp_id}/diagnostics", headers=stack.headers)).json()[
        "items"
    ]
    assert f["commandId"] == out["id"] and f["sizeBytes"] > 0
    content = await stack.http.get(
        f"/api/v1/operator/chargers/{cp_id}/diagnostics/{f['id']}/content", headers=stack.headers
    )
    assert content.status_code == 200 and len(content.content) == f["sizeBytes"]
    # (A used URL answers 409: tests/e2e/test_uploads_bounded.py.)
    unknown = await stack.http.put("/uploads/diagnostics/not-a-real-token", content=b"x")
    assert unknown.status_code == 404
    await charger.close()


async def test_unsupported_and_invalid_requests(stack: Stack) -> None:
    charger16, cp16 = await sim(stack, "1.6")
    charger201, cp201 = await sim(stack, "2.0.1")
    r = await stack.command(cp16, "get-variables", {"variables": [{"component": "X", "variable": "Y"}]})
    assert r.status_code == 422 and r.json()["code"] == "command.unsupported"
    r = await stack.command(cp201, "get-configuration", {})
    assert r.status_code == 422 and r.json()["code"] == "command.unsupported"
    r = await stack.command(cp16, "reset", {"kind": "gentle"})
    assert r.status_code == 422 and r.json()["code"] == "request.invalid" and r.json()["field"] == "kind"
    r = await stack.command(cp16, "unlock-connector", {"evse": 1, "colour": "red"})
    assert r.status_code == 422 and r.json()["field"] == "colour"
    r = await stack.command(cp16, "teleport", {})
    assert r.status_code == 404
    r = await stack.command(cp16, "change-configuration", {"key": "K" * 51, "value": "1"})
    assert r.status_code == 422 and r.json()["field"] == "key"
    r = await stack.command(cp16, "remote-stop", {"transactionId": "00000000-0000-0000-0000-000000000000"})
    assert r.status_code == 404 and r.json()["code"] == "transaction.not_found"
    await charger16.close()
    await charger201.close()


async def test_offline_charger_is_409_and_audited(stack: Stack) -> None:
    identity = await register(stack)
    cp = await charger_row(stack, identity)
    r = await stack.command(cp.id, "clear-cache")
    assert r.status_code == 409 and r.json()["code"] == "charger.offline"
    history = (await stack.http.get(f"/api/v1/operator/chargers/{cp.id}/commands", headers=stack.headers)).json()
    assert history["items"][0]["outcome"] == "offline"
    assert history["items"][0]["id"] == r.json()["commandId"]


async def test_callerror_from_the_charger_is_502(stack: Stack) -> None:
    identity = await register(stack)
    cp = await charger_row(stack, identity)
    raw = await RawCharger.open(stack.ocpp_url, identity, PASSWORD, Version.V16)
    pending = asyncio.create_task(stack.command(cp.id, "clear-cache"))
    # Read the CALL the CSMS sent and answer it with a CALLERROR.
    import json

    frame = json.loads(await asyncio.wait_for(raw.ws.recv(), 10))
    assert frame[0] == 2 and frame[2] == "ClearCache"
    await raw.ws.send(json.dumps([4, frame[1], "InternalError", "cache locked", {}]))
    r = await pending
    assert r.status_code == 502, r.text
    body = r.json()
    assert body["code"] == "charger.error" and body["ocppErrorCode"] == "InternalError"
    await raw.close()
    # The charger may have acted before it failed: the attempt is in the audit log.
    audit = await stack.http.get("/api/v1/operator/audit-log", params={"action": "SendCommand"}, headers=stack.headers)
    entry = next(e for e in audit.json()["items"] if e["details"].get("charger_id") == str(cp.id))
    assert (entry["statusCode"], entry["method"], entry["details"]["name"]) == (502, "POST", "clear-cache")


async def test_timeout_is_504_and_the_charger_is_still_answered(stack: Stack) -> None:
    """A command waits on a charger that never answers; its own messages are answered meanwhile."""
    identity = await register(stack)
    cp = await charger_row(stack, identity)
    raw = await RawCharger.open(stack.ocpp_url, identity, PASSWORD, Version.V16)
    async with stack.maker() as db:
        service = CommandService(db, stack.bus, public_base_url="http://x", timeout_s=1.0)
        waiting = asyncio.create_task(service.send(cp.id, "clear-cache", {}))
        # While the command waits, the charger's own calls get their answers (no deadlock).
        # The CALL may come after the first answer (its audit entry is committed first).
        async with asyncio.timeout(10):
            while not raw.incoming_calls:
                assert (await raw.ok("Heartbeat", {}))["currentTime"]
        assert raw.incoming_calls[0][2] == "ClearCache"
        with pytest.raises(ChargerTimeout):
            await waiting
    await raw.close()


async def test_concurrent_commands_to_a_slow_charger_queue_in_order(stack: Stack) -> None:
    charger, cp_id = await sim(stack, "1.6", slow_answers_s=0.3)
    names = ["clear-cache", "get-local-list-version", "trigger-message", "clear-cache"]
    bodies: list[dict[str, Any]] = [{}, {}, {"message": "Heartbeat"}, {}]
    results = await asyncio.gather(*(stack.command(cp_id, n, b) for n, b in zip(names, bodies, strict=True)))
    assert [r.status_code for r in results] == [200] * 4
    # The charger saw them one at a time (one outstanding CALL), each answered.
    received = [
        action for action, _ in charger.received if action in {"ClearCache", "GetLocalListVersion", "TriggerMessage"}
    ]
    assert sorted(received) == sorted(["ClearCache", "GetLocalListVersion", "TriggerMessage", "ClearCache"])
    # Its own messages kept flowing meanwhile.
    assert (await charger.heartbeat())["currentTime"]
    await charger.close()


async def test_boot_configuration_is_not_pushed_again_when_nothing_changed(stack: Stack) -> None:
    charger, cp_id = await sim(stack, "1.6")

    async def entries() -> list[dict[str, Any]]:
        r = await stack.http.get(f"/api/v1/operator/chargers/{cp_id}/commands", headers=stack.headers)
        return list(r.json()["items"])

    async def pushed() -> bool:
        return len(await entries()) == 3

    await eventually(pushed)
    before_reboot = len(charger.received)
    await charger.reboot()
    await charger.heartbeat()  # the reboot's boot reply, and anything after it, have been handled
    # A command waits behind any CALL the bridge already makes to this charger (one at a time),
    # so once it is answered a push started by the reboot would have reached the charger.
    await stack.ok(cp_id, "clear-cache")
    assert [action for action, _ in charger.received[before_reboot:]] == ["ClearCache"]
    assert len([e for e in await entries() if e["origin"] == "boot-configuration"]) == 3
    await charger.close()


async def test_boot_configuration_is_pushed_again_until_the_charger_applies_all_of_it(stack: Stack) -> None:
    identity = await register(stack, evses=2)
    charger = SimulatedCharger(
        SimConfig(url=stack.ocpp_url, identity=identity, password=PASSWORD, version="1.6", id_tag=TAG, connectors=2)
    )
    charger.settings["HeartbeatInterval"].mutability = "ReadOnly"
    await charger.connect()
    await charger.boot()
    cp_id = (await charger_row(stack, identity)).id

    async def pushes() -> list[str | None]:
        """Answer statuses of the boot configuration calls, newest first."""
        r = await stack.http.get(f"/api/v1/operator/chargers/{cp_id}/commands", headers=stack.headers)
        return [i["status"] for i in r.json()["items"] if i["origin"] == "boot-configuration"]

    async def pushed_once() -> bool:
        return len(await pushes()) == 3

    await eventually(pushed_once)
    assert sorted(await pushes(), key=str) == ["Accepted", "Accepted", "Rejected"]
    # One setting was refused, so the profile is not the charger's yet: the next boot
    # pushes it again (test_boot_configuration_is_not_pushed_again_when_nothing_changed
    # covers the boot after a profile applied in full).
    charger.settings["HeartbeatInterval"].mutability = "ReadWrite"
    await charger.reboot()

    async def pushed_again() -> bool:
        return len(await pushes()) >= 6

    await eventually(pushed_again)
    assert (await pushes())[:3] == ["Accepted"] * 3
    await charger.close()
