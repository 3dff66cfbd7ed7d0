"""The Locations module end to end: partners GET our locations over real HTTP, and simulator
chargers over real sockets change EVSE statuses that reach a listening partner as PATCHes.

The API runs with the bridge, the health monitor and the OCPI push worker on one clock the
tests move by hand: a retry after back-off is due when the clock says so, never after a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from sqlalchemy import event, select

from app.chargers.models import Evse, Location
from app.chargers.service import ChargerService
from app.core.bus import InProcessBus
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import HealthSettings, HttpSettings, Settings
from app.health.monitor import HealthMonitor
from app.main import create_app
from app.operators.models import Operator
from app.roaming.envelope import Page
from app.roaming.locations.pusher import LocationPusher
from app.roaming.locations.repository import LocationReader
from app.roaming.models import OcpiPartner, OcpiPush
from app.roaming.push import PushWorker
from app.runner import _EmbeddedServer
from app.tariffs.models import Tariff, TariffAssignment
from app.tariffs.service import TariffService
from devtools.simulator import SimulatedCharger
from tests.e2e.health.health_stack import OFFLINE_GRACE_S, HealthStack, StackClock, eventually
from tests.e2e.ocpi.recording_party import Call, RecordingParty, recording_party, registered_partner
from tests.e2e.ocpp_helpers import PASSWORD
from tests.support import create_staff

LOCATIONS = "/ocpi/2.2.1/locations"


@dataclasses.dataclass
class OcpiStack:
    health: HealthStack
    worker: PushWorker
    pusher: LocationPusher
    tenants: Iterator[int] = dataclasses.field(default_factory=itertools.count)  # their party ids

    async def settled(self) -> None:
        """Every event so far handled, and every status change it made pushed (enqueued)."""
        await self.health.settle()
        await self.pusher.flush()

    @property
    def maker(self) -> Any:
        return self.health.maker

    def http(self, authorization: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": authorization} if authorization else {}
        return httpx.AsyncClient(base_url=self.health.base_url, headers=headers)

    async def tenant(self) -> uuid.UUID:
        """A new operator company (its own OCPI party)."""
        async with self.maker() as db:
            number = next(self.tenants)
            operator = Operator(name=f"CPO {number}", country_code="SE", party_id=f"{number:03d}")
            db.add(operator)
            await db.commit()
            return operator.id

    async def party(self, tenant: uuid.UUID) -> tuple[str, str]:
        async with self.maker() as db:
            operator = await db.get(Operator, tenant)
            assert operator is not None
            return operator.country_code, operator.party_id

    async def location(self, tenant: uuid.UUID, **fields: Any) -> uuid.UUID:
        fields.setdefault("name", f"Site {uuid.uuid4().hex[:6]}")
        fields.setdefault("latitude", 59.3303)
        fields.setdefault("longitude", 18.0586)
        async with self.maker() as db:
            location = Location(operator_id=tenant, address="Vasagatan 1", city="Stockholm", **fields)
            db.add(location)
            await db.commit()
            return location.id

    async def charger(self, location_id: uuid.UUID) -> tuple[str, uuid.UUID]:
        """A registered charger of one EVSE at the location (its tenant's): identity, EVSE uid."""
        identity = f"LOC-{uuid.uuid4().hex[:8]}"
        async with self.maker() as db:
            cp = await ChargerService(db, self.health.bus).register(
                identity, PASSWORD, location_id=location_id, evse_count=1
            )
            evse_pk = await db.scalar(select(Evse.id).where(Evse.charge_point_id == cp.id))
        assert evse_pk is not None
        return identity, evse_pk

    async def pushes(self, partner: OcpiPartner) -> list[OcpiPush]:
        async with self.maker() as db:
            return list((await db.scalars(select(OcpiPush).where(OcpiPush.partner_id == partner.id))).all())


@contextlib.asynccontextmanager
async def running_ocpi_stack(settings: Settings) -> AsyncIterator[OcpiStack]:
    """The bridge, the API (health monitor, OCPI push worker and location pusher in its
    lifespan) on free ports, all on one hand-moved clock."""
    from ocpp_bridge.server import create_bridge

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])
    settings = dataclasses.replace(
        settings,
        http=HttpSettings(port=port, public_base_url=f"http://127.0.0.1:{port}"),
        ocpp=dataclasses.replace(settings.ocpp, heartbeat_interval_s=1),
        health=HealthSettings(
            offline_grace_s=OFFLINE_GRACE_S, site_window_s=1.0, tick_interval_s=0.2, self_healing=False
        ),
        ocpi=dataclasses.replace(settings.ocpi, allow_private_partners=True, max_page_limit=3),
    )
    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    bus = InProcessBus()
    await bus.start()
    clock = StackClock()
    bridge = create_bridge(settings.ocpp, maker, bus, clock=clock)
    await bridge.start()
    monitor = HealthMonitor(maker, bus, settings, clock=clock)
    worker = PushWorker(maker, settings.ocpi, clock=clock)
    app = create_app(settings, engine=engine, bus=bus, health_monitor=monitor, ocpi_push_worker=worker)
    server = _EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        await asyncio.sleep(0.02)
    health = HealthStack(settings, maker, bus, bridge.port, port, clock, monitor)
    stack = OcpiStack(health, worker, app.state.ocpi_location_pusher)
    try:
        yield stack
    finally:
        for sim in stack.health.sims:
            await sim.close()
        server.should_exit = True
        await serving
        await bridge.close()
        await bus.close()
        await engine.dispose()


@pytest.fixture(scope="module")
async def ocpi(settings: Settings) -> AsyncIterator[OcpiStack]:
    async with running_ocpi_stack(settings) as stack:
        yield stack


@pytest.fixture
async def party() -> AsyncIterator[RecordingParty]:
    async with recording_party() as listening:
        yield listening


def patches(party: RecordingParty, evse_pk: uuid.UUID) -> list[Call]:
    return [c for c in party.calls if c.method == "PATCH" and c.path.endswith(f"/{evse_pk}")]


async def patched(party: RecordingParty, evse_pk: uuid.UUID, *statuses: str) -> list[Call]:
    """The EVSE's PATCHes once there are as many as ``statuses``, which they must be, in order."""

    def match(c: Call) -> bool:
        return c.method == "PATCH" and c.path.endswith(f"/{evse_pk}")

    calls = await party.wait_for(match, count=len(statuses))
    assert [c.body["status"] for c in calls] == list(statuses)
    return calls


async def walk(http: httpx.AsyncClient, url: str) -> tuple[list[dict[str, Any]], list[httpx.Response]]:
    """Every page of a paginated list, following Link rel="next"."""
    items: list[dict[str, Any]] = []
    pages: list[httpx.Response] = []
    next_url: str | None = url
    while next_url is not None:
        answer = await http.get(next_url)
        assert answer.status_code == 200 and answer.json()["status_code"] == 1000, answer.text
        pages.append(answer)
        items += answer.json()["data"]
        link = answer.headers.get("link")
        next_url = None
        if link:
            assert link.endswith('>; rel="next"')
            target = urlsplit(link[1 : link.index(">")])
            next_url = f"{target.path}?{target.query}"
    return items, pages


# -- the sender interface -----------------------------------------------------------------


async def test_the_list_is_paginated_oldest_first_and_link_walks_every_page(ocpi: OcpiStack) -> None:
    tenant, other = await ocpi.tenant(), await ocpi.tenant()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [await ocpi.location(tenant, created_at=t0 + timedelta(days=i)) for i in range(7)]
    await ocpi.location(tenant, latitude=None, longitude=None)  # not on a map: not published
    await ocpi.location(other)
    async with recording_party() as listening:
        _, auth = await registered_partner(ocpi.maker, tenant, listening)
    async with ocpi.http(auth) as http:
        items, pages = await walk(http, f"{LOCATIONS}?limit=50")
        assert [p.headers["x-limit"] for p in pages] == ["3", "3", "3"]  # the server's maximum
        assert {p.headers["x-total-count"] for p in pages} == {"7"}
        assert [item["id"] for item in items] == [str(i) for i in ids]
        assert "link" not in pages[-1].headers
        first = items[0]
        assert first["country_code"] == "SE" and first["publish"] is True
        assert first["coordinates"] == {"latitude": "59.3303000", "longitude": "18.0586000"}
        assert first["last_updated"] == "2026-01-01T00:00:00.000Z"
        offset = (await http.get(LOCATIONS, params={"offset": "6", "limit": "2"})).json()["data"]
        assert [item["id"] for item in offset] == [str(ids[6])]


async def test_date_from_and_date_to_select_by_last_updated_and_links_keep_them(ocpi: OcpiStack) -> None:
    tenant = await ocpi.tenant()
    t0 = datetime(2026, 2, 1, tzinfo=UTC)
    ids = [await ocpi.location(tenant, created_at=t0 + timedelta(days=i)) for i in range(6)]
    async with recording_party() as listening:
        _, auth = await registered_partner(ocpi.maker, tenant, listening)
    async with ocpi.http(auth) as http:
        items, pages = await walk(http, f"{LOCATIONS}?date_from=2026-02-02T00:00:00Z")
        assert [i["id"] for i in items] == [str(i) for i in ids[1:]]
        assert "date_from=2026-02-02T00%3A00%3A00Z" in pages[0].headers["link"]
        window = (
            await http.get(LOCATIONS, params={"date_from": "2026-02-02T00:00:00Z", "date_to": "2026-02-04T00:00:00Z"})
        ).json()["data"]
        assert [i["id"] for i in window] == [str(i) for i in ids[1:3]]  # date_to excluded
        # A charger registered now makes its location the newest change.
        await ocpi.charger(ids[0])
        recent = (await http.get(LOCATIONS, params={"date_from": "2026-06-01T00:00:00Z"})).json()["data"]
        assert [i["id"] for i in recent] == [str(ids[0])]
        bad = await http.get(LOCATIONS, params={"date_from": "yesterday"})
        assert bad.status_code == 400 and bad.json()["status_code"] == 2001
        bad_limit = await http.get(LOCATIONS, params={"limit": "-1"})
        assert bad_limit.status_code == 400 and bad_limit.json()["status_code"] == 2001


async def test_a_location_its_evse_and_connector_one_by_one(ocpi: OcpiStack) -> None:
    tenant = await ocpi.tenant()
    location_id = await ocpi.location(tenant, postal_code="111 20")
    _, evse_pk = await ocpi.charger(location_id)
    async with ocpi.maker() as db:
        tariff = Tariff(operator_id=tenant, name="Standard", currency="SEK", price_per_kwh_minor=450, vat_rate_bp=2500)
        db.add(tariff)
        await db.flush()
        db.add(TariffAssignment(operator_id=tenant, scope="location", target_id=location_id, tariff_id=tariff.id))
        await db.commit()
        evse_id = await db.scalar(select(Evse.evse_id).where(Evse.id == evse_pk))
    async with recording_party() as listening:
        _, auth = await registered_partner(ocpi.maker, tenant, listening)
    async with ocpi.http(auth) as http:
        location = (await http.get(f"{LOCATIONS}/{location_id}")).json()
        assert location["status_code"] == 1000
        body = location["data"]
        assert body["id"] == str(location_id) and body["postal_code"] == "111 20" and body["country"] == "SWE"
        assert body["time_zone"] == "Europe/Stockholm" and body["opening_times"] == {"twentyfourseven": True}
        [evse] = body["evses"]
        assert evse["uid"] == str(evse_pk) and evse["evse_id"] == evse_id
        assert evse["status"] == "UNKNOWN"  # registered, never connected
        assert evse["connectors"][0]["tariff_ids"] == [str(tariff.id)]
        alone = (await http.get(f"{LOCATIONS}/{location_id}/{evse_pk}")).json()["data"]
        assert alone == evse
        connector = (await http.get(f"{LOCATIONS}/{location_id}/{evse_pk}/1")).json()["data"]
        assert connector == evse["connectors"][0]
        assert connector["standard"] == "IEC_62196_T2" and connector["format"] == "SOCKET"
        assert connector["power_type"] == "AC_3_PHASE" and connector["max_electric_power"] == 22000


async def test_unknown_and_other_tenants_objects_are_2003_and_no_token_is_401(ocpi: OcpiStack) -> None:
    tenant, other = await ocpi.tenant(), await ocpi.tenant()
    mine = await ocpi.location(tenant)
    _, evse_pk = await ocpi.charger(mine)
    theirs = await ocpi.location(other)
    _, their_evse = await ocpi.charger(theirs)
    unpublished = await ocpi.location(tenant, latitude=None, longitude=None)
    async with recording_party() as listening:
        _, auth = await registered_partner(ocpi.maker, tenant, listening)
    async with ocpi.http(auth) as http:
        for path in (
            f"{LOCATIONS}/{theirs}",
            f"{LOCATIONS}/{theirs}/{their_evse}",
            f"{LOCATIONS}/{theirs}/{their_evse}/1",
            f"{LOCATIONS}/{unpublished}",
            f"{LOCATIONS}/{uuid.uuid4()}",
            f"{LOCATIONS}/not-a-location-id",
            f"{LOCATIONS}/{mine}/{their_evse}",
            f"{LOCATIONS}/{mine}/{uuid.uuid4()}",
            f"{LOCATIONS}/{mine}/{evse_pk}/2",
        ):
            answer = await http.get(path)
            assert answer.status_code == 404, path
            assert answer.json()["status_code"] == 2003 and answer.json()["data"] is None, path
        listed = (await http.get(LOCATIONS)).json()["data"]
        assert [item["id"] for item in listed] == [str(mine)]
    for authorization in (None, "Token bm8tc3VjaC10b2tlbg=="):
        async with ocpi.http(authorization) as http:
            answer = await http.get(LOCATIONS)
            assert answer.status_code == 401 and answer.json()["status_code"] == 2000


# -- live status pushed -------------------------------------------------------------------


async def connected(ocpi: OcpiStack, identity: str) -> SimulatedCharger:
    return await ocpi.health.charger(identity)


async def test_status_changes_reach_every_partner_of_the_tenant_in_order(ocpi: OcpiStack) -> None:
    tenant, other = await ocpi.tenant(), await ocpi.tenant()
    async with recording_party() as ours, recording_party() as second, recording_party() as theirs:
        partner, _ = await registered_partner(ocpi.maker, tenant, ours)
        also, _ = await registered_partner(ocpi.maker, tenant, second, party_id="EMQ")
        stranger, _ = await registered_partner(ocpi.maker, other, theirs)
        location_id = await ocpi.location(tenant)
        async with ocpi.maker() as db:
            country, party_id = (
                await db.execute(select(Operator.country_code, Operator.party_id).where(Operator.id == tenant))
            ).one()
        identity, evse_pk = await ocpi.charger(location_id)
        # Registering the charger changed the location: PUT whole to each partner.
        [put] = await ours.wait_for(lambda c: c.method == "PUT")
        assert put.path == f"/emsp/2.2.1/locations/{country}/{party_id}/{location_id}"
        assert put.body["id"] == str(location_id) and put.body["evses"][0]["uid"] == str(evse_pk)
        sim = await connected(ocpi, identity)
        await patched(ours, evse_pk, "AVAILABLE")
        await sim.status(1, "Charging")
        await patched(ours, evse_pk, "AVAILABLE", "CHARGING")
        await sim.fault(1, "GroundFailure", "RCD tripped")
        calls = await patched(ours, evse_pk, "AVAILABLE", "CHARGING", "OUTOFORDER")
        assert calls[-1].path == f"/emsp/2.2.1/locations/{country}/{party_id}/{location_id}/{evse_pk}"
        assert set(calls[-1].body) == {"status", "last_updated"}
        assert calls[-1].headers["authorization"].startswith("Token ")
        await patched(second, evse_pk, "AVAILABLE", "CHARGING", "OUTOFORDER")
        # The other tenant's partner: nothing enqueued with the pushes above, nothing sent.
        assert await ocpi.pushes(stranger) == [] and theirs.calls == []
        # The same status again is not pushed again.
        await sim.fault(1, "GroundFailure", "RCD tripped again")
        await ocpi.settled()
        assert len([p for p in await ocpi.pushes(partner) if p.method == "PATCH"]) == 3
        assert len([p for p in await ocpi.pushes(also) if p.method == "PATCH"]) == 3
        # What the partner was told is what a GET says, last_updated included.
        _, auth = await registered_partner(ocpi.maker, tenant, ours, party_id="EMR")
        async with ocpi.http(auth) as http:
            evse = (await http.get(f"{LOCATIONS}/{location_id}/{evse_pk}")).json()["data"]
        assert evse["status"] == "OUTOFORDER" and evse["last_updated"] == calls[-1].body["last_updated"]


async def test_a_health_incident_makes_the_evse_out_of_order_until_resolved(ocpi: OcpiStack) -> None:
    tenant = await ocpi.tenant()
    async with recording_party() as ours:
        await registered_partner(ocpi.maker, tenant, ours)
        identity, evse_pk = await ocpi.charger(await ocpi.location(tenant))
        sim = await connected(ocpi, identity)
        await patched(ours, evse_pk, "AVAILABLE")
        # 1.6: still Available, but an error code the fault detector calls critical.
        await sim.status(1, "Available", "HighTemperature", info="cabinet 92 C")
        await ocpi.health.settle()
        await patched(ours, evse_pk, "AVAILABLE", "OUTOFORDER")
        await sim.status(1, "Available")
        await ocpi.health.settle()
        await patched(ours, evse_pk, "AVAILABLE", "OUTOFORDER", "AVAILABLE")


async def test_an_offline_charger_is_unknown(ocpi: OcpiStack) -> None:
    tenant = await ocpi.tenant()
    async with recording_party() as ours:
        await registered_partner(ocpi.maker, tenant, ours)
        identity, evse_pk = await ocpi.charger(await ocpi.location(tenant))
        sim = await connected(ocpi, identity)
        await patched(ours, evse_pk, "AVAILABLE")
        await sim.go_offline()
        await patched(ours, evse_pk, "AVAILABLE", "UNKNOWN")


async def test_a_partner_that_never_had_the_location_gets_it_put_whole(ocpi: OcpiStack) -> None:
    tenant = await ocpi.tenant()
    location_id = await ocpi.location(tenant)
    identity, evse_pk = await ocpi.charger(location_id)
    await ocpi.settled()  # the location went round (to nobody) before the partner came
    async with recording_party() as late:
        # Registered after the location was sent around: it has never seen it.
        partner, _ = await registered_partner(ocpi.maker, tenant, late)
        async with ocpi.maker() as db:
            country, party_id = (
                await db.execute(select(Operator.country_code, Operator.party_id).where(Operator.id == tenant))
            ).one()
        evse_path = f"/emsp/2.2.1/locations/{country}/{party_id}/{location_id}/{evse_pk}"
        late.answers[evse_path] = (404, {"data": None, "status_code": 2003, "status_message": "unknown location"})
        await connected(ocpi, identity)
        [put] = await late.wait_for(lambda c: c.method == "PUT")
        assert put.path == f"/emsp/2.2.1/locations/{country}/{party_id}/{location_id}"
        assert put.body["evses"][0]["status"] == "AVAILABLE"

        async def patch_replaced() -> bool:
            patched_ = [p.outcome for p in await ocpi.pushes(partner) if p.method == "PATCH"]
            return patched_[-1:] == ["replaced"]

        await eventually(patch_replaced, "the PATCH the partner did not know is done, replaced by the PUT")


async def test_a_partner_down_gets_the_latest_status_once_it_recovers(ocpi: OcpiStack) -> None:
    tenant = await ocpi.tenant()
    async with recording_party() as flaky:
        partner, _ = await registered_partner(ocpi.maker, tenant, flaky)
        identity, evse_pk = await ocpi.charger(await ocpi.location(tenant))
        sim = await connected(ocpi, identity)
        await patched(flaky, evse_pk, "AVAILABLE")
        flaky.answers["/emsp/2.2.1/locations"] = (500, {"data": None, "status_code": 3000})
        await sim.status(1, "Charging")
        await patched(flaky, evse_pk, "AVAILABLE", "CHARGING")  # answered 500

        async def failed_once() -> bool:
            return any(p.attempts == 1 and p.last_error for p in await ocpi.pushes(partner))

        await eventually(failed_once, "the CHARGING push failed once")
        await sim.fault(1, "GroundFailure", "RCD tripped")

        async def waiting() -> bool:
            return any(p.body.get("status") == "OUTOFORDER" for p in await ocpi.pushes(partner))

        await eventually(waiting, "the OUTOFORDER push waits behind the failed one")
        # Nothing is due before the back-off: the worker's pass by hand sends nothing.
        assert await ocpi.worker.send_due() == 0
        del flaky.answers["/emsp/2.2.1/locations"]
        ocpi.health.clock.advance(60)
        for _ in range(2):  # the retry, then the push that waited behind it
            await ocpi.worker.send_due()
        await patched(flaky, evse_pk, "AVAILABLE", "CHARGING", "CHARGING", "OUTOFORDER")
        outcomes = [p.outcome for p in await ocpi.pushes(partner) if p.method == "PATCH"]
        assert outcomes == ["delivered", "delivered", "delivered"]


async def test_a_location_the_operator_creates_is_put_to_its_partners(ocpi: OcpiStack) -> None:
    tenant = await ocpi.tenant()
    email = f"ops-{uuid.uuid4().hex[:6]}@locations.test"
    async with ocpi.maker() as db:
        await create_staff(db, email, "ops-password-123", operator_id=tenant)
    async with recording_party() as ours:
        await registered_partner(ocpi.maker, tenant, ours)
        async with ocpi.http(None) as http:
            login = await http.post("/api/v1/auth/token", json={"email": email, "password": "ops-password-123"})
            headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
            created = await http.post(
                "/api/v1/operator/locations",
                headers=headers,
                json={"name": "Hamnen", "address": "Kajen 2", "city": "Luleå", "latitude": 65.58, "longitude": 22.15},
            )
            assert created.status_code == 201, created.text
        location_id = created.json()["id"]
        [put] = await ours.wait_for(lambda c: c.method == "PUT")
        country, party_id = await ocpi.party(tenant)
        assert put.path == f"/emsp/2.2.1/locations/{country}/{party_id}/{location_id}"
        assert put.body["name"] == "Hamnen" and put.body["city"] == "Luleå" and put.body["evses"] == []
        assert put.body["coordinates"] == {"latitude": "65.5800000", "longitude": "22.1500000"}


async def test_a_new_tariff_for_the_location_is_put_with_a_newer_last_updated(ocpi: OcpiStack) -> None:
    tenant = await ocpi.tenant()
    location_id = await ocpi.location(tenant)
    _, evse_pk = await ocpi.charger(location_id)
    await ocpi.settled()
    async with recording_party() as ours:
        _, auth = await registered_partner(ocpi.maker, tenant, ours)
        async with ocpi.http(auth) as http:
            before = (await http.get(f"{LOCATIONS}/{location_id}")).json()["data"]
        assert "tariff_ids" not in before["evses"][0]["connectors"][0]
        async with ocpi.maker() as db:
            tariff = Tariff(operator_id=tenant, name="Hamn", currency="SEK", price_per_kwh_minor=399, vat_rate_bp=2500)
            db.add(tariff)
            await db.commit()
            await TariffService(db, ocpi.health.bus, tenant_id=tenant).assign("location", location_id, tariff.id)
        [put] = await ours.wait_for(lambda c: c.method == "PUT")
        [evse] = put.body["evses"]
        assert evse["uid"] == str(evse_pk) and evse["connectors"][0]["tariff_ids"] == [str(tariff.id)]
        assert put.body["last_updated"] > before["last_updated"]
        assert evse["connectors"][0]["last_updated"] == evse["last_updated"] == put.body["last_updated"]
        async with ocpi.http(auth) as http:
            since = (await http.get(LOCATIONS, params={"date_from": put.body["last_updated"]})).json()["data"]
        assert [item["id"] for item in since] == [str(location_id)]
        assert since[0] == put.body


async def test_a_page_takes_the_same_queries_however_many_evses_it_holds(ocpi: OcpiStack) -> None:
    async def network(chargers: int, evses: int) -> uuid.UUID:
        tenant = await ocpi.tenant()
        for _ in range(3):
            location_id = await ocpi.location(tenant)
            async with ocpi.maker() as db:
                for _ in range(chargers):
                    identity = f"LOC-{uuid.uuid4().hex[:8]}"
                    await ChargerService(db, ocpi.health.bus).register(
                        identity, PASSWORD, location_id=location_id, evse_count=evses
                    )
        return tenant

    async def queries(tenant: uuid.UUID) -> tuple[int, int]:
        async with ocpi.maker() as db:
            mine = (await db.connection()).sync_connection
            seen: list[str] = []

            def count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
                if conn is mine:
                    seen.append(statement)

            engine = db.get_bind()
            event.listen(engine, "before_cursor_execute", count)
            try:
                _, locations = await LocationReader(db, tenant).page(Page(offset=0, limit=100))
            finally:
                event.remove(engine, "before_cursor_execute", count)
        return len(seen), sum(len(loc.evses) for loc in locations)

    small, large = await queries(await network(1, 1)), await queries(await network(3, 2))
    assert small[1] == 3 and large[1] == 18
    assert small[0] == large[0] <= 8
