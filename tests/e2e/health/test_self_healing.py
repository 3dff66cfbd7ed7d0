"""Detection and self-healing together, as a newcomer sees them: a simulated charger reports
a fault, an incident opens with its diagnosis, the playbook resets the charger, the charger
comes back healthy and the incident resolves by itself, with the reset in its trail."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.core.settings import HealthSettings, Settings
from app.health.models import Incident
from tests.e2e.health.health_stack import OFFLINE_GRACE_S, HealthStack, eventually, running_health_stack

# What the detectors and playbooks make of events; the incidents' storage is checked on
# both databases by health/test_incidents.py.
pytestmark = pytest.mark.one_database


@pytest.fixture(scope="module")
async def healing(settings: Settings) -> AsyncIterator[HealthStack]:
    health = HealthSettings(
        offline_grace_s=OFFLINE_GRACE_S,
        site_window_s=1.0,
        tick_interval_s=0.2,
        playbook_verify_s=2.0,
        diagnostics_wait_s=5.0,
    )
    async with running_health_stack(settings, health) as stack:
        yield stack


async def test_an_internal_error_is_healed_by_a_reset_and_resolves_itself(healing: HealthStack) -> None:
    _, [identity] = await healing.site(1, prefix="HEAL")
    sim = await healing.charger(identity)
    await sim.fault(1, "InternalError", "watchdog")

    async def resolved() -> Incident | None:
        found = await healing.incidents(identity=identity)
        return found[0] if found and found[0].state == "resolved" else None

    # The reset reboots the simulator; after its boot it reports Available: healthy again.
    incident = await eventually(resolved, "the incident resolves after the reset")
    assert incident.cause == "internal_firmware" and incident.resolution == "automatic"
    assert any(action == "Reset" for action, _ in sim.received)
    headers = await healing.operator_headers()
    async with httpx.AsyncClient(base_url=healing.base_url, headers=headers) as http:
        detail = (await http.get(f"/api/v1/operator/incidents/{incident.id}")).json()
        commands = (await http.get(f"/api/v1/operator/chargers/{await _charger_id(healing, identity)}/commands")).json()
    actions = [e for e in detail["trail"] if e["kind"] == "action"]
    # First the evidence: the charger's diagnostics, uploaded and attached; then the reset.
    assert [a["data"]["step"] for a in actions] == ["collect_diagnostics", "soft_reset"]
    assert actions[0]["data"]["outcome"] == "answered:Accepted"
    assert actions[1]["data"]["outcome"] == "answered:Accepted"
    [attached] = detail["diagnostics"]
    assert attached["fileId"] == actions[0]["data"]["fileId"] and attached["uploadedAt"] is not None
    assert any(e["kind"] == "note" and e["data"].get("uploaded") for e in detail["trail"])
    async with httpx.AsyncClient(base_url=healing.base_url, headers=headers) as http:
        log = await http.get(attached["contentUrl"])
    assert log.status_code == 200 and len(log.content) == attached["sizeBytes"] > 0
    names = [c["name"] for c in commands["items"] if c["origin"] == "health"]
    assert "get-diagnostics" in names and "reset" in names


async def _charger_id(stack: HealthStack, identity: str) -> str:
    from sqlalchemy import select

    from app.chargers.models import ChargePoint

    async with stack.maker() as db:
        return str(await db.scalar(select(ChargePoint.id).where(ChargePoint.identity == identity)))


async def test_the_fault_scenario_is_healed_through_the_cli(healing: HealthStack) -> None:
    """`laddnat simulate --scenario fault`, as the README suggests against `make run`."""
    import argparse
    import asyncio
    import contextlib

    from devtools.simulator.cli import add_cli_arguments, build_configs, run_charger, scenario_fault
    from tests.e2e.ocpp_helpers import PASSWORD

    _, [identity] = await healing.site(1, prefix="CLI")
    parser = argparse.ArgumentParser()
    add_cli_arguments(parser)
    url = f"ws://127.0.0.1:{healing.bridge_port}/ocpp"
    args = parser.parse_args(
        [
            "--url",
            url,
            "--identity",
            identity,
            "--password",
            PASSWORD,
            "--scenario",
            "fault",
            "--error-code",
            "InternalError",
        ]
    )
    running = asyncio.create_task(run_charger(build_configs(args)[0], args, scenario_fault))
    try:

        async def healed() -> Incident | None:
            found = await healing.incidents(identity=identity)
            return found[0] if found and found[0].state == "resolved" else None

        incident = await eventually(healed, "the fault is healed")
        assert incident.cause == "internal_firmware"
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_a_fault_mid_session_reaches_the_drivers_live_stream_and_heals(healing: HealthStack) -> None:
    """The README's walk-through: `laddnat simulate --scenario fault --fault-after S` with the
    driver's card; the driver watches the incident and its end in the app's live stream."""
    import argparse
    import asyncio
    import contextlib
    import json
    import uuid

    from sqlalchemy import select
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosedOK

    from app.chargers.models import ChargePoint
    from app.drivers.models import IdToken
    from app.drivers.service import UserService
    from app.sessions.models import Transaction
    from devtools.simulator.cli import add_cli_arguments, build_configs, run_charger, scenario_fault
    from tests.e2e.ocpp_helpers import PASSWORD

    _, [identity] = await healing.site(1, prefix="WALK")
    email, tag = f"walk-{uuid.uuid4().hex[:6]}@health.test", f"TAG-{uuid.uuid4().hex[:8]}".upper()
    async with healing.maker() as db:
        user = await UserService(db).create_user(email, "driver-password-1", "driver")
        db.add(IdToken(token=tag, status="Accepted", user_id=user.id))
        await db.commit()
    async with httpx.AsyncClient(base_url=healing.base_url) as http:
        login = await http.post("/api/v1/auth/token", json={"email": email, "password": "driver-password-1"})
    headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}

    parser = argparse.ArgumentParser()
    add_cli_arguments(parser)
    where = ["--url", f"ws://127.0.0.1:{healing.bridge_port}/ocpp", "--identity", identity, "--password", PASSWORD]
    fault = ["--scenario", "fault", "--error-code", "InternalError", "--fault-after", "3", "--interval", "0.5"]
    args = parser.parse_args([*where, *fault, "--id-tag", tag])
    running = asyncio.create_task(run_charger(build_configs(args)[0], args, scenario_fault))
    try:

        async def session() -> uuid.UUID | None:
            async with healing.maker() as db:
                return await db.scalar(
                    select(Transaction.id)
                    .join(ChargePoint, ChargePoint.id == Transaction.charge_point_id)
                    .where(ChargePoint.identity == identity)
                )

        tx_id = await eventually(session, "the card session starts")
        live = healing.base_url.replace("http", "ws") + f"/api/v1/sessions/{tx_id}/live"
        seen: list[dict[str, object]] = []
        async with connect(live, additional_headers=headers) as ws, asyncio.timeout(30):
            with contextlib.suppress(ConnectionClosedOK):  # the stream ends with the session
                while True:
                    seen.append(json.loads(await ws.recv()))
        [incident] = [m for m in seen if m["type"] == "incident"]
        assert incident["cause"] == "internal_firmware" and "internal error" in str(incident["message"])
        assert "You pay only for the energy delivered" in str(incident["payment"])
        assert seen.index(incident) < len(seen) - 1  # told before the session's end

        async def healed() -> Incident | None:
            found = await healing.incidents(identity=identity)
            return found[0] if found and found[0].state == "resolved" else None

        resolved = await eventually(healed, "the reset heals it")
        assert resolved.cause == "internal_firmware"
        async with healing.maker() as db:
            tx = await db.get(Transaction, tx_id)
            assert tx is not None and tx.status == "completed"  # the fault ended it; the reset was allowed
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
