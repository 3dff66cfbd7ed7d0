"""The whole roaming flow against a real second OCPI party: devtools' fake eMSP on loopback,
an independent Litestar app of its own that checks every body we send it against the OCPI
2.2.1 schemas (tests/ocpi_schemas.py) and answers 2001 to a wrong one.

The stack runs as app/main.py and app/runner.py build it: the API with its push worker,
command worker, session updates, CDR issuer and location pusher; the bridge with roaming's
token answerer; simulator chargers over real sockets. The push worker's clock is the wall
clock plus a hand-moved offset, so a retry after an outage is due when the test says so.

Each test has a tenant (an OCPI party) of its own: a partner of one never sees another's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn
from sqlalchemy import func, select

from app.chargers.models import Evse
from app.chargers.service import ChargerService, LocationService
from app.core.bus import InProcessBus
from app.core.database import create_engine, create_sessionmaker, utcnow
from app.core.settings import HttpSettings, OcpiSettings, Settings
from app.main import create_app
from app.operators.tenants import TenantService
from app.roaming.commands.models import OcpiCommand
from app.roaming.models import OcpiPartner, OcpiPush, OcpiSession, OcpiToken
from app.roaming.push import PushWorker
from app.roaming.tokens.authorize import RoamingTokens
from app.runner import _EmbeddedServer
from app.sessions.costs import cost_so_far
from app.sessions.models import Transaction
from app.tariffs.pricing import TariffBand, TariffTerms
from app.tariffs.service import TariffService
from devtools.fakes.ocpi import EmspConfig, EmspParty, emsp_party
from devtools.fakes.ocpi.wire import Call, token_header
from devtools.simulator import SimConfig, SimulatedCharger
from ocpp_bridge.server import create_bridge
from tests.e2e.ocpp_helpers import PASSWORD
from tests.ocpi_schemas import (
    check_cdr,
    check_charging_profile_response,
    check_command_response,
    check_connector,
    check_credentials,
    check_envelope,
    check_evse,
    check_location,
    check_session,
    check_tariff,
    check_version_details,
    check_versions,
    received_problem,
)
from tests.support_ocpi_tariffs import cdr_cost

TIME_ZONE = "Europe/Stockholm"
ADMIN_PASSWORD = "flow-password-123"
TERMS = TariffTerms(
    currency="SEK",
    name="Roaming day",
    price_per_kwh_minor=349,
    price_per_minute_minor=7,
    session_fee_minor=500,
    idle_fee_per_minute_minor=100,
    idle_grace_minutes=15,
    vat_rate_bp=2500,
    min_price_minor=1000,
    hold_amount_minor=1000,
    bands=(TariffBand(start="22:00", end="06:00", price_per_kwh_minor=249),),
)
FAST = msgspec.structs.replace(TERMS, name="Roaming fast", price_per_kwh_minor=599, bands=())


class PushClock:
    """The push worker's clock: the wall clock plus what the test moved it on by."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


class ChargerClock:
    """The simulator's clock: whole seconds, moved on by the test (prices never read the wall)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Stack:
    settings: Settings
    maker: Any
    bus: InProcessBus
    http: httpx.AsyncClient
    ocpp_url: str
    pushes: PushWorker
    push_clock: PushClock

    @property
    def versions_url(self) -> str:
        return f"{self.settings.http.public_base_url}/ocpi/versions"


@dataclass
class Tenant:
    id: uuid.UUID
    country_code: str
    party_id: str
    operator_api: dict[str, str]


@dataclass
class Site:
    location_id: str
    evse_uid: str
    charger: SimulatedCharger | None


def free_socket() -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    return listener


@pytest.fixture(scope="module")
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    listener = free_socket()
    base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    settings = dataclasses.replace(
        settings,
        http=HttpSettings(port=listener.getsockname()[1], public_base_url=base_url),
        ocpp=dataclasses.replace(settings.ocpp, command_timeout_s=8.0),
        # Every meter report PATCHes the session: the flow sees each one arrive.
        ocpi=OcpiSettings(allow_private_partners=True, partner_timeout_s=5.0, session_update_interval_s=0),
    )
    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    bus = InProcessBus()
    await bus.start()
    bridge = create_bridge(settings.ocpp, maker, bus, foreign_tokens=RoamingTokens(settings.ocpi))
    await bridge.start()
    push_clock = PushClock()
    # Runs in the API's lifespan as app/main.py's own does; it sends when poked (a command
    # result, a CDR, a status) and when the test drives it; its hourly pass never comes.
    pushes = PushWorker(maker, settings.ocpi, clock=push_clock, interval_s=3600)
    app = create_app(settings, engine=engine, bus=bus, ocpi_push_worker=pushes)
    server = _EmbeddedServer(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        assert not serving.done()
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=20) as http:
            yield Stack(settings, maker, bus, http, f"ws://127.0.0.1:{bridge.port}/ocpp", pushes, push_clock)
    finally:
        server.should_exit = True
        await serving
        listener.close()
        await bridge.close()
        await bus.close()
        await engine.dispose()


async def tenant(stack: Stack, party_id: str) -> Tenant:
    """A new operator company (SE*party_id) and its admin's operator API headers."""
    email = f"admin@{party_id.lower()}.flow.test"
    async with stack.maker() as db:
        operator, _ = await TenantService(db).create(
            name=f"{party_id} Laddning AB",
            country_code="SE",
            party_id=party_id,
            admin_email=email,
            admin_password=ADMIN_PASSWORD,
        )
    r = await stack.http.post("/api/v1/auth/token", json={"email": email, "password": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    return Tenant(operator.id, "SE", party_id, {"Authorization": f"Bearer {r.json()['accessToken']}"})


async def registered(stack: Stack, owner: Tenant, party: EmspParty) -> None:
    """The party registers with us with a token A the operator API issued (2.2.1 credentials)."""
    r = await stack.http.post("/api/v1/operator/roaming/partners/tokens", json={}, headers=owner.operator_api)
    assert r.status_code == 201, r.text
    assert r.json()["versionsUrl"] == stack.versions_url
    await party.register_with(stack.versions_url, r.json()["token"])


def strict_party(party_id: str = "EMP") -> EmspConfig:
    return EmspConfig(party_id=party_id, name=f"eMSP {party_id}", check_body=received_problem)


async def site(
    stack: Stack, owner: Tenant, name: str, *, tariff_id: uuid.UUID, version: str = "1.6", clock: Any = None
) -> Site:
    """A location of ``owner`` priced by ``tariff_id`` with one charger of one EVSE, the
    charger connected (a simulator) when ``clock`` is given."""
    identity = f"FLOW-{uuid.uuid4().hex[:8]}"
    async with stack.maker() as db:
        location = await LocationService(db, tenant_id=owner.id).create(
            name=name,
            address="Storgatan 1",
            city="Uppsala",
            postal_code="75310",
            latitude=59.8585,
            longitude=17.6389,
            time_zone=TIME_ZONE,
        )
        cp = await ChargerService(db, stack.bus, tenant_id=owner.id).register(
            identity, PASSWORD, location_id=location.id, evse_count=1
        )
        evse_uid = str(await db.scalar(select(Evse.id).where(Evse.charge_point_id == cp.id)))
        await TariffService(db, stack.bus, tenant_id=owner.id).assign("location", location.id, tariff_id)
        await db.commit()
    charger = None
    if clock is not None:
        charger = SimulatedCharger(
            SimConfig(
                url=stack.ocpp_url,
                identity=identity,
                password=PASSWORD,
                version=version,
                meter_interval_s=3600,  # meter values only when the test sends them
                auto_heartbeat=False,
            ),
            clock=clock,
        )
        await charger.connect()
        assert (await charger.boot())["status"] == "Accepted"
        await charger.status(1, "Available")
    return Site(str(location.id), evse_uid, charger)


async def tariffs_of(stack: Stack, owner: Tenant) -> list[uuid.UUID]:
    async with stack.maker() as db:
        service = TariffService(db, stack.bus, tenant_id=owner.id)
        made = [(await service.create(terms)).id for terms in (TERMS, FAST)]
        await db.commit()
    return made


async def delivered(
    stack: Stack, party: EmspParty, match: Callable[[Call], bool], *, count: int = 1, timeout_s: float = 15.0
) -> list[Call]:
    """The calls of the party that ``match`` once ``count`` arrived; drives the push worker
    meanwhile (the session pushes wait for its pass)."""
    async with asyncio.timeout(timeout_s):
        while True:
            await stack.bus.idle()
            await stack.pushes.send_due()
            assert party.refused == [], party.refused  # a body the 2.2.1 schemas refuse
            found = [c for c in party.calls if match(c)]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)


async def eventually(check: Callable[[], Awaitable[Any]], timeout_s: float = 15.0) -> Any:
    async with asyncio.timeout(timeout_s):
        while not (value := await check()):
            await asyncio.sleep(0.05)
        return value


def to(module: str, method: str, *tail: str) -> Callable[[Call], bool]:
    """Matches the CPO's calls to the party's ``module`` (under ``tail``, when given)."""
    prefix = "/".join(("/ocpi/emsp/2.2.1", module, *tail))
    return lambda c: c.method == method and (c.path == prefix or c.path.startswith(prefix + "/"))


def envelope_of(r: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = r.json()
    check_envelope(body)
    return body


def session_state(party: EmspParty, session_id: str) -> dict[str, Any]:
    [state] = [s for (_, _, sid), s in party.sessions.items() if sid == session_id]
    return state


async def cpo_call(party: EmspParty, method: str, url: str, body: Any = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=20) as http:
        return await http.request(method, url, json=body, headers={"Authorization": token_header(party.peer.token_out)})


# -- the flow ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_an_emsp_registers_pulls_and_runs_a_session_by_command_to_a_cdr_it_can_price(
    stack: Stack, version: str
) -> None:
    owner = await tenant(stack, "F" + version.replace(".", "")[:2])
    async with emsp_party(strict_party()) as party:
        # The handshake: token A from the operator API, B and C exchanged as 2.2.1 says.
        await registered(stack, owner, party)
        peer = party.peer
        versions = envelope_of(await cpo_call(party, "GET", stack.versions_url))
        check_versions(versions["data"])
        details = envelope_of(await cpo_call(party, "GET", versions["data"][-1]["url"]))
        check_version_details(details["data"])
        credentials = envelope_of(await cpo_call(party, "GET", peer.url("credentials")))
        check_credentials(credentials["data"])
        assert [(r["role"], r["country_code"], r["party_id"]) for r in credentials["data"]["roles"]] == [
            ("CPO", owner.country_code, owner.party_id)
        ]

        # Our network: three locations under two tariffs, one charger live.
        start = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Stockholm
        clock = ChargerClock(start)
        day, fast = await tariffs_of(stack, owner)
        live = await site(stack, owner, "Flow Torg", tariff_id=day, version=version, clock=clock)
        await site(stack, owner, "Flow Hamn", tariff_id=day)
        await site(stack, owner, "Flow Motorväg", tariff_id=fast)

        # The party pulls every page, one object a page, walking the Link headers.
        pages = await party.pages("locations", limit=1)
        assert len(pages) == 3
        for headers, body in pages:
            check_envelope(body)
            assert headers["x-total-count"] == "3" and headers["x-limit"] == "1"
            for location in body["data"]:
                check_location(location)
        pulled = [body["data"][0] for _, body in pages]
        assert sorted(loc["name"] for loc in pulled) == ["Flow Hamn", "Flow Motorväg", "Flow Torg"]
        assert {(loc["country_code"], loc["party_id"]) for loc in pulled} == {(owner.country_code, owner.party_id)}
        [torg] = [loc for loc in pulled if loc["id"] == live.location_id]
        assert [e["uid"] for e in torg["evses"]] == [live.evse_uid]
        tariff_pages = await party.pages("tariffs", limit=1)
        assert len(tariff_pages) == 2
        for _, body in tariff_pages:
            check_envelope(body)
            for tariff in body["data"]:
                check_tariff(tariff)
        assert sorted(body["data"][0]["id"] for _, body in tariff_pages) == sorted(str(t) for t in (day, fast))

        # The party pushes its token to us; START_SESSION: the answer now, the CommandResult
        # at the response_url later.
        uid, token = await pushed_token(party)
        await started_by_command(stack, party, live, token)

        # The simulator started: the session is PUT, the EVSE PATCHed CHARGING.
        [put] = await delivered(stack, party, to("sessions", "PUT"))
        session_id = put.body["id"]
        assert put.path.endswith(f"/{owner.country_code}/{owner.party_id}/{session_id}")
        assert (put.body["status"], put.body["auth_method"], put.body["cdr_token"]["uid"]) == (
            "ACTIVE",
            "COMMAND",
            uid,
        )
        assert (put.body["location_id"], put.body["evse_uid"], put.body["connector_id"]) == (
            live.location_id,
            live.evse_uid,
            "1",
        )
        evse_patches = to("locations", "PATCH", owner.country_code, owner.party_id, live.location_id, live.evse_uid)
        await eventually_status(stack, party, evse_patches, "CHARGING")

        # Charging: each meter report PATCHes the session with the energy so far.
        assert live.charger is not None
        clock.advance(1800)
        await live.charger.send_meter_values(1, seconds=1800)
        patched = await delivered(stack, party, lambda c: to("sessions", "PATCH")(c) and c.body.get("kwh", 0) > 0)
        assert patched[-1].body["kwh"] == pytest.approx(5.5)
        clock.advance(1800)
        await live.charger.send_meter_values(1, seconds=1800)
        await delivered(stack, party, lambda c: to("sessions", "PATCH")(c) and c.body.get("kwh", 0) >= 11)

        # Smart charging on the session: the answers now, the results at the response_urls.
        profiles = f"{peer.url('chargingprofiles')}/{session_id}"
        set_url = party.profile_response_url("set")
        profile = {"charging_rate_unit": "W", "charging_profile_period": [{"start_period": 0, "limit": 7400.0}]}
        r = await cpo_call(party, "PUT", profiles, {"charging_profile": profile, "response_url": set_url})
        check_charging_profile_response(envelope_of(r)["data"])
        active_url = party.profile_response_url("active")
        r = await cpo_call(party, "GET", f"{profiles}?duration=3600&response_url={active_url}")
        check_charging_profile_response(envelope_of(r)["data"])
        for url in (set_url, active_url):
            [answer] = await delivered(stack, party, lambda c, url=url: c.method == "POST" and url.endswith(c.path))
            assert answer.body["result"] == "ACCEPTED"

        # STOP_SESSION: the transaction ends, the session COMPLETED, the CDR POSTed.
        stop_url = await stop_by_command(party, session_id)
        [stopped] = await delivered(stack, party, lambda c: c.method == "POST" and stop_url.endswith(c.path))
        assert stopped.body == {"result": "ACCEPTED"}
        [posted] = await delivered(stack, party, to("cdrs", "POST"))
        await delivered(stack, party, lambda c: to("sessions", "PATCH")(c) and c.body.get("status") == "COMPLETED")
        final = session_state(party, session_id)
        check_session(final)
        assert final["status"] == "COMPLETED" and final["end_date_time"]
        await eventually_status(stack, party, evse_patches, "AVAILABLE")

        cdr = posted.body
        assert cdr["session_id"] == session_id and cdr["cdr_token"]["uid"] == uid
        assert cdr["auth_method"] == "COMMAND" and cdr["total_energy"] == pytest.approx(11.0)
        assert cdr["cdr_location"]["id"] == live.location_id and cdr["cdr_location"]["evse_uid"] == live.evse_uid
        # An OCPI calculator that knows nothing of ours prices the CDR alone: our total.
        excl, incl = cdr_cost(cdr, TIME_ZONE).minor(cdr["currency"])
        assert (excl, incl) == (round(cdr["total_cost"]["excl_vat"] * 100), round(cdr["total_cost"]["incl_vat"] * 100))
        async with stack.maker() as db:
            session = await db.get(OcpiSession, uuid.UUID(session_id))
            assert session is not None and session.transaction_id is not None
            tx = await db.get(Transaction, session.transaction_id)
            assert tx is not None
            priced = await cost_so_far(db, tx, datetime.now(UTC))
        assert priced is not None and priced.total_minor == incl == session.cdr_total_minor
        # 11 kWh at 3.49 + 60 min at 0.07 + 5.00 (our prices include VAT).
        assert incl == 11 * 349 + 60 * 7 + 500

        # What the party can pull again: the session and the CDR as pushed, every object valid.
        [(_, sessions)] = await party.pages("sessions")
        [(_, cdrs)] = await party.pages("cdrs")
        for pulled_session in sessions["data"]:
            check_session(pulled_session)
        for pulled_cdr in cdrs["data"]:
            check_cdr(pulled_cdr)
        assert [x["id"] for x in sessions["data"]] == [session_id]
        assert cdrs["data"] == [cdr]
        evse = envelope_of(await cpo_call(party, "GET", f"{peer.url('locations')}/{live.location_id}/{live.evse_uid}"))
        check_evse(evse["data"])
        connector = envelope_of(
            await cpo_call(party, "GET", f"{peer.url('locations')}/{live.location_id}/{live.evse_uid}/1")
        )
        check_connector(connector["data"])
        assert evse["data"]["status"] == "AVAILABLE"

        # Everything we sent was 2.2.1 by the party's schemas, and sent once.
        assert party.refused == []
        assert len([c for c in party.calls if to("cdrs", "POST")(c)]) == 1
        await live.charger.close()


async def eventually_status(stack: Stack, party: EmspParty, match: Callable[[Call], bool], status: str) -> None:
    await delivered(stack, party, lambda c: match(c) and isinstance(c.body, dict) and c.body.get("status") == status)


async def pushed_token(party: EmspParty) -> tuple[str, dict[str, Any]]:
    """A token of the party's, PUT to our tokens receiver."""
    uid = f"FLOW{uuid.uuid4().hex[:10].upper()}"
    token = party.add_token(uid, type="APP_USER", whitelist="ALLOWED")
    r = await cpo_call(party, "PUT", f"{party.peer.url('tokens')}/NL/EMP/{uid}?type=APP_USER", token)
    assert r.status_code == 200 and envelope_of(r)["status_code"] == 1000, r.text
    return uid, token


async def started_by_command(stack: Stack, party: EmspParty, live: Site, token: dict[str, Any]) -> None:
    response_url = party.command_response_url("START_SESSION")
    r = await cpo_call(
        party,
        "POST",
        f"{party.peer.url('commands')}/START_SESSION",
        {"response_url": response_url, "token": token, "location_id": live.location_id, "evse_uid": live.evse_uid},
    )
    check_command_response(envelope_of(r)["data"])
    assert r.json()["data"]["result"] == "ACCEPTED"
    [result] = await delivered(stack, party, lambda c: c.method == "POST" and response_url.endswith(c.path))
    assert result.body == {"result": "ACCEPTED"}


async def stop_by_command(party: EmspParty, session_id: str) -> str:
    """STOP_SESSION answered ACCEPTED; the response_url its result is POSTed to."""
    stop_url = party.command_response_url("STOP_SESSION")
    body = {"response_url": stop_url, "session_id": session_id}
    r = await cpo_call(party, "POST", f"{party.peer.url('commands')}/STOP_SESSION", body)
    check_command_response(envelope_of(r)["data"])
    assert r.json()["data"]["result"] == "ACCEPTED"
    return stop_url


async def pending_pushes(stack: Stack, owner: Tenant) -> list[OcpiPush]:
    async with stack.maker() as db:
        return list(
            await db.scalars(
                select(OcpiPush)
                .where(OcpiPush.operator_id == owner.id, OcpiPush.done_at.is_(None))
                .order_by(OcpiPush.id)
            )
        )


async def test_a_token_nobody_pushed_is_authorised_in_real_time_at_the_party(stack: Stack) -> None:
    owner = await tenant(stack, "FRT")
    async with emsp_party(strict_party()) as party:
        await registered(stack, owner, party)
        clock = ChargerClock(datetime(2026, 12, 10, 9, 0, tzinfo=UTC))
        day, _ = await tariffs_of(stack, owner)
        live = await site(stack, owner, "Flow Kort", tariff_id=day, clock=clock)
        uid = f"RT{uuid.uuid4().hex[:10].upper()}"
        party.add_token(uid)  # known to the party, never pushed to us
        assert live.charger is not None
        await live.charger.start_transaction(1, uid)
        [asked] = await delivered(stack, party, to("tokens", "POST", uid, "authorize"))
        assert asked.query.get("type", "RFID") == "RFID"
        assert asked.body is None or asked.body["location_id"] == live.location_id
        [put] = await delivered(stack, party, to("sessions", "PUT"))
        assert (put.body["auth_method"], put.body["cdr_token"]["uid"]) == ("AUTH_REQUEST", uid)
        assert put.body["authorization_reference"].startswith("AUTH-")
        assert party.refused == []
        await live.charger.close()


# -- failure paths -------------------------------------------------------------------------


async def test_a_partner_down_while_the_session_runs_gets_every_push_once_it_is_back(stack: Stack) -> None:
    owner = await tenant(stack, "FDN")
    async with emsp_party(strict_party()) as party:
        await registered(stack, owner, party)
        clock = ChargerClock(datetime(2026, 12, 9, 9, 0, tzinfo=UTC))
        day, _ = await tariffs_of(stack, owner)
        live = await site(stack, owner, "Flow Nere", tariff_id=day, clock=clock)
        _, token = await pushed_token(party)
        await started_by_command(stack, party, live, token)
        [put] = await delivered(stack, party, to("sessions", "PUT"))
        session_id = put.body["id"]
        assert live.charger is not None

        async with party.offline():
            # The charger and the partner's commands go on as if nothing were wrong.
            clock.advance(1200)
            await live.charger.send_meter_values(1, seconds=1200)
            stop_url = await stop_by_command(party, session_id)

            async def cdr_made() -> bool:
                async with stack.maker() as db:
                    found = await db.get(OcpiSession, uuid.UUID(session_id))
                    return found is not None and found.cdr_id is not None

            await eventually(cdr_made)
            await stack.bus.idle()
            assert await stack.pushes.send_due() == 0

            async def tried() -> list[OcpiPush] | None:
                # Every push of the session waits: tried once and refused a connection, or
                # queued behind an earlier push of its object (order per object holds).
                waiting = await pending_pushes(stack, owner)
                firsts = {p.object_key: p for p in reversed(waiting)}.values()
                return waiting if all(p.attempts == 1 and p.last_error for p in firsts) else None

            waiting = await eventually(tried)
            assert {(p.module, p.method) for p in waiting} >= {
                ("sessions", "PATCH"),
                ("cdrs", "POST"),
                ("commands", "POST"),
            }

        stack.push_clock.advance(3600)  # the back-off has passed
        [result] = await delivered(stack, party, lambda c: c.method == "POST" and stop_url.endswith(c.path))
        assert result.body == {"result": "ACCEPTED"}
        [posted] = await delivered(stack, party, to("cdrs", "POST"))
        await delivered(stack, party, lambda c: to("sessions", "PATCH")(c) and c.body.get("status") == "COMPLETED")
        assert posted.body["session_id"] == session_id and posted.body["total_energy"] == pytest.approx(3.667, abs=1e-3)
        assert session_state(party, session_id)["status"] == "COMPLETED"

        async def all_sent() -> bool:
            await stack.pushes.send_due()
            return not await pending_pushes(stack, owner)

        await eventually(all_sent)
        assert len([c for c in party.calls if to("cdrs", "POST")(c)]) == 1
        assert party.refused == []
        await live.charger.close()


async def test_a_bad_credentials_token_is_401_in_the_envelope(stack: Stack) -> None:
    owner = await tenant(stack, "FBT")
    async with emsp_party(strict_party()) as party:
        r = await stack.http.post("/api/v1/operator/roaming/partners/tokens", json={}, headers=owner.operator_api)
        token_a = r.json()["token"]
        await party.register_with(stack.versions_url, token_a)
        locations = party.peer.url("locations")
        async with httpx.AsyncClient(timeout=20) as http:
            for authorization in (
                {"Authorization": token_header("not-a-token-of-ours")},
                {"Authorization": token_header(token_a)},  # spent at the registration
                {"Authorization": "Bearer " + party.peer.token_out},
                {},
            ):
                r = await http.get(locations, headers=authorization)
                assert r.status_code == 401, (authorization, r.text)
                body = envelope_of(r)
                assert body["status_code"] != 1000 and not body.get("data")
            # The credentials token C itself is fine.
            r = await http.get(locations, headers={"Authorization": token_header(party.peer.token_out)})
            assert r.status_code == 200 and envelope_of(r)["status_code"] == 1000


async def test_bad_bodies_are_2001_and_change_nothing(stack: Stack) -> None:
    owner = await tenant(stack, "FBB")
    async with emsp_party(strict_party()) as party:
        await registered(stack, owner, party)
        day, _ = await tariffs_of(stack, owner)
        live = await site(stack, owner, "Flow Fel", tariff_id=day)
        uid = "FLOWBAD0001"
        good = party.add_token(uid)
        tokens = f"{party.peer.url('tokens')}/NL/EMP/{uid}?type=RFID"
        commands = party.peer.url("commands")
        bad_calls: list[tuple[str, str, Any]] = [
            ("PUT", tokens, {k: v for k, v in good.items() if k != "valid"}),  # a required field missing
            ("PUT", tokens, good | {"whitelist": "SOMETIMES"}),  # not a WhitelistType
            ("PUT", tokens, good | {"uid": "X" * 37}),  # longer than CiString(36)
            ("PUT", tokens, [good]),  # not an object
            ("POST", f"{commands}/START_SESSION", {"token": good, "location_id": live.location_id}),
            (
                "POST",
                f"{commands}/START_SESSION",
                {
                    "response_url": party.command_response_url("START_SESSION"),
                    "token": {"uid": uid},
                    "location_id": "x",
                },
            ),
            ("POST", f"{commands}/STOP_SESSION", {"response_url": party.command_response_url("STOP_SESSION")}),
            ("PUT", party.peer.url("credentials"), {"token": "t", "url": party.versions_url, "roles": []}),
        ]
        async with stack.maker() as db:
            partner = await db.scalar(select(OcpiPartner).where(OcpiPartner.operator_id == owner.id))
            assert partner is not None
        before = await counts(stack, owner)
        for method, url, body in bad_calls:
            r = await cpo_call(party, method, url, body)
            assert (r.status_code, envelope_of(r)["status_code"]) == (400, 2001), (method, url, body, r.text)
        async with httpx.AsyncClient(timeout=20) as http:
            r = await http.put(
                tokens,
                content=b"{not json",
                headers={"Authorization": token_header(party.peer.token_out), "Content-Type": "application/json"},
            )
        assert (r.status_code, envelope_of(r)["status_code"]) == (400, 2001), r.text
        assert await counts(stack, owner) == before
        async with stack.maker() as db:
            unchanged = await db.get(OcpiPartner, partner.id)
        assert unchanged is not None
        assert (unchanged.state, unchanged.token_digest, unchanged.their_token) == (
            "registered",
            partner.token_digest,
            partner.their_token,
        )
        # The good body after all the bad ones: taken.
        r = await cpo_call(party, "PUT", tokens, good)
        assert r.status_code == 200 and envelope_of(r)["status_code"] == 1000


async def counts(stack: Stack, owner: Tenant) -> tuple[int, ...]:
    """The tenant's roaming tokens, sessions, commands and pushes (but the location pushes
    its new site makes in the background)."""
    async with stack.maker() as db:
        found = [
            await db.scalar(select(func.count()).select_from(model).where(model.operator_id == owner.id))
            for model in (OcpiToken, OcpiSession, OcpiCommand)
        ]
        found.append(
            await db.scalar(
                select(func.count())
                .select_from(OcpiPush)
                .where(OcpiPush.operator_id == owner.id, OcpiPush.module != "locations")
            )
        )
    return tuple(int(n or 0) for n in found)


async def test_another_tenants_party_sees_nothing_of_ours(stack: Stack) -> None:
    ours, theirs = await tenant(stack, "FMY"), await tenant(stack, "FOT")
    async with emsp_party(strict_party()) as party, emsp_party(strict_party("OTP")) as other:
        await registered(stack, ours, party)
        await registered(stack, theirs, other)
        day, _ = await tariffs_of(stack, ours)
        mine = await site(stack, ours, "Flow Egen", tariff_id=day)
        # Our new location reaches our partner ...
        await delivered(stack, party, to("locations", "PUT", ours.country_code, ours.party_id, mine.location_id))
        for module in ("locations", "tariffs", "sessions", "cdrs"):
            [(headers, body)] = await other.pages(module)
            assert body["data"] == [] and headers["x-total-count"] == "0", module
        r = await cpo_call(other, "GET", f"{other.peer.url('locations')}/{mine.location_id}")
        assert (r.status_code, envelope_of(r)["status_code"]) == (404, 2003)
        r = await cpo_call(other, "GET", f"{other.peer.url('locations')}/{mine.location_id}/{mine.evse_uid}")
        assert r.status_code == 404 and envelope_of(r)["status_code"] == 2003
        # ... and nothing of ours reaches theirs.
        assert [c for c in other.calls if c.method in ("PUT", "PATCH", "POST")] == []
        assert party.refused == other.refused == []
