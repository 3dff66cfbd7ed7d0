"""The driver app's sessions end to end: start on an EVSE (hold + remote start), watch it live
over a WebSocket and server-sent events, stop it, get the receipt, find it in the history;
the refusals (offline, out of order, in use, unknown EVSE); another driver's session is a
404 on every route that takes its id; a session started with the driver's RFID card shows
up like one started from the app."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.core.settings import StripeSettings
from app.drivers.models import IdToken
from app.drivers.service import UserService
from app.health.events import IncidentOpened
from app.sessions.models import Transaction
from devtools.simulator.cli import add_cli_arguments, build_configs, run_charger, scenario_serve
from tests.e2e.ocpp_helpers import PASSWORD as PASSWORD_CP
from tests.e2e.payments.paid_stack import Stack, eventually, in_status, reached_status, stripe_client

PASSWORD = "driver-password-123"


async def driver(stack: Stack) -> tuple[uuid.UUID, dict[str, str]]:
    email = f"driver-{uuid.uuid4().hex[:8]}@example.test"
    async with stack.maker() as db:
        user = await UserService(db).create_user(email, PASSWORD, "driver")
    async with httpx.AsyncClient(base_url=stack.base_url) as http:
        token = (await http.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})).json()
    return user.id, {"Authorization": f"Bearer {token['accessToken']}"}


async def evse_code(stack: Stack, evse_pk: uuid.UUID) -> str:
    from app.chargers.models import Evse

    async with stack.maker() as db:
        code = await db.scalar(select(Evse.evse_id).where(Evse.id == evse_pk))
    assert code is not None
    return code


async def test_a_session_from_the_app_live_stop_receipt_and_history(
    stack: Stack, stripe_settings: StripeSettings
) -> None:
    site = await stack.site("STR")
    sim = await stack.charger(site)
    _, headers = await driver(stack)
    code = await evse_code(stack, site.evse_id)
    try:
        async with httpx.AsyncClient(base_url=stack.base_url, headers=headers) as http:
            started = await http.post("/api/v1/sessions", json={"evseId": code.lower()})
            assert started.status_code == 201, started.text
            session = started.json()
            assert session["status"] == "pending_payment" and session["kind"] == "paid"
            assert session["payment"]["clientSecret"] and session["payment"]["holdMinor"] == 30_000
            session_id = session["id"]

            ws_url = stack.base_url.replace("http", "ws") + f"/api/v1/sessions/{session_id}/live"
            async with connect(ws_url, additional_headers=headers) as ws:
                first = json.loads(await ws.recv())
                assert first["type"] == "session" and first["session"]["status"] == "pending_payment"
                # The app confirms the PaymentIntent with Stripe's SDK; Stripe notifies us.
                await asyncio.to_thread(
                    stripe_client(stripe_settings).v1.payment_intents.confirm,
                    _intent_id(session["payment"]["clientSecret"]),
                    {"payment_method": "pm_card_visa"},
                )
                charging = await _until(ws, lambda m: m["type"] == "session" and m["session"]["status"] == "charging")
                assert charging["session"]["transactionId"]
                energies: list[float] = []
                for _ in range(3):
                    await sim.send_meter_values(seconds=300)
                    update = await _until(
                        ws,
                        lambda m: (
                            m["type"] == "session" and m["session"]["energyWh"] > (energies[-1] if energies else 0)
                        ),
                    )
                    energies.append(update["session"]["energyWh"])
                    assert update["session"]["costMinor"] > 0 and update["session"]["powerW"]
                assert energies == sorted(energies) and len(set(energies)) == 3

                stopped = await http.post(f"/api/v1/sessions/{session_id}/stop")
                assert stopped.status_code == 200, stopped.text
                final = await _until(
                    ws,
                    lambda m: (
                        m["type"] == "session"
                        and m["session"]["status"] == "finished"
                        and m["session"]["payment"]["status"] == "captured"
                    ),
                )
                with pytest.raises(ConnectionClosed):  # the feed ends with the session
                    await asyncio.wait_for(_drain(ws), 10)
                assert ws.close_code == 1000
            captured = final["session"]["payment"]["capturedMinor"]
            assert captured == final["session"]["costMinor"] > 0

            receipt = await http.get(f"/api/v1/sessions/{session_id}/receipt")
            assert receipt.status_code == 200 and receipt.json()["capturedMinor"] == captured
            pdf = await http.get(f"/api/v1/sessions/{session_id}/receipt.pdf")
            assert pdf.content.startswith(b"%PDF")
            history = (await http.get("/api/v1/sessions")).json()["items"]
            assert [item["id"] for item in history] == [session_id]
            again = await http.post(f"/api/v1/sessions/{session_id}/stop")
            assert again.status_code == 409 and again.json()["code"] == "session.not_active"
    finally:
        await sim.close()
    await in_status(stack, uuid.UUID(session_id), "captured")


async def test_another_drivers_session_is_not_found_on_every_route(
    stack: Stack, stripe_settings: StripeSettings
) -> None:
    site = await stack.site("STR")
    _, owner = await driver(stack)
    _, other = await driver(stack)
    sim = await stack.charger(site)
    try:
        async with httpx.AsyncClient(base_url=stack.base_url) as http:
            started = await http.post(
                "/api/v1/sessions", json={"evseId": await evse_code(stack, site.evse_id)}, headers=owner
            )
            assert started.status_code == 201, started.text
            session_id = started.json()["id"]
            for method, path in [
                ("GET", f"/api/v1/sessions/{session_id}"),
                ("POST", f"/api/v1/sessions/{session_id}/stop"),
                ("GET", f"/api/v1/sessions/{session_id}/receipt"),
                ("GET", f"/api/v1/sessions/{session_id}/receipt.html"),
                ("GET", f"/api/v1/sessions/{session_id}/receipt.pdf"),
                ("GET", f"/api/v1/sessions/{session_id}/events"),
            ]:
                r = await http.request(method, path, headers=other)
                assert r.status_code == 404, (path, r.text)
                assert r.json()["code"] == "session.not_found"
            assert (await http.get("/api/v1/sessions", headers=other)).json()["items"] == []
            unauthenticated = await http.get(f"/api/v1/sessions/{session_id}")
            assert unauthenticated.status_code == 401
        ws_url = stack.base_url.replace("http", "ws") + f"/api/v1/sessions/{session_id}/live"
        async with connect(ws_url, additional_headers=other) as ws:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == 4404
    finally:
        await sim.close()


async def test_sessions_are_refused_where_they_cannot_start(stack: Stack) -> None:
    _, headers = await driver(stack)
    offline = await stack.site("STR")
    faulted = await stack.site("STR")
    busy = await stack.site("STR")
    sim_faulted = await stack.charger(faulted)
    sim_busy = await stack.charger(busy)
    try:
        await sim_faulted.fault(1, "GroundFailure")
        tag = f"RFID-{uuid.uuid4().hex[:8]}".upper()
        async with stack.maker() as db:
            db.add(IdToken(token=tag))
            await db.commit()
        await sim_busy.start_transaction(1, tag)
        await eventually(lambda: _active_transaction(stack, busy.identity), "the RFID session runs")
        async with httpx.AsyncClient(base_url=stack.base_url, headers=headers) as http:
            for site, reason in [(offline, "offline"), (faulted, "out_of_order"), (busy, "in_use")]:
                r = await http.post("/api/v1/sessions", json={"evseId": await evse_code(stack, site.evse_id)})
                assert r.status_code == 409, r.text
                assert r.json()["code"] == "session.evse_unavailable" and r.json()["reason"] == reason
            unknown = await http.post("/api/v1/sessions", json={"evseId": "SE*LAD*E9999*9"})
            assert unknown.status_code == 404 and unknown.json()["code"] == "evse.not_found"
            bad = await http.post("/api/v1/sessions", json={"evseId": "x", "tip": 5})
            assert bad.status_code in (400, 422)
    finally:
        await sim_faulted.close()
        await sim_busy.close()


async def test_a_session_started_with_the_drivers_card_shows_in_the_app(stack: Stack) -> None:
    user_id, headers = await driver(stack)
    tag = f"RFID-{uuid.uuid4().hex[:8]}".upper()
    async with stack.maker() as db:
        db.add(IdToken(token=tag, user_id=user_id))
        await db.commit()
    site = await stack.site("STR")
    sim = await stack.charger(site)
    try:
        await sim.start_transaction(1, tag)
        tx = await eventually(lambda: _active_transaction(stack, site.identity), "the card session starts")
        await sim.send_meter_values(seconds=600)
        async with httpx.AsyncClient(base_url=stack.base_url, headers=headers) as http:
            items = (await http.get("/api/v1/sessions")).json()["items"]
            assert [(i["id"], i["kind"], i["status"]) for i in items] == [(str(tx.id), "token", "charging")]
            async with http.stream("GET", f"/api/v1/sessions/{tx.id}/events") as events:
                assert events.headers["content-type"].startswith("text/event-stream")
                first = await _first_sse(events)
            assert first["type"] == "session" and first["session"]["energyWh"] > 0
            stop = await http.post(f"/api/v1/sessions/{tx.id}/stop")
            assert stop.status_code == 200, stop.text
            done = await eventually(lambda: _finished(http, str(tx.id)), "the card session ends")
            assert done["stopReason"] == "Remote" and done["payment"] is None
    finally:
        await sim.close()


# -- helpers ---------------------------------------------------------------------------


def _intent_id(client_secret: str) -> str:
    return client_secret.split("_secret_")[0]


async def _until(ws: Any, match: Any, timeout_s: float = 30.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        while True:
            message = json.loads(await ws.recv())
            if match(message):
                return message


async def _drain(ws: Any) -> None:
    while True:
        await ws.recv()


async def _first_sse(response: httpx.Response) -> dict[str, Any]:
    async with asyncio.timeout(20):
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                return dict(json.loads(line[5:].strip()))
    raise AssertionError("no event")


async def _active_transaction(stack: Stack, identity: str) -> Transaction | None:
    from app.chargers.models import ChargePoint

    async with stack.maker() as db:
        return await db.scalar(
            select(Transaction)
            .join(ChargePoint, ChargePoint.id == Transaction.charge_point_id)
            .where(ChargePoint.identity == identity, Transaction.status == "active")
        )


async def _finished(http: httpx.AsyncClient, session_id: str) -> dict[str, Any] | None:
    view = (await http.get(f"/api/v1/sessions/{session_id}")).json()
    return dict(view) if view["status"] == "finished" else None


async def test_the_serve_scenario_charges_when_the_app_starts_it(stack: Stack, stripe_settings: StripeSettings) -> None:
    """What `make run` suggests: `laddnat simulate --scenario serve` for a demo charger, then a
    session from the app (or the web checkout) starts it, meters it and stops it."""
    site = await stack.site("STR")
    parser = argparse.ArgumentParser()
    add_cli_arguments(parser)
    charger = ["--url", stack.ocpp_url, "--identity", site.identity, "--password", PASSWORD_CP]
    args = parser.parse_args([*charger, "--scenario", "serve", "--interval", "0.05", "--speed", "60"])
    config = build_configs(args)[0]
    serving = asyncio.create_task(run_charger(config, args, scenario_serve))
    _, headers = await driver(stack)
    try:
        await eventually(lambda: _connected(stack, site.identity), "the simulator is online")
        async with httpx.AsyncClient(base_url=stack.base_url, headers=headers) as http:
            started = await http.post("/api/v1/sessions", json={"evseId": await evse_code(stack, site.evse_id)})
            assert started.status_code == 201, started.text
            session = started.json()
            await asyncio.to_thread(
                stripe_client(stripe_settings).v1.payment_intents.confirm,
                _intent_id(session["payment"]["clientSecret"]),
                {"payment_method": "pm_card_visa"},
            )
            charging = await eventually(
                lambda: _energy_above(http, session["id"], 100.0), "the served charger meters the session"
            )
            assert charging["status"] == "charging"
            assert (await http.post(f"/api/v1/sessions/{session['id']}/stop")).status_code == 200
            await reached_status(stack, uuid.UUID(session["id"]), "captured", "captured")
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving


async def _connected(stack: Stack, identity: str) -> bool:
    """Online with its connector's status told: a session can start there. (Connected alone
    raced the simulator's first StatusNotification on a busy machine: a 409 "unknown".)"""
    from app.chargers.models import ChargePoint, Connector, Evse

    async with stack.maker() as db:
        status = await db.scalar(
            select(Connector.status)
            .join(Evse)
            .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
            .where(ChargePoint.identity == identity, ChargePoint.connected.is_(True))
        )
    return status == "Available"


async def _energy_above(http: httpx.AsyncClient, session_id: str, wh: float) -> dict[str, Any] | None:
    view = (await http.get(f"/api/v1/sessions/{session_id}")).json()
    return dict(view) if view["energyWh"] > wh else None


async def test_a_saved_card_starts_the_session_at_once(stack: Stack, stripe_settings: StripeSettings) -> None:
    site = await stack.site("STR")
    sim = await stack.charger(site)
    _, headers = await driver(stack)
    _, other = await driver(stack)
    try:
        async with httpx.AsyncClient(base_url=stack.base_url, headers=headers) as http:
            setup = (await http.post("/api/v1/me/payment-methods/setup")).json()
            await asyncio.to_thread(  # what the phone's Stripe SDK does with the client secret
                stripe_client(stripe_settings).v1.setup_intents.confirm,
                setup["clientSecret"].split("_secret_")[0],
                {"payment_method": "pm_card_visa"},
            )
            method = (await http.get("/api/v1/me/payment-methods")).json()["items"][0]["id"]
            code = await evse_code(stack, site.evse_id)
            stolen = await http.post(
                "/api/v1/sessions", json={"evseId": code, "paymentMethodId": method}, headers=other
            )
            assert stolen.status_code == 404 and stolen.json()["code"] == "payment_method.not_found"
            started = await http.post("/api/v1/sessions", json={"evseId": code, "paymentMethodId": method})
            assert started.status_code == 201, started.text
            session = started.json()
            assert session["payment"]["status"] == "authorised" and session["payment"]["clientSecret"] is None
            assert session["payment"]["methodLast4"] == "4242"
            charging = await eventually(lambda: _status(http, session["id"], "charging"), "the charger starts")
            assert charging["transactionId"]
            assert (await http.post(f"/api/v1/sessions/{session['id']}/stop")).status_code == 200
            await reached_status(stack, uuid.UUID(session["id"]), "cancelled", "nothing to charge")
    finally:
        await sim.close()


async def _status(http: httpx.AsyncClient, session_id: str, status: str) -> dict[str, Any] | None:
    view = (await http.get(f"/api/v1/sessions/{session_id}")).json()
    return dict(view) if view["status"] == status else None


async def test_an_incident_on_the_charger_reaches_the_drivers_live_stream(stack: Stack) -> None:
    user_id, headers = await driver(stack)
    tag = f"RFID-{uuid.uuid4().hex[:8]}".upper()
    async with stack.maker() as db:
        db.add(IdToken(token=tag, user_id=user_id))
        await db.commit()
    site = await stack.site("STR")
    sim = await stack.charger(site)
    try:
        await sim.start_transaction(1, tag)
        tx = await eventually(lambda: _active_transaction(stack, site.identity), "the card session starts")
        ws_url = stack.base_url.replace("http", "ws") + f"/api/v1/sessions/{tx.id}/live"
        async with connect(ws_url, additional_headers=headers) as ws:
            assert json.loads(await ws.recv())["type"] == "session"
            stack.bus.publish(
                IncidentOpened(
                    incident_id=uuid.uuid4(),
                    operator_id=None,
                    identity=site.identity,
                    location_id=None,
                    evse=1,
                    connectors=[1],
                    kind="overheating",
                    cause="overheating",
                    severity="critical",
                    confidence=0.9,
                    summary="The charger is overheating.",
                    opened_at=datetime.now(UTC),
                )
            )
            news = await _until(ws, lambda m: m["type"] == "incident")
            assert news["cause"] == "overheating" and "running too hot" in news["message"]
            assert "You pay only for the energy delivered" in news["payment"]
    finally:
        await sim.close()
