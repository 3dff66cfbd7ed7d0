"""OCPI Commands and ChargingProfiles, CPO receiver, end to end: a partner's real HTTP
requests to the API, the bridge, simulated chargers over real sockets, and the results
arriving at the partner's (recording) server's response_url."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from app.chargers.models import ChargePoint, CommandLog, Evse
from app.chargers.service import ChargerService, LocationService
from app.core.bus import InProcessBus
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import HttpSettings, OcpiSettings, Settings
from app.main import create_app
from app.operators.models import Operator
from app.roaming.commands.models import OcpiCommand
from app.roaming.models import OcpiPartner, OcpiSession, OcpiToken
from app.roaming.sessions.service import RoamingSessions
from app.roaming.tokens.authorize import RoamingTokens
from app.runner import _EmbeddedServer
from app.sessions.models import Transaction
from devtools.simulator import SimConfig, SimulatedCharger
from ocpp_bridge.server import Bridge, create_bridge
from tests.e2e.ocpi.recording_party import Call, RecordingParty, recording_party, registered_partner
from tests.e2e.ocpp_helpers import PASSWORD
from tests.e2e.test_restart import free_port
from tests.support import first_operator


@dataclass
class Stack:
    settings: Settings
    http: httpx.AsyncClient
    bridge: Bridge
    maker: Any
    party: RecordingParty
    partner: OcpiPartner
    auth: dict[str, str]
    tenant_id: uuid.UUID
    other_tenant_id: uuid.UUID

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.bridge.port}/ocpp"

    def response_url(self, what: str) -> str:
        return f"{self.party.base_url}/emsp/2.2.1/commands/{what}/{uuid.uuid4().hex}"

    async def command(self, kind: str, body: Any) -> httpx.Response:
        return await self.http.post(f"/ocpi/2.2.1/commands/{kind}", json=body, headers=self.auth)

    async def accepted(self, kind: str, body: Any) -> dict[str, Any]:
        r = await self.command(kind, body)
        assert r.status_code == 200, r.text
        envelope = r.json()
        assert envelope["status_code"] == 1000, envelope
        assert envelope["data"]["result"] == "ACCEPTED", envelope
        assert isinstance(envelope["data"]["timeout"], int) and envelope["data"]["timeout"] > 0
        return envelope["data"]  # type: ignore[no-any-return]

    async def result_at(self, url: str) -> dict[str, Any]:
        """The result POSTed to ``url`` (waits for it)."""
        path = httpx.URL(url).path
        calls = await self.party.wait_for(lambda c: c.method == "POST" and c.path == path, timeout_s=20)
        return calls[0].body  # type: ignore[no-any-return]


@dataclass
class Site:
    """A location of the tenant with one simulated charger."""

    charger: SimulatedCharger
    charger_id: uuid.UUID
    location_id: str
    evse_uids: list[str]


@pytest.fixture(scope="module")
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    port = free_port()
    settings = dataclasses.replace(
        settings,
        http=HttpSettings(port=port, public_base_url=f"http://127.0.0.1:{port}"),
        ocpp=dataclasses.replace(settings.ocpp, command_timeout_s=8.0),
        ocpi=OcpiSettings(allow_private_partners=True, partner_timeout_s=5.0),
    )
    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    bus = InProcessBus()
    await bus.start()
    # The bridge as the runner builds it: roaming answers for partners' tokens.
    bridge = create_bridge(settings.ocpp, maker, bus, foreign_tokens=RoamingTokens(settings.ocpi))
    await bridge.start()
    app = create_app(settings, engine=engine, bus=bus)
    server = _EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    async with maker() as db:
        tenant_id = await first_operator(db)
        other = Operator(name="Other CPO", country_code="SE", party_id="OTH")
        db.add(other)
        await db.commit()
        other_id = other.id
    async with recording_party() as party:
        partner, auth = await registered_partner(maker, tenant_id, party)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield Stack(settings, http, bridge, maker, party, partner, {"Authorization": auth}, tenant_id, other_id)
    server.should_exit = True
    await serving
    await bridge.close()
    await bus.close()
    await engine.dispose()


async def site(
    stack: Stack, version: str = "1.6", *, tenant_id: uuid.UUID | None = None, evses: int = 2, **config: Any
) -> Site:
    tenant = tenant_id or stack.tenant_id
    identity = f"CP-{uuid.uuid4().hex[:8]}"
    async with stack.maker() as db:
        location = await LocationService(db, tenant_id=tenant).create(name=f"Site {identity}")
        cp = await ChargerService(db, InProcessBus(), tenant_id=tenant).register(
            identity, PASSWORD, location_id=location.id, evse_count=evses
        )
        uids = [
            str(e)
            for e in await db.scalars(select(Evse.id).where(Evse.charge_point_id == cp.id).order_by(Evse.evse_number))
        ]
    charger = SimulatedCharger(
        SimConfig(
            url=stack.ocpp_url,
            identity=identity,
            password=PASSWORD,
            version=version,
            meter_interval_s=0.05,
            connectors=evses,
            **config,
        )
    )
    await charger.connect()
    await charger.boot()
    async with asyncio.timeout(10):
        while not await connected(stack, cp.id):
            await asyncio.sleep(0.02)
    return Site(charger, cp.id, str(location.id), uids)


async def connected(stack: Stack, charger_id: uuid.UUID) -> bool:
    async with stack.maker() as db:
        return bool(await db.scalar(select(ChargePoint.connected).where(ChargePoint.id == charger_id)))


def token(uid: str | None = None, **over: Any) -> dict[str, Any]:
    body = {
        "country_code": "NL",
        "party_id": "EMP",
        "uid": uid or f"T{uuid.uuid4().hex[:12].upper()}",
        "type": "APP_USER",
        "contract_id": "NL-EMP-C12345678-X",
        "issuer": "Test eMSP",
        "valid": True,
        "whitelist": "ALLOWED",
        "last_updated": "2026-12-01T10:00:00Z",
    }
    return body | over


async def sent(stack: Stack, charger_id: uuid.UUID, name: str | None = None) -> int:
    """How many commands the charger was sent (the audit log has every attempt)."""
    async with stack.maker() as db:
        stmt = select(func.count()).select_from(CommandLog).where(CommandLog.charge_point_id == charger_id)
        if name is not None:
            stmt = stmt.where(CommandLog.name == name)
        return int(await db.scalar(stmt) or 0)


async def eventually(check: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    async with asyncio.timeout(timeout_s):
        while not (value := await check()):
            await asyncio.sleep(0.05)
        return value


# -- START_SESSION / STOP_SESSION ----------------------------------------------------------


async def start_session(stack: Stack, s: Site, uid: str, evse: int = 0) -> tuple[uuid.UUID, Transaction]:
    """A session started by START_SESSION: the charger's transaction and the roaming session
    the Sessions part linked to it (the PENDING one the command made)."""
    url = stack.response_url("START_SESSION")
    await stack.accepted(
        "START_SESSION",
        {"response_url": url, "token": token(uid), "location_id": s.location_id, "evse_uid": s.evse_uids[evse]},
    )
    assert (await stack.result_at(url))["result"] == "ACCEPTED"

    async def linked() -> tuple[uuid.UUID, Transaction] | None:
        async with stack.maker() as db:
            row = (
                await db.execute(
                    select(OcpiSession.id, Transaction)
                    .join(Transaction, Transaction.id == OcpiSession.transaction_id)
                    .where(Transaction.id_token == uid, Transaction.charge_point_id == s.charger_id)
                )
            ).first()
            return (row[0], row[1]) if row is not None else None

    found: tuple[uuid.UUID, Transaction] = await eventually(linked)
    return found


async def test_start_session_starts_a_transaction_with_a_pending_session_and_the_result_is_posted(stack: Stack) -> None:
    # A charger that takes 2 s to answer: the session is looked at while it waits.
    s = await site(stack, slow_answers_s=2.0)
    uid = "ROAM" + uuid.uuid4().hex[:8].upper()
    url = stack.response_url("START_SESSION")
    await stack.accepted(
        "START_SESSION",
        {
            "response_url": url,
            "token": token(uid),
            "location_id": s.location_id,
            "evse_uid": s.evse_uids[0].upper(),  # CiString: any case
            "authorization_reference": "AUTH-1",
        },
    )
    async with stack.maker() as db:
        session = await db.scalar(select(OcpiSession).where(OcpiSession.token["uid"].as_string() == uid))
        assert session is not None
        assert (session.status, session.auth_method, session.authorization_reference) == (
            "PENDING",
            "COMMAND",
            "AUTH-1",
        )
        assert session.token == {
            "country_code": "NL",
            "party_id": "EMP",
            "uid": uid,
            "type": "APP_USER",
            "contract_id": "NL-EMP-C12345678-X",
        }
        assert session.transaction_id is None
        command = await db.scalar(select(OcpiCommand).where(OcpiCommand.ocpi_session_id == session.id))
        assert command is not None and command.charge_point_id == s.charger_id
        stored = await db.scalar(select(OcpiToken).where(OcpiToken.uid == uid))
        assert stored is not None and stored.partner_id == stack.partner.id
        # What the Sessions part links the charger's transaction to.
        linked = await RoamingSessions(db, OcpiSettings()).pending_command(s.charger_id, uid)
        assert linked is not None and linked.id == session.id
        assert await RoamingSessions(db, OcpiSettings()).pending_command(s.charger_id, "OTHER-TAG") is None
    assert await stack.result_at(url) == {"result": "ACCEPTED"}

    async def started() -> Transaction | None:
        async with stack.maker() as db:
            return await db.scalar(select(Transaction).where(Transaction.id_token == uid))

    tx = await eventually(started)
    assert tx.charge_point_id == s.charger_id and tx.evse_number == 1

    async def linked_session() -> OcpiSession | None:
        async with stack.maker() as db:
            found = await db.get(OcpiSession, session.id)
            return found if found is not None and found.transaction_id == tx.id else None

    # The Sessions part took the PENDING session for the transaction, not a second one.
    assert (await eventually(linked_session)).status == "ACTIVE"
    async with stack.maker() as db:
        log = await db.scalar(select(CommandLog).where(CommandLog.charge_point_id == s.charger_id))
        assert log is not None and log.name == "remote-start" and log.origin == "ocpi:NL*EMP"
        assert (
            await db.scalar(select(func.count()).select_from(OcpiSession).where(OcpiSession.transaction_id == tx.id))
            == 1
        )
    await s.charger.close()


async def test_stop_session_stops_the_transaction(stack: Stack) -> None:
    s = await site(stack, "2.0.1")
    uid = "ROAM" + uuid.uuid4().hex[:8].upper()
    session_id, tx = await start_session(stack, s, uid)
    url = stack.response_url("STOP_SESSION")
    await stack.accepted("STOP_SESSION", {"response_url": url, "session_id": str(session_id)})
    assert await stack.result_at(url) == {"result": "ACCEPTED"}

    async def stopped() -> bool:
        async with stack.maker() as db:
            return await db.scalar(select(Transaction.status).where(Transaction.id == tx.id)) == "completed"

    await eventually(stopped)
    await s.charger.close()


async def test_a_start_on_an_evse_in_use_is_evse_occupied(stack: Stack) -> None:
    s = await site(stack)
    uid = "BUSY" + uuid.uuid4().hex[:8].upper()
    await start_session(stack, s, uid)

    async def charging() -> bool:
        async with stack.maker() as db:
            status = await db.scalar(select(Evse.status).where(Evse.id == uuid.UUID(s.evse_uids[0])))
            return status == "Charging"

    await eventually(charging)
    url = stack.response_url("START_SESSION")
    body = {"response_url": url, "token": token(), "location_id": s.location_id, "evse_uid": s.evse_uids[0]}
    await stack.accepted("START_SESSION", body)
    assert await stack.result_at(url) == {"result": "EVSE_OCCUPIED"}
    async with stack.maker() as db:
        refused = await db.scalar(
            select(OcpiSession).where(OcpiSession.token["uid"].as_string() == body["token"]["uid"])
        )
        assert refused is not None and refused.status == "INVALID"
    await s.charger.close()


async def test_unknown_or_foreign_sessions_are_unknown_and_nothing_is_sent(stack: Stack) -> None:
    s = await site(stack)
    async with stack.maker() as db:
        other_partner = OcpiPartner(
            operator_id=stack.other_tenant_id,
            name="other",
            state="registered",
            country_code="NL",
            party_id="EMP",
            roles=[],
            token_digest=uuid.uuid4().hex,
            endpoints=[],
        )
        db.add(other_partner)
        await db.flush()
        foreign = OcpiSession(
            operator_id=stack.other_tenant_id,
            partner_id=other_partner.id,
            token=token("X"),
            auth_method="COMMAND",
            status="ACTIVE",
        )
        db.add(foreign)
        await db.commit()
    for session_id in (str(foreign.id), str(uuid.uuid4()), "not-a-uuid"):
        r = await stack.command("STOP_SESSION", {"response_url": stack.response_url("STOP"), "session_id": session_id})
        assert r.status_code == 200
        assert r.json()["status_code"] == 1000
        assert r.json()["data"]["result"] == "UNKNOWN_SESSION"
    assert await sent(stack, s.charger_id) == 0
    await s.charger.close()


# -- UNLOCK_CONNECTOR, RESERVE_NOW, CANCEL_RESERVATION ------------------------------------------


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_unlock_connector_is_carried_out(stack: Stack, version: str) -> None:
    s = await site(stack, version)
    url = stack.response_url("UNLOCK")
    body = {"response_url": url, "location_id": s.location_id, "evse_uid": s.evse_uids[1], "connector_id": "1"}
    await stack.accepted("UNLOCK_CONNECTOR", body)
    assert await stack.result_at(url) == {"result": "ACCEPTED"}
    async with stack.maker() as db:
        log = await db.scalar(select(CommandLog).where(CommandLog.charge_point_id == s.charger_id))
        assert log is not None and log.args == {"evse": 2, "connector": 1} and log.answer_status == "Unlocked"
    await s.charger.close()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_reserve_now_and_cancel_reservation(stack: Stack, version: str) -> None:
    s = await site(stack, version)
    reserve_url = stack.response_url("RESERVE")
    expiry = (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    reservation = {
        "token": token("RES-TOKEN-1"),
        "expiry_date": expiry,
        "reservation_id": "r-1",
        "location_id": s.location_id,
        "evse_uid": s.evse_uids[0],
    }
    await stack.accepted("RESERVE_NOW", {"response_url": reserve_url, **reservation})
    assert await stack.result_at(reserve_url) == {"result": "ACCEPTED"}
    async with stack.maker() as db:
        reserve = await db.scalar(
            select(CommandLog).where(CommandLog.name == "reserve-now", CommandLog.charge_point_id == s.charger_id)
        )
        assert reserve is not None and reserve.answer_status == "Accepted"
        charger_reservation = reserve.args["reservationId"]
    # The partner's id never reaches the charger; ours does.
    assert isinstance(charger_reservation, int)

    cancel_url = stack.response_url("CANCEL")
    await stack.accepted("CANCEL_RESERVATION", {"response_url": cancel_url, "reservation_id": "R-1"})
    assert await stack.result_at(cancel_url) == {"result": "ACCEPTED"}
    async with stack.maker() as db:
        cancel = await db.scalar(
            select(CommandLog).where(
                CommandLog.name == "cancel-reservation", CommandLog.charge_point_id == s.charger_id
            )
        )
        assert cancel is not None and cancel.args == {"reservationId": charger_reservation}

    # Cancelled once: the charger no longer knows it.
    again_url = stack.response_url("CANCEL")
    await stack.accepted("CANCEL_RESERVATION", {"response_url": again_url, "reservation_id": "r-1"})
    assert (await stack.result_at(again_url))["result"] == "UNKNOWN_RESERVATION"

    r = await stack.command(
        "CANCEL_RESERVATION", {"response_url": stack.response_url("CANCEL"), "reservation_id": "nope"}
    )
    assert r.json()["data"]["result"] == "REJECTED"

    # The same reservation again after its cancel is meant anew, not a retry: the charger gets it.
    again = stack.response_url("RESERVE")
    await stack.accepted("RESERVE_NOW", {"response_url": again, **reservation})
    assert await stack.result_at(again) == {"result": "ACCEPTED"}
    assert await sent(stack, s.charger_id, "reserve-now") == 2
    await s.charger.close()


async def test_a_charger_that_does_not_answer_in_time_is_timeout(stack: Stack) -> None:
    s = await site(stack, slow_answers_s=stack.settings.ocpp.command_timeout_s + 2)
    url = stack.response_url("UNLOCK")
    body = {"response_url": url, "location_id": s.location_id, "evse_uid": s.evse_uids[0], "connector_id": "1"}
    await stack.accepted("UNLOCK_CONNECTOR", body)
    result = await stack.result_at(url)
    assert result["result"] == "TIMEOUT" and result["message"][0]["text"]
    await s.charger.close()


async def test_a_command_left_unfinished_past_its_timeout_ends_as_timeout(stack: Stack) -> None:
    # As a process that died while sending it would leave it: claimed, never finished.
    url = stack.response_url("UNLOCK")
    async with stack.maker() as db:
        db.add(
            OcpiCommand(
                operator_id=stack.tenant_id,
                partner_id=stack.partner.id,
                kind="UNLOCK_CONNECTOR",
                response_url=url,
                request_digest="lost",
                state="sent",
                due_at=datetime.now(UTC) - timedelta(seconds=1),
            )
        )
        await db.commit()
    assert (await stack.result_at(url))["result"] == "TIMEOUT"


# -- refusals ----------------------------------------------------------------------------


async def test_an_offline_charger_is_rejected_at_once_and_gets_nothing(stack: Stack) -> None:
    s = await site(stack)
    await s.charger.close()
    await eventually(lambda: _not(connected(stack, s.charger_id)))
    body = {
        "response_url": stack.response_url("UNLOCK"),
        "location_id": s.location_id,
        "evse_uid": s.evse_uids[0],
        "connector_id": "1",
    }
    r = await stack.command("UNLOCK_CONNECTOR", body)
    assert r.status_code == 200
    assert r.json()["status_code"] == 1000
    data = r.json()["data"]
    assert data["result"] == "REJECTED" and data["message"][0]["language"] == "en"
    assert await sent(stack, s.charger_id) == 0


async def _not(awaitable: Any) -> bool:
    return not await awaitable


async def test_another_tenants_location_is_unknown_and_nothing_is_sent(stack: Stack) -> None:
    theirs = await site(stack, tenant_id=stack.other_tenant_id)
    ours = await site(stack)
    attempts = [
        ("START_SESSION", {"token": token(), "location_id": theirs.location_id, "evse_uid": theirs.evse_uids[0]}),
        ("START_SESSION", {"token": token(), "location_id": ours.location_id, "evse_uid": theirs.evse_uids[0]}),
        ("START_SESSION", {"token": token(), "location_id": str(uuid.uuid4())}),
        ("UNLOCK_CONNECTOR", {"location_id": theirs.location_id, "evse_uid": theirs.evse_uids[0], "connector_id": "1"}),
        ("UNLOCK_CONNECTOR", {"location_id": ours.location_id, "evse_uid": ours.evse_uids[0], "connector_id": "9"}),
        (
            "RESERVE_NOW",
            {
                "token": token(),
                "expiry_date": "2099-01-01T00:00:00Z",
                "reservation_id": "x",
                "location_id": theirs.location_id,
            },
        ),
    ]
    for kind, body in attempts:
        r = await stack.command(kind, {"response_url": stack.response_url(kind), **body})
        assert r.status_code == 200, r.text
        assert r.json()["status_code"] == 2003, (kind, body, r.json())
        assert r.json()["data"]["result"] == "REJECTED"
    assert await sent(stack, theirs.charger_id) == 0
    assert await sent(stack, ours.charger_id) == 0
    await theirs.charger.close()
    await ours.charger.close()


async def test_bad_bodies_are_2001_and_nothing_is_stored_or_sent(stack: Stack) -> None:
    s = await site(stack)
    good = {
        "response_url": stack.response_url("START"),
        "token": token(),
        "location_id": s.location_id,
        "evse_uid": s.evse_uids[0],
    }
    bad: list[tuple[str, Any]] = [
        ("START_SESSION", {k: v for k, v in good.items() if k != "token"}),
        ("START_SESSION", good | {"location_id": "x" * 37}),
        ("START_SESSION", good | {"response_url": "ftp://example.com/x"}),
        ("START_SESSION", good | {"token": token(type="CARD")}),
        ("START_SESSION", good | {"token": token(uid="u" * 37)}),
        ("START_SESSION", good | {"token": {k: v for k, v in token().items() if k != "whitelist"}}),
        ("STOP_SESSION", {"response_url": stack.response_url("STOP")}),
        ("UNLOCK_CONNECTOR", {"response_url": stack.response_url("U"), "location_id": s.location_id}),
        ("RESERVE_NOW", good | {"expiry_date": "tomorrow", "reservation_id": "r"}),
        ("START_SESSION", [1, 2]),
        ("TELEPORT", good),
    ]
    for kind, body in bad:
        r = await stack.command(kind, body)
        assert r.status_code == 400, (kind, body, r.text)
        assert r.json()["status_code"] == 2001, r.json()
        assert r.json()["status_message"]
    r = await stack.http.post(
        "/ocpi/2.2.1/commands/START_SESSION",
        content=b"{not json",
        headers=stack.auth | {"Content-Type": "application/json"},
    )
    assert r.json()["status_code"] == 2001
    async with stack.maker() as db:
        assert (
            await db.scalar(
                select(func.count()).select_from(OcpiCommand).where(OcpiCommand.charge_point_id == s.charger_id)
            )
            == 0
        )
    assert await sent(stack, s.charger_id) == 0
    await s.charger.close()


async def test_a_token_of_another_party_is_rejected(stack: Stack) -> None:
    s = await site(stack)
    body = {
        "response_url": stack.response_url("START"),
        "token": token(country_code="DE", party_id="XYZ"),
        "location_id": s.location_id,
        "evse_uid": s.evse_uids[0],
    }
    r = await stack.command("START_SESSION", body)
    assert r.json()["data"]["result"] == "REJECTED"
    assert await sent(stack, s.charger_id) == 0
    await s.charger.close()


async def test_start_without_an_evse_at_a_location_of_several_is_rejected(stack: Stack) -> None:
    s = await site(stack)
    r = await stack.command(
        "START_SESSION", {"response_url": stack.response_url("START"), "token": token(), "location_id": s.location_id}
    )
    assert r.json()["status_code"] == 1000 and r.json()["data"]["result"] == "REJECTED"
    assert await sent(stack, s.charger_id) == 0
    await s.charger.close()


async def test_no_token_no_command(stack: Stack) -> None:
    r = await stack.http.post("/ocpi/2.2.1/commands/START_SESSION", json={})
    assert r.status_code == 401


# -- retries -------------------------------------------------------------------------------


async def test_a_retried_command_is_sent_to_the_charger_once(stack: Stack) -> None:
    s = await site(stack)
    url = stack.response_url("UNLOCK")
    body = {"response_url": url, "location_id": s.location_id, "evse_uid": s.evse_uids[0], "connector_id": "1"}
    await stack.accepted("UNLOCK_CONNECTOR", body)
    await stack.accepted("UNLOCK_CONNECTOR", body)  # the same response_url: the same command
    # The same request with a new response_url within the retry window: a retry too, and
    # both URLs get the one result.
    second_url = stack.response_url("UNLOCK")
    await stack.accepted("UNLOCK_CONNECTOR", body | {"response_url": second_url})
    assert await stack.result_at(url) == {"result": "ACCEPTED"}
    assert await stack.result_at(second_url) == {"result": "ACCEPTED"}
    # Asked again after the result went out: the result again, still no second unlock.
    await stack.accepted("UNLOCK_CONNECTOR", body)
    path = httpx.URL(url).path
    await stack.party.wait_for(lambda c: c.method == "POST" and c.path == path, count=2)
    # And a retry under a third URL once the result is known: it gets the result at once.
    third_url = stack.response_url("UNLOCK")
    await stack.accepted("UNLOCK_CONNECTOR", body | {"response_url": third_url})
    assert await stack.result_at(third_url) == {"result": "ACCEPTED"}
    assert await sent(stack, s.charger_id, "unlock-connector") == 1
    async with stack.maker() as db:
        rows = await db.scalars(
            select(OcpiCommand.state).where(OcpiCommand.response_url.in_((url, second_url))).order_by(OcpiCommand.state)
        )
        assert rows.all() == ["done", "duplicate"]
    await s.charger.close()


# -- charging profiles -------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_charging_profiles_set_get_and_clear(stack: Stack, version: str) -> None:
    s = await site(stack, version)
    uid = "SC" + uuid.uuid4().hex[:8].upper()
    session_id, _ = await start_session(stack, s, uid)
    base = f"/ocpi/2.2.1/chargingprofiles/{session_id}"

    set_url = stack.response_url("profile")
    profile = {
        "charging_rate_unit": "W",
        "charging_profile_period": [{"start_period": 0, "limit": 7400.0}, {"start_period": 1800, "limit": 3700.0}],
    }
    r = await stack.http.put(base, json={"charging_profile": profile, "response_url": set_url}, headers=stack.auth)
    assert r.status_code == 200, r.text
    assert r.json()["status_code"] == 1000
    assert r.json()["data"]["result"] == "ACCEPTED" and r.json()["data"]["timeout"] > 0
    assert await stack.result_at(set_url) == {"result": "ACCEPTED"}
    async with stack.maker() as db:
        log = await db.scalar(
            select(CommandLog).where(
                CommandLog.charge_point_id == s.charger_id, CommandLog.name == "set-charging-profile"
            )
        )
        assert log is not None and log.answer_status == "Accepted"
        assert log.args["purpose"] == "Tx" and log.args["periods"] == [
            {"startS": 0, "limit": 7400.0},
            {"startS": 1800, "limit": 3700.0},
        ]

    get_url = stack.response_url("active")
    r = await stack.http.get(base, params={"duration": "3600", "response_url": get_url}, headers=stack.auth)
    assert r.json()["data"]["result"] == "ACCEPTED", r.text
    active = await stack.result_at(get_url)
    assert active["result"] == "ACCEPTED"
    periods = active["profile"]["charging_profile"]["charging_profile_period"]
    assert active["profile"]["charging_profile"]["charging_rate_unit"] in ("W", "A")
    assert periods and periods[0]["start_period"] == 0
    assert active["profile"]["start_date_time"].endswith("Z")

    clear_url = stack.response_url("clear")
    r = await stack.http.delete(base, params={"response_url": clear_url}, headers=stack.auth)
    assert r.json()["data"]["result"] == "ACCEPTED", r.text
    assert await stack.result_at(clear_url) == {"result": "ACCEPTED"}
    await s.charger.close()


async def test_charging_profiles_not_supported_without_smart_charging(stack: Stack) -> None:
    s = await site(stack)
    s.charger.settings["SupportedFeatureProfiles"].value = "Core,Reservation,RemoteTrigger"
    uid = "NS" + uuid.uuid4().hex[:8].upper()
    session_id, _ = await start_session(stack, s, uid)
    body = {
        "charging_profile": {"charging_rate_unit": "A", "charging_profile_period": [{"start_period": 0, "limit": 16}]}
    }
    r = await stack.http.put(
        f"/ocpi/2.2.1/chargingprofiles/{session_id}",
        json=body | {"response_url": stack.response_url("p")},
        headers=stack.auth,
    )
    assert r.json()["data"] == {"result": "NOT_SUPPORTED", "timeout": r.json()["data"]["timeout"]}
    assert await sent(stack, s.charger_id, "set-charging-profile") == 0
    await s.charger.close()


async def test_charging_profiles_of_unknown_sessions_and_bad_requests(stack: Stack) -> None:
    r = await stack.http.get(
        f"/ocpi/2.2.1/chargingprofiles/{uuid.uuid4()}",
        params={"duration": "60", "response_url": stack.response_url("x")},
        headers=stack.auth,
    )
    assert r.json()["data"]["result"] == "UNKNOWN_SESSION"
    for params in (
        {"response_url": stack.response_url("x")},
        {"duration": "-5", "response_url": "u"},
        {"duration": "60"},
    ):
        r = await stack.http.get(f"/ocpi/2.2.1/chargingprofiles/{uuid.uuid4()}", params=params, headers=stack.auth)
        assert (r.status_code, r.json()["status_code"]) == (400, 2001), params
    bad_profiles = [
        {"charging_rate_unit": "kW", "charging_profile_period": [{"start_period": 0, "limit": 1}]},
        {"charging_rate_unit": "W", "charging_profile_period": []},
        {"charging_rate_unit": "W", "charging_profile_period": [{"start_period": 10, "limit": 1}]},
        {
            "charging_rate_unit": "W",
            "charging_profile_period": [{"start_period": 0, "limit": 1}, {"start_period": 0, "limit": 2}],
        },
    ]
    for profile in bad_profiles:
        r = await stack.http.put(
            f"/ocpi/2.2.1/chargingprofiles/{uuid.uuid4()}",
            json={"charging_profile": profile, "response_url": stack.response_url("x")},
            headers=stack.auth,
        )
        assert (r.status_code, r.json()["status_code"]) == (400, 2001), profile


def _calls(party: RecordingParty, match: Callable[[Call], bool]) -> list[Call]:
    return [c for c in party.calls if match(c)]
