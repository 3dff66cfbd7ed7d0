"""CDRs end to end: a simulator charger runs a session under a roaming session (OcpiSession),
the CDR is POSTed to the partner (a recording OCPI party) with the metered energy and our
exact price, an independent OCPI calculator reproduces it from the CDR alone, replays make
no second CDR, the partner pages through GET /cdrs and /tariffs, another tenant's partner
sees none of it, and the operator's roaming revenue and CDR reconciliation show it."""

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
from sqlalchemy import func, select, update

from app.chargers.models import ChargePoint, Location
from app.chargers.service import ChargerService
from app.core.bus import InProcessBus
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import HttpSettings, OcpiSettings, Settings
from app.drivers.models import IdToken
from app.main import create_app
from app.operators.models import Operator
from app.roaming.cdrs.service import CdrIssuer
from app.roaming.models import OcpiPush, OcpiSession
from app.roaming.push import PushWorker
from app.runner import _EmbeddedServer
from app.sessions.costs import cost_so_far
from app.sessions.models import Transaction
from app.tariffs.pricing import TariffBand, TariffTerms
from app.tariffs.service import TariffService
from devtools.simulator import SimConfig, SimulatedCharger
from payments.models import Payment
from tests.e2e.ocpi.recording_party import RecordingParty, recording_party, registered_partner
from tests.e2e.ocpp_helpers import PASSWORD
from tests.e2e.test_restart import free_port
from tests.ocpi_schemas import check_cdr, check_tariff
from tests.support import create_staff
from tests.support_ocpi_tariffs import cdr_cost

OPERATOR = ("ops@cdrs.test", "ops-password-123")
TAG = "CDR-ROAMING-TAG"
TIME_ZONE = "Europe/Stockholm"
TERMS = TariffTerms(
    currency="SEK",
    name="Roaming standard",
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


class HandClock:
    """The simulator's clock: whole seconds, moved on by the test (no wall clock in prices)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Stack:
    settings: Settings
    http: httpx.AsyncClient
    maker: Any
    bus: InProcessBus
    ocpp_url: str
    headers: dict[str, str]
    tenant_id: uuid.UUID
    issuer: CdrIssuer
    pusher: PushWorker
    party: RecordingParty
    partner_id: uuid.UUID
    partner_auth: str


@pytest.fixture(scope="module")
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    from ocpp_bridge.server import create_bridge

    port = free_port()
    settings = dataclasses.replace(
        settings,
        http=HttpSettings(port=port, public_base_url=f"http://127.0.0.1:{port}"),
        ocpi=OcpiSettings(allow_private_partners=True, max_page_limit=1),
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
    # The tests drive the push worker and the CDR sweep themselves (the end event still
    # makes CDRs at once): no background pass races an assertion.
    await app.state.ocpi_push_worker.close()
    await app.state.ocpi_cdr_issuer.close()
    async with maker() as db:
        staff = await create_staff(db, *OPERATOR)
        db.add(IdToken(token=TAG, status="Accepted"))
        await db.commit()
    assert staff.operator_id is not None
    async with maker() as db:
        tariff = await TariffService(db, bus).create(TERMS, operator_id=staff.operator_id)
        await TariffService(db, bus).assign("operator", staff.operator_id, tariff.id)
    async with (
        recording_party() as party,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
    ):
        partner, auth = await registered_partner(maker, staff.operator_id, party)
        token = (await http.post("/api/v1/auth/token", json={"email": OPERATOR[0], "password": OPERATOR[1]})).json()
        yield Stack(
            settings,
            http,
            maker,
            bus,
            f"ws://127.0.0.1:{bridge.port}/ocpp",
            {"Authorization": f"Bearer {token['accessToken']}"},
            staff.operator_id,
            app.state.ocpi_cdr_issuer,
            app.state.ocpi_push_worker,
            party,
            partner.id,
            auth,
        )
        server.should_exit = True
        await serving
    await bridge.close()
    await bus.close()
    await engine.dispose()


async def roaming_session(stack: Stack, start: datetime, *, charge_s: int, idle_s: int) -> tuple[OcpiSession, Any]:
    """A 1.6 simulator at a location of the tenant runs one session from ``start`` under a
    roaming session of the partner: ``charge_s`` of charging at 11 kW (whole Wh when a
    multiple of 36 s), one meter reading, then ``idle_s`` plugged in without energy. The
    charger's clock is whole seconds."""
    identity = f"CP-{uuid.uuid4().hex[:8]}"
    async with stack.maker() as db:
        location = Location(operator_id=stack.tenant_id, name="Roaming Torg", address="Torget 1", city="Uppsala")
        location.postal_code, location.latitude, location.longitude = "75310", 59.8585, 17.6389
        location.time_zone = TIME_ZONE
        db.add(location)
        await db.commit()
        cp = await ChargerService(db, stack.bus, tenant_id=stack.tenant_id).register(identity, PASSWORD, evse_count=1)
        await db.execute(update(ChargePoint).where(ChargePoint.id == cp.id).values(location_id=location.id))
        await db.commit()
    clock = HandClock(start)
    sim = SimulatedCharger(
        SimConfig(url=stack.ocpp_url, identity=identity, password=PASSWORD, id_tag=TAG, meter_interval_s=3600),
        clock=clock,
    )
    await sim.connect()
    assert (await sim.boot())["status"] == "Accepted"
    await sim.start_transaction(1)
    async with stack.maker() as db:
        tx = await db.scalar(
            select(Transaction)
            .join(ChargePoint)
            .where(ChargePoint.identity == identity, Transaction.status == "active")
        )
        assert tx is not None
        session = OcpiSession(
            operator_id=stack.tenant_id,
            partner_id=stack.partner_id,
            transaction_id=tx.id,
            # The whole Token as the eMSP pushed it: the CDR keeps only the CdrToken's fields.
            token={
                "country_code": "NL",
                "party_id": "EMP",
                "uid": "RFID-1",
                "type": "RFID",
                "contract_id": "NL-EMP-1",
                "visual_number": "DF000-2001-8999",
            },
            auth_method="AUTH_REQUEST",
            authorization_reference="REF-42",
            status="ACTIVE",
        )
        db.add(session)
        await db.commit()
    clock.advance(charge_s)
    await sim.send_meter_values(1, seconds=charge_s)
    clock.advance(idle_s)
    await sim.stop_transaction(1)
    await sim.close()
    await stack.bus.idle()
    async with stack.maker() as db:
        stored = await db.get(OcpiSession, session.id)
        tx = await db.get(Transaction, tx.id)
    assert stored is not None and tx is not None and tx.status == "completed"
    return stored, tx


async def ocpi_get(stack: Stack, url: str, auth: str | None = None) -> httpx.Response:
    headers = {"Authorization": auth or stack.partner_auth, "X-Request-ID": "req-1"}
    return await stack.http.get(url, headers=headers)


async def test_the_cdr_is_posted_once_with_the_metered_energy_and_our_exact_price(stack: Stack) -> None:
    # 21:40 in Stockholm: the night band starts 20 minutes into the hour of charging.
    start = datetime(2026, 12, 7, 20, 40, tzinfo=UTC)
    session, tx = await roaming_session(stack, start, charge_s=3600, idle_s=0)
    assert session.cdr_id is not None and session.cdr is not None
    await stack.pusher.send_due()
    [post] = await stack.party.wait_for(lambda c: c.method == "POST" and c.path == "/emsp/2.2.1/cdrs")
    cdr = post.body
    check_cdr(cdr)
    assert cdr == session.cdr
    assert cdr["id"] == session.cdr_id and len(cdr["id"]) <= 36
    assert cdr["session_id"] == str(session.id)
    async with stack.maker() as db:
        operator = await db.get(Operator, stack.tenant_id)
    assert operator is not None
    assert (cdr["country_code"], cdr["party_id"]) == (operator.country_code, operator.party_id)
    assert cdr["cdr_token"] == {
        "country_code": "NL",
        "party_id": "EMP",
        "uid": "RFID-1",
        "type": "RFID",
        "contract_id": "NL-EMP-1",
    }
    assert cdr["auth_method"] == "AUTH_REQUEST"
    assert cdr["authorization_reference"] == "REF-42"
    assert cdr["cdr_location"]["connector_id"] == "1" and cdr["cdr_location"]["postal_code"] == "75310"
    assert tx.meter_stop_wh is not None and tx.meter_start_wh is not None
    assert cdr["total_energy"] == (tx.meter_stop_wh - tx.meter_start_wh) / 1000
    # The night band begins at 22:00 Stockholm (21:00 UTC): a new period there.
    assert [p["start_date_time"][11:16] for p in cdr["charging_periods"]] == ["20:40", "21:00"]
    assert tx.tariff_snapshot is not None
    assert [t["id"] for t in cdr["tariffs"]] == [tx.tariff_snapshot["id"]]
    async with stack.maker() as db:
        priced = await cost_so_far(db, tx, datetime.now(UTC))
        payment = await db.scalar(select(Payment).where(Payment.transaction_id == tx.id))
    assert priced is not None
    assert round(cdr["total_cost"]["incl_vat"] * 100) == priced.total_minor == session.cdr_total_minor
    # An OCPI calculator that knows nothing of ours gets the same from the CDR alone.
    excl, incl = cdr_cost(cdr, TIME_ZONE).minor("SEK")
    assert (excl, incl) == (round(cdr["total_cost"]["excl_vat"] * 100), priced.total_minor)
    # Billed to the eMSP through the CDR: no card was held or captured.
    assert payment is None

    # Ending again, a replayed end event, the sweep: no second CDR, no second POST.
    assert await stack.issuer.issue(tx.id) is None
    assert await stack.issuer.sweep() == 0
    await stack.pusher.send_due()
    async with stack.maker() as db:
        pushes = await db.scalar(
            select(func.count()).select_from(OcpiPush).where(OcpiPush.object_key == f"cdr:{session.cdr_id}")
        )
        again = await db.get(OcpiSession, session.id)
    assert pushes == 1 and again is not None and again.cdr == cdr
    assert len([c for c in stack.party.calls if c.method == "POST" and c.path.endswith("/cdrs")]) == 1


async def test_the_partner_pages_through_its_cdrs_and_tariffs(stack: Stack) -> None:
    await roaming_session(stack, datetime(2026, 12, 8, 9, 0, tzinfo=UTC), charge_s=1800, idle_s=1800)
    first = await ocpi_get(stack, "/ocpi/2.2.1/cdrs")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status_code"] == 1000 and len(body["data"]) == 1
    assert int(first.headers["X-Total-Count"]) >= 2 and first.headers["X-Limit"] == "1"
    assert first.headers["X-Request-ID"] == "req-1"
    next_url = first.headers["Link"].split(";")[0].strip("<>")
    second = await ocpi_get(stack, next_url.replace(f"http://127.0.0.1:{stack.settings.http.port}", ""))
    assert second.status_code == 200 and second.json()["data"][0]["id"] != body["data"][0]["id"]
    for c in (body["data"][0], second.json()["data"][0]):
        check_cdr(c)
    idle_cdr = next(
        c for c in (body["data"][0], second.json()["data"][0]) if c["start_date_time"].startswith("2026-12-08")
    )
    assert [p.get("tariff_id") is not None for p in idle_cdr["charging_periods"]] == [True, False, True]
    assert cdr_cost(idle_cdr, TIME_ZONE).minor("SEK")[1] == round(idle_cdr["total_cost"]["incl_vat"] * 100)

    later = await ocpi_get(stack, "/ocpi/2.2.1/cdrs?date_from=2099-01-01T00:00:00Z")
    assert later.json()["data"] == [] and later.headers["X-Total-Count"] == "0"
    bad = await ocpi_get(stack, "/ocpi/2.2.1/cdrs?offset=minus-one")
    assert bad.status_code == 400 and bad.json()["status_code"] == 2001
    nobody = await stack.http.get("/ocpi/2.2.1/cdrs")
    assert nobody.status_code == 401

    tariffs = await ocpi_get(stack, "/ocpi/2.2.1/tariffs")
    assert tariffs.status_code == 200 and tariffs.headers["X-Total-Count"] == "1"
    [tariff] = tariffs.json()["data"]
    check_tariff(tariff)
    assert tariff["currency"] == "SEK" and tariff["elements"][-1]["price_components"][0]["price"] == 2.792
    unchanged = await ocpi_get(stack, "/ocpi/2.2.1/tariffs?date_from=2099-01-01T00:00:00Z")
    assert unchanged.json()["data"] == [] and unchanged.headers["X-Total-Count"] == "0"


async def test_another_tenants_partner_sees_none_of_it(stack: Stack) -> None:
    async with stack.maker() as db:
        other = Operator(name="Other Net", country_code="SE", party_id="OTH")
        db.add(other)
        await db.commit()
    async with recording_party() as party:
        _, auth = await registered_partner(stack.maker, other.id, party, party_id="OTP")
        cdrs = await ocpi_get(stack, "/ocpi/2.2.1/cdrs", auth)
        tariffs = await ocpi_get(stack, "/ocpi/2.2.1/tariffs", auth)
    assert cdrs.status_code == 200 and cdrs.json()["data"] == [] and cdrs.headers["X-Total-Count"] == "0"
    assert tariffs.status_code == 200 and tariffs.json()["data"] == []


async def test_roaming_revenue_and_reconciliation_show_the_cdrs(stack: Stack) -> None:
    await stack.pusher.send_due()
    async with stack.maker() as db:
        sessions = list(await db.scalars(select(OcpiSession).where(OcpiSession.cdr_id.is_not(None))))
    assert len(sessions) >= 2
    window = {"from": "2026-12-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"}
    revenue = await stack.http.get("/api/v1/operator/reports/roaming-revenue", params=window, headers=stack.headers)
    assert revenue.status_code == 200, revenue.text
    [row] = revenue.json()["rows"]
    assert row["partnerId"] == str(stack.partner_id) and row["cdrs"] == len(sessions)
    assert row["revenueMinor"] == sum(s.cdr_total_minor or 0 for s in sessions) and row["currency"] == "SEK"
    csv = await stack.http.get("/api/v1/operator/reports/roaming-revenue.csv", params=window, headers=stack.headers)
    assert csv.status_code == 200 and str(row["revenueMinor"]) in csv.text

    recon = await stack.http.get("/api/v1/operator/reconciliations/roaming-cdrs", params=window, headers=stack.headers)
    assert recon.status_code == 200, recon.text
    [partner] = recon.json()["partners"]
    assert partner["sent"] == len(sessions) and partner["pending"] == partner["failed"] == 0
    assert {i["cdrId"] for i in recon.json()["items"]} == {s.cdr_id for s in sessions}
    backwards = await stack.http.get(
        "/api/v1/operator/reports/roaming-revenue",
        params={"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        headers=stack.headers,
    )
    assert backwards.status_code == 422


async def test_a_partner_that_is_down_leaves_the_cdr_pending_for_reconciliation(stack: Stack) -> None:
    stack.party.answers["/emsp/2.2.1/cdrs"] = (503, {"status_code": 3000, "status_message": "down for maintenance"})
    session, _ = await roaming_session(stack, datetime(2026, 12, 9, 12, 0, tzinfo=UTC), charge_s=720, idle_s=0)
    # A pass (the app's own worker may have made it already): the session's pushes go, the CDR's fails.
    await stack.pusher.send_due()
    window = {"from": "2026-12-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"}
    recon = await stack.http.get("/api/v1/operator/reconciliations/roaming-cdrs", params=window, headers=stack.headers)
    [item] = [i for i in recon.json()["items"] if i["cdrId"] == session.cdr_id]
    assert item["status"] == "pending" and item["attempts"] == 1 and "503" in item["lastError"]
    [partner] = recon.json()["partners"]
    assert partner["pending"] == 1
    # The CDR is made and kept all the same: the partner can pull it.
    listed = await ocpi_get(stack, "/ocpi/2.2.1/cdrs?date_from=2026-01-01T00:00:00Z&limit=100")
    assert int(listed.headers["X-Total-Count"]) == 3
