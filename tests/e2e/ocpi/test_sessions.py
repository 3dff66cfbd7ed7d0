"""Roaming sessions end to end: an eMSP pushes its tokens, a simulator charger (real socket)
presents them, the token is authorised by its whitelist or in real time at the eMSP's
/authorize, and the session is PUT to the eMSP at the start, PATCHed while charging and
COMPLETED at the stop; never a card payment. GET /sessions lists a partner's own sessions."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from app.chargers.models import ChargePoint
from app.core.settings import Settings
from app.roaming.commands.models import OcpiCommand
from app.roaming.models import OcpiPartner, OcpiPush, OcpiSession
from app.sessions.models import Transaction
from app.tariffs.pricing import TariffTerms
from devtools.simulator import SimulatedCharger
from devtools.simulator.errors import AuthorizationRejected
from payments.models import Payment
from tests.e2e.ocpi.recording_party import Call, RecordingParty, recording_party, registered_partner
from tests.e2e.ocpi.ses_stack import SesStack, ses_stack

# The eMSP's answers in real time take this long at most before the fallback applies. Short,
# as the silent eMSP's tests wait it out; not so short that the recording eMSP, on a loaded
# CI machine, misses it (0.5 s did once: its 500 never counted, the fallback came from the
# timeout instead).
AUTHORIZE_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
async def stack(settings: Settings) -> AsyncIterator[SesStack]:
    # Every meter report PATCHes (the throttle has a test of its own below).
    async with ses_stack(settings, authorize_timeout_s=AUTHORIZE_TIMEOUT_S, session_update_interval_s=0) as running:
        yield running


@pytest.fixture(scope="module")
async def party() -> AsyncIterator[RecordingParty]:
    async with recording_party() as running:
        yield running


@pytest.fixture(scope="module")
async def emsp(stack: SesStack, party: RecordingParty) -> tuple[OcpiPartner, str]:
    return await registered_partner(stack.maker, await stack.operator(), party)


def new_uid() -> str:
    return uuid.uuid4().hex[:12].upper()


async def push_token(stack: SesStack, auth: str, uid: str, whitelist: str, *, valid: bool = True) -> None:
    body = {
        "country_code": "NL",
        "party_id": "EMP",
        "uid": uid,
        "type": "RFID",
        "contract_id": f"NL-EMP-{uid}",
        "issuer": "Test eMSP",
        "valid": valid,
        "whitelist": whitelist,
        "last_updated": "2026-12-01T10:00:00Z",
    }
    async with stack.http(auth) as http:
        answer = await http.put(f"/tokens/NL/EMP/{uid}", json=body)
    assert answer.json()["status_code"] == 1000, answer.text


async def session_of(stack: SesStack, uid: str) -> OcpiSession | None:
    async with stack.maker() as db:
        rows = (await db.scalars(select(OcpiSession))).all()
    return next((s for s in rows if s.token.get("uid") == uid), None)


async def deliver(stack: SesStack, party: RecordingParty, match: Any, count: int = 1) -> list[Call]:
    """Run the push worker until ``count`` calls matching ``match`` reached the party."""
    async with asyncio.timeout(10):
        while True:
            await stack.bus.idle()
            await stack.pushes.send_due()
            with contextlib.suppress(TimeoutError):
                return await party.wait_for(match, count=count, timeout_s=0.2)


def to_session(session: OcpiSession, method: str) -> Any:
    return lambda c: c.method == method and c.path.endswith(f"/sessions/SE/LAD/{session.id}")


def authorize_calls(party: RecordingParty, uid: str) -> list[Call]:
    return [c for c in party.calls if c.method == "POST" and c.path == f"/emsp/2.2.1/tokens/{uid}/authorize"]


def blocked(uid: str) -> tuple[int, dict[str, Any]]:
    info = {"allowed": "BLOCKED", "token": {"uid": uid}}
    return 200, {"data": info, "status_code": 1000, "timestamp": datetime.now(UTC).isoformat()}


async def test_a_whitelisted_token_charges_and_the_session_is_pushed(
    stack: SesStack, party: RecordingParty, emsp: tuple[OcpiPartner, str]
) -> None:
    partner, auth = emsp
    uid = new_uid()
    await push_token(stack, auth, uid, "ALWAYS")
    tariff = TariffTerms(name="Roaming", currency="SEK", price_per_kwh_minor=300, vat_rate_bp=2500)
    sim = await stack.charger(await stack.operator(), tariff=tariff)
    await sim.start_transaction(1, uid)

    session = await session_of(stack, uid)
    assert session is not None and session.status == "ACTIVE" and session.auth_method == "WHITELIST"
    assert session.tariff_id is not None and session.currency == "SEK"
    assert session.partner_id == partner.id and session.transaction_id is not None
    assert session.token == {
        "country_code": "NL",
        "party_id": "EMP",
        "uid": uid,
        "type": "RFID",
        "contract_id": f"NL-EMP-{uid}",
    }
    assert authorize_calls(party, uid) == []  # ALWAYS: no question asked

    [put] = await deliver(stack, party, to_session(session, "PUT"))
    assert put.body["id"] == str(session.id) and put.body["status"] == "ACTIVE"
    assert put.body["country_code"] == "SE" and put.body["party_id"] == "LAD"
    assert put.body["cdr_token"] == session.token and put.body["auth_method"] == "WHITELIST"
    assert put.body["connector_id"] == "1" and put.body["kwh"] == 0 and put.body["currency"] == "SEK"
    assert {"location_id", "evse_uid", "currency", "start_date_time", "last_updated"} <= put.body.keys()
    assert "end_date_time" not in put.body

    await sim.send_meter_values(1, seconds=600)
    [progress] = await deliver(stack, party, to_session(session, "PATCH"))
    assert progress.body["status"] == "ACTIVE" and progress.body["kwh"] > 0
    assert progress.body["charging_periods"][0]["dimensions"][0]["type"] == "ENERGY"
    assert progress.body["charging_periods"][0]["tariff_id"] == str(session.tariff_id)
    # Priced live with the tariff in force at the start: 3.00 SEK/kWh incl. 25 % VAT.
    assert progress.body["total_cost"]["incl_vat"] == pytest.approx(progress.body["kwh"] * 3.00, abs=0.011)
    assert progress.body["total_cost"]["excl_vat"] == pytest.approx(progress.body["kwh"] * 2.40, abs=0.011)

    await sim.stop_transaction(1)
    patches = await deliver(stack, party, lambda c: to_session(session, "PATCH")(c) and c.body["status"] == "COMPLETED")
    final = patches[-1].body
    # 1.6 meterStop is whole Wh: the final kWh may be a fraction under the last sample's.
    assert final["kwh"] == pytest.approx(progress.body["kwh"], abs=1e-3) and "end_date_time" in final

    async with stack.maker() as db:
        tx = await db.get(Transaction, session.transaction_id)
        assert tx is not None and tx.status == "completed"
        assert final["kwh"] == pytest.approx(tx.energy_wh / 1000, abs=1e-3)
        payments = (await db.scalars(select(Payment).where(Payment.transaction_id == tx.id))).all()
        assert payments == []  # billed to the eMSP through the CDR, never to a card


async def test_an_allowed_token_is_authorised_in_real_time(
    stack: SesStack, party: RecordingParty, emsp: tuple[OcpiPartner, str]
) -> None:
    _, auth = emsp
    uid = new_uid()
    await push_token(stack, auth, uid, "ALLOWED")
    sim = await stack.charger(await stack.operator())
    await sim.start_transaction(1, uid)

    [ask] = authorize_calls(party, uid)  # the Authorize asked; the StartTransaction used its answer
    assert ask.query == {"type": "RFID"}
    assert ask.headers["authorization"].startswith("Token ")
    async with stack.maker() as db:
        session = await session_of(stack, uid)
        assert session is not None and session.transaction_id is not None
        tx = await db.get(Transaction, session.transaction_id)
        assert tx is not None
        from app.chargers.models import ChargePoint, Evse

        charger = await db.get(ChargePoint, tx.charge_point_id)
        evses = (await db.scalars(select(Evse.id).where(Evse.charge_point_id == tx.charge_point_id))).all()
    assert charger is not None
    assert ask.body == {"location_id": str(charger.location_id), "evse_uids": [str(e) for e in evses]}
    assert session.auth_method == "AUTH_REQUEST"
    assert session.authorization_reference is not None and session.authorization_reference.startswith("REF-")
    [put] = await deliver(stack, party, to_session(session, "PUT"))
    assert put.body["authorization_reference"] == session.authorization_reference
    await sim.stop_transaction(1)


async def test_a_token_the_emsp_blocks_is_refused_at_the_charger(
    stack: SesStack, party: RecordingParty, emsp: tuple[OcpiPartner, str]
) -> None:
    _, auth = emsp
    uid = new_uid()
    await push_token(stack, auth, uid, "ALLOWED")
    party.answers[f"/emsp/2.2.1/tokens/{uid}/authorize"] = blocked(uid)
    sim = await stack.charger(await stack.operator())
    with pytest.raises(AuthorizationRejected) as refused:
        await sim.start_transaction(1, uid)
    assert refused.value.status == "Blocked"
    assert len(authorize_calls(party, uid)) == 1
    assert await session_of(stack, uid) is None


async def test_a_201_charger_gets_the_emsps_answer_too(
    stack: SesStack, party: RecordingParty, emsp: tuple[OcpiPartner, str]
) -> None:
    _, auth = emsp
    uid, refused_uid = new_uid(), new_uid()
    await push_token(stack, auth, uid, "ALLOWED")
    await push_token(stack, auth, refused_uid, "NEVER")
    party.answers[f"/emsp/2.2.1/tokens/{refused_uid}/authorize"] = blocked(refused_uid)
    sim = await stack.charger(await stack.operator(), version="2.0.1")
    await sim.start_transaction(1, uid)
    session = await session_of(stack, uid)
    assert session is not None and session.status == "ACTIVE" and session.auth_method == "AUTH_REQUEST"
    await sim.stop_transaction(1)
    assert (await session_of(stack, uid)).status == "COMPLETED"  # type: ignore[union-attr]
    with pytest.raises(AuthorizationRejected) as refused:
        await sim.start_transaction(1, refused_uid)
    assert refused.value.status == "Blocked"


@pytest.mark.parametrize(("whitelist", "accepted"), [("ALLOWED", True), ("ALLOWED_OFFLINE", True), ("NEVER", False)])
async def test_when_the_emsp_fails_the_whitelist_decides(
    stack: SesStack, party: RecordingParty, emsp: tuple[OcpiPartner, str], whitelist: str, accepted: bool
) -> None:
    _, auth = emsp
    uid = new_uid()
    await push_token(stack, auth, uid, whitelist)
    party.answers[f"/emsp/2.2.1/tokens/{uid}/authorize"] = (500, {"status_code": 3000, "timestamp": "x"})
    sim = await stack.charger(await stack.operator())
    if accepted:
        await sim.start_transaction(1, uid)
        session = await session_of(stack, uid)
        assert session is not None and session.auth_method == "WHITELIST" and session.authorization_reference is None
        await sim.stop_transaction(1)
    else:
        with pytest.raises(AuthorizationRejected):
            await sim.start_transaction(1, uid)
        assert await session_of(stack, uid) is None
    assert len(authorize_calls(party, uid)) == 1


@contextlib.asynccontextmanager
async def silent_party() -> AsyncIterator[RecordingParty]:
    """A partner that takes the connection and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(hold, sock=listener)
    try:
        yield RecordingParty(base_url=f"http://127.0.0.1:{listener.getsockname()[1]}")
    finally:
        for writer in held:
            writer.close()
        server.close()


@pytest.mark.parametrize(("whitelist", "accepted"), [("ALLOWED_OFFLINE", True), ("NEVER", False)])
async def test_an_emsp_that_does_not_answer_in_time(stack: SesStack, whitelist: str, accepted: bool) -> None:
    async with silent_party() as silent:
        _, auth = await registered_partner(stack.maker, await stack.operator(), silent, party_id="SLO")
        uid = new_uid()
        body = {
            "country_code": "NL",
            "party_id": "SLO",
            "uid": uid,
            "type": "RFID",
            "contract_id": f"NL-SLO-{uid}",
            "issuer": "Slow eMSP",
            "valid": True,
            "whitelist": whitelist,
            "last_updated": "2026-12-01T10:00:00Z",
        }
        async with stack.http(auth) as http:
            assert (await http.put(f"/tokens/NL/SLO/{uid}", json=body)).json()["status_code"] == 1000
        sim = await stack.charger(await stack.operator())
        status = await sim.authorize(uid)
    assert status == ("Accepted" if accepted else "Invalid")


async def test_tokens_no_partner_claims_or_not_valid_are_refused(
    stack: SesStack, party: RecordingParty, emsp: tuple[OcpiPartner, str]
) -> None:
    _, auth = emsp
    invalid = new_uid()
    await push_token(stack, auth, invalid, "ALWAYS", valid=False)
    sim = await stack.charger(await stack.operator())
    unknown = new_uid()
    not_ours = {"data": None, "status_code": 2004, "timestamp": datetime.now(UTC).isoformat()}
    party.answers[f"/emsp/2.2.1/tokens/{unknown}/authorize"] = (404, not_ours)
    assert await sim.authorize(unknown) == "Invalid"  # 1.6 says Invalid for Unknown
    assert await sim.authorize(invalid) == "Blocked"
    assert len(authorize_calls(party, unknown)) >= 1  # nobody pushed it: the partners were asked
    assert authorize_calls(party, invalid) == []  # a pushed token the eMSP blocked: no call


async def test_a_card_nobody_pushed_is_taken_by_the_partner_that_allows_it(
    stack: SesStack, party: RecordingParty, emsp: tuple[OcpiPartner, str]
) -> None:
    sim = await stack.charger(await stack.operator())
    uid = new_uid()
    assert await sim.authorize(uid) == "Accepted"  # the recording party answers ALLOWED
    [call] = authorize_calls(party, uid)
    assert call.query == {"type": "RFID"} and call.body["location_id"]
    await sim.start_transaction(1, uid)
    async with stack.maker() as db:
        rows = [s for s in (await db.scalars(select(OcpiSession))).all() if s.token.get("uid") == uid]
    assert [(s.auth_method, s.status) for s in rows] == [("AUTH_REQUEST", "ACTIVE")]
    assert rows[0].authorization_reference and rows[0].authorization_reference.startswith("REF-")
    assert len(authorize_calls(party, uid)) == 1  # the start used the Authorize's answer
    await sim.stop_transaction(1)


async def test_a_token_of_another_tenants_partner_is_unknown_here(
    stack: SesStack, party: RecordingParty, emsp: tuple[OcpiPartner, str]
) -> None:
    _, auth = emsp
    uid = new_uid()
    await push_token(stack, auth, uid, "ALWAYS")
    elsewhere = await stack.charger(await stack.operator("SE2"))
    assert await elsewhere.authorize(uid) == "Invalid"


async def test_a_start_session_commands_pending_session_is_linked(
    stack: SesStack, party: RecordingParty, emsp: tuple[OcpiPartner, str]
) -> None:
    partner, _ = emsp
    uid = new_uid()  # never pushed: the command carried the token
    pending = OcpiSession(
        operator_id=partner.operator_id,
        partner_id=partner.id,
        token={"country_code": "NL", "party_id": "EMP", "uid": uid, "type": "APP_USER", "contract_id": "NL-EMP-APP"},
        auth_method="COMMAND",
        authorization_reference="CMD-REF-1",
        status="PENDING",
    )
    sim = await stack.charger(await stack.operator())
    async with stack.maker() as db:
        db.add(pending)
        await db.flush()
        # The START_SESSION that made it, for this charger (the command already went out).
        charger_id = await db.scalar(select(ChargePoint.id).where(ChargePoint.identity == sim.identity))
        db.add(
            OcpiCommand(
                operator_id=partner.operator_id,
                partner_id=partner.id,
                kind="START_SESSION",
                response_url=f"{party.base_url}/emsp/commands/START_SESSION/{uid}",
                request_digest="0" * 64,
                state="done",
                charge_point_id=charger_id,
                evse_number=1,
                ocpi_session_id=pending.id,
            )
        )
        await db.commit()
    await sim.start_transaction(1, uid)
    async with stack.maker() as db:
        rows = [s for s in (await db.scalars(select(OcpiSession))).all() if s.token.get("uid") == uid]
    assert [(s.id, s.status, s.auth_method) for s in rows] == [(pending.id, "ACTIVE", "COMMAND")]
    assert rows[0].transaction_id is not None
    [put] = await deliver(stack, party, to_session(rows[0], "PUT"))
    assert put.body["authorization_reference"] == "CMD-REF-1" and put.body["auth_method"] == "COMMAND"
    await sim.stop_transaction(1)


async def test_get_sessions_pages_through_the_partners_own(stack: SesStack, party: RecordingParty) -> None:
    operator_id = await stack.operator()
    _, auth = await registered_partner(stack.maker, operator_id, party, party_id="PGS")
    _, other_auth = await registered_partner(stack.maker, operator_id, party, party_id="OTR")
    sim = await stack.charger(operator_id)
    mine = []
    for _ in range(3):
        uid = new_uid()
        await push_token_of(stack, auth, "PGS", uid)
        await sim.start_transaction(1, uid)
        await sim.stop_transaction(1)
        mine.append(uid)
    theirs = new_uid()
    await push_token_of(stack, other_auth, "OTR", theirs)
    await sim.start_transaction(1, theirs)

    seen: list[dict[str, Any]] = []
    async with stack.http(auth) as http:
        url: str | None = f"{stack.base_url}/ocpi/2.2.1/sessions?limit=2"
        while url is not None:
            answer = await http.get(url)
            assert answer.status_code == 200 and answer.json()["status_code"] == 1000
            assert answer.headers["X-Total-Count"] == "3" and answer.headers["X-Limit"] == "2"
            seen += answer.json()["data"]
            link = answer.headers.get("Link")
            url = link.split(";")[0].strip("<>") if link else None
        future = await http.get("/sessions", params={"date_from": "2100-01-01T00:00:00Z"})
        bad = await http.get("/sessions", params={"offset": "-1"})
    assert sorted(s["cdr_token"]["uid"] for s in seen) == sorted(mine)
    assert all(s["status"] == "COMPLETED" and "end_date_time" in s for s in seen)
    assert future.json()["data"] == [] and future.headers["X-Total-Count"] == "0"
    assert bad.status_code == 400 and bad.json()["status_code"] == 2001
    await sim.stop_transaction(1)


async def push_token_of(stack: SesStack, auth: str, party_id: str, uid: str) -> None:
    body = {
        "country_code": "NL",
        "party_id": party_id,
        "uid": uid,
        "type": "RFID",
        "contract_id": f"NL-{party_id}-{uid}",
        "issuer": "Test eMSP",
        "valid": True,
        "whitelist": "ALWAYS",
        "last_updated": "2026-12-01T10:00:00Z",
    }
    async with stack.http(auth) as http:
        assert (await http.put(f"/tokens/NL/{party_id}/{uid}", json=body)).json()["status_code"] == 1000


async def test_running_sessions_are_patched_at_most_every_interval(settings: Settings, party: RecordingParty) -> None:
    async with ses_stack(settings, session_update_interval_s=3600) as throttled:
        _, auth = await registered_partner(throttled.maker, await throttled.operator(), party, party_id="THR")
        uid = new_uid()
        await push_token_of(throttled, auth, "THR", uid)
        sim: SimulatedCharger = await throttled.charger(await throttled.operator())
        await sim.start_transaction(1, uid)
        for _ in range(3):
            await sim.send_meter_values(1, seconds=600)
        await throttled.bus.idle()  # every meter report handled
        session = await session_of(throttled, uid)
        assert session is not None
        assert await pushes_of(throttled, session) == ["PUT"]
        await sim.stop_transaction(1)
        assert await pushes_of(throttled, session) == ["PUT", "PATCH"]  # the stop always goes
        async with throttled.maker() as db:
            final = await db.scalar(
                select(OcpiPush).where(OcpiPush.object_key == f"session:{session.id}", OcpiPush.method == "PATCH")
            )
        assert final is not None and final.body["status"] == "COMPLETED" and final.body["kwh"] > 0


async def pushes_of(stack: SesStack, session: OcpiSession) -> list[str]:
    async with stack.maker() as db:
        rows = await db.scalars(
            select(OcpiPush.method).where(OcpiPush.object_key == f"session:{session.id}").order_by(OcpiPush.id)
        )
        return list(rows)
