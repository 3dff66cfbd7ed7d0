"""Uptime per port (NEVI), monthly availability per site and exclusions, over the real
operator API and a real migrated database (SQLite, or PostgreSQL with
LADDNAT_TEST_DATABASE_URL).

The history is rows written through the ORM, the way the bridge records it: status reports
in ``connector_status_history`` (1.6 numbering: EVSE n / connector 1, and 0/0 for the
charger) and connected/disconnected in ``charger_events``. The figures expected below are
worked out by hand in the comments.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chargers.models import ChargePoint, ChargerEvent, Connector, ConnectorStatusChange, Evse, Location
from app.core.database import create_engine, utcnow
from app.core.settings import Settings
from app.main import create_app
from app.operators.models import Operator
from tests.e2e.test_api import problem, running
from tests.support import create_staff

OPS = "/api/v1/operator"
EMAIL, PASSWORD = "uptime@example.se", "uptime-password-1"
SVG_NS = "{http://www.w3.org/2000/svg}"
YEAR_MINUTES = 525_600


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def percent(up: float, total: float) -> float:
    return round(100 * up / total, 4)


@dataclass
class Net:
    site: Location
    other_site: Location
    cp1: ChargePoint
    cp2: ChargePoint
    foreign_cp: ChargePoint
    ports: dict[str, uuid.UUID]  # "cp1/1", "cp1/2", "cp2/1" -> connector id


@dataclass
class Env:
    client: httpx.AsyncClient
    maker: async_sessionmaker[AsyncSession]
    headers: dict[str, str]
    net: Net

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(f"{OPS}{path}", params=params, headers=self.headers)

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.client.post(f"{OPS}{path}", json=body, headers=self.headers)

    async def delete(self, path: str) -> httpx.Response:
        return await self.client.delete(f"{OPS}{path}", headers=self.headers)


async def build_network(db: AsyncSession) -> tuple[Net, Operator]:
    ours = Operator(name="Laddnät Uptime AB", country_code="SE", party_id="UPT")
    theirs = Operator(name="Annan Laddare AB", country_code="SE", party_id="ANN")
    db.add_all([ours, theirs])
    await db.flush()
    site = Location(operator_id=ours.id, name="Uppsala Resecentrum")
    other_site = Location(operator_id=theirs.id, name="Någon annans")
    db.add_all([site, other_site])
    await db.flush()
    # Each charger is its site's operator's, as the API registers them.
    cp1 = ChargePoint(number=7001, identity="UPT-CP-1", operator_id=ours.id, location_id=site.id, password_hash="x")
    cp2 = ChargePoint(number=7002, identity="UPT-CP-2", operator_id=ours.id, location_id=site.id, password_hash="x")
    foreign = ChargePoint(
        number=7003, identity="ANN-CP-1", operator_id=theirs.id, location_id=other_site.id, password_hash="x"
    )
    db.add_all([cp1, cp2, foreign])
    await db.flush()
    ports: dict[str, uuid.UUID] = {}
    for cp, name, evses in ((cp1, "cp1", 2), (cp2, "cp2", 1), (foreign, "foreign", 1)):
        for n in range(1, evses + 1):
            evse = Evse(charge_point_id=cp.id, evse_number=n, evse_id=f"SE*UPT*E{cp.number}*{n}")
            db.add(evse)
            await db.flush()
            connector = Connector(evse_pk=evse.id, connector_number=1)
            db.add(connector)
            await db.flush()
            ports[f"{name}/{n}"] = connector.id

    def status(cp: ChargePoint, evse: int, state: str, at: datetime) -> None:
        db.add(
            ConnectorStatusChange(
                charge_point_id=cp.id,
                evse_number=evse,
                connector_number=1 if evse else 0,
                status=state,
                error_code="GroundFailure" if state == "Faulted" else None,
                reported_at=at,
            )
        )

    def link(cp: ChargePoint, kind: str, at: datetime) -> None:
        db.add(ChargerEvent(charge_point_id=cp.id, kind=kind, occurred_at=at, data={}))

    # UPT-CP-1, in service all of 2025.
    # Port 2 was Faulted across new year: 60 minutes of 2025 (00:00-01:00).
    status(cp1, 2, "Faulted", utc(2024, 12, 31, 23))
    status(cp1, 2, "Available", utc(2025, 1, 1, 1))
    link(cp1, "connected", utc(2025, 1, 1))
    status(cp1, 0, "Available", utc(2025, 1, 1))
    status(cp1, 1, "Available", utc(2025, 1, 1))
    # 10 March: port 1 Faulted 10:00-14:00, the charger offline 12:00-16:00.
    # Port 1: 10:00-16:00 = 360 min (counted once); port 2: 12:00-16:00 = 240 min.
    status(cp1, 1, "Faulted", utc(2025, 3, 10, 10))
    link(cp1, "disconnected", utc(2025, 3, 10, 12))
    status(cp1, 1, "Available", utc(2025, 3, 10, 14))
    link(cp1, "connected", utc(2025, 3, 10, 16))
    # 1 June: the whole charger (connector 0) Unavailable 00:00-10:00: 600 min on both ports.
    status(cp1, 0, "Unavailable", utc(2025, 6, 1))
    status(cp1, 0, "Available", utc(2025, 6, 1, 10))
    # Charging is up.
    status(cp1, 1, "Charging", utc(2025, 7, 1, 8))
    status(cp1, 1, "Available", utc(2025, 7, 1, 9))

    # UPT-CP-2, in service from 1 October 2025 (92 days = 132,480 min of the year).
    # Faulted 30 Nov 22:00 - 1 Dec 03:00: 120 min in November, 180 in December; offline
    # from 31 Dec 23:00 on: 60 min in December.
    link(cp2, "connected", utc(2025, 10, 1))
    status(cp2, 1, "Available", utc(2025, 10, 1))
    status(cp2, 1, "Faulted", utc(2025, 11, 30, 22))
    status(cp2, 1, "Available", utc(2025, 12, 1, 3))
    link(cp2, "disconnected", utc(2025, 12, 31, 23))

    # Another operator's charger, down all year: never in our reports.
    link(foreign, "connected", utc(2025, 1, 1))
    status(foreign, 1, "Faulted", utc(2025, 1, 1))
    await db.commit()
    return Net(site, other_site, cp1, cp2, foreign, ports), ours


@pytest.fixture(scope="module")
async def env(settings: Settings) -> AsyncIterator[Env]:
    engine = create_engine(settings.db)
    app = create_app(settings, engine=engine)
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    async with maker() as db:
        net, operator = await build_network(db)
        await create_staff(db, EMAIL, PASSWORD, operator_id=operator.id)
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        r = await client.post("/api/v1/auth/token", json={"email": EMAIL, "password": PASSWORD})
        assert r.status_code == 200, r.text
        yield Env(client, maker, {"Authorization": f"Bearer {r.json()['accessToken']}"}, net)
    await engine.dispose()


def by_port(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{r['chargePointIdentity']}/{r['evseNumber']}": r for r in rows}


# -- NEVI per port ------------------------------------------------------------------------------


async def test_nevi_uptime_per_port_over_the_trailing_12_months(env: Env) -> None:
    r = await env.get("/uptime/ports", month="2025-12")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["month"], body["windowStart"], body["windowEnd"]) == (
        "2025-12",
        "2025-01-01T00:00:00Z",
        "2026-01-01T00:00:00Z",
    )
    assert body["thresholdPercent"] == 97.0 and body["timeZone"] == "UTC"
    ports = by_port(body["ports"])
    # Only our operator's ports, ordered by charger and EVSE.
    assert list(ports) == ["UPT-CP-1/1", "UPT-CP-1/2", "UPT-CP-2/1"]

    p1 = ports["UPT-CP-1/1"]
    assert p1["portId"] == str(env.net.ports["cp1/1"])
    assert p1["evseId"] == "SE*UPT*E7001*1" and p1["locationName"] == "Uppsala Resecentrum"
    assert p1["inServiceFrom"] == "2025-01-01T00:00:00Z"
    assert (p1["windowMinutes"], p1["outageMinutes"], p1["excludedMinutes"]) == (YEAR_MINUTES, 960, 0)
    assert p1["uptimePercent"] == percent(YEAR_MINUTES - 960, YEAR_MINUTES)
    assert p1["meetsNevi"] is True

    p2 = ports["UPT-CP-1/2"]
    assert p2["inServiceFrom"] == "2024-12-31T23:00:00Z" and p2["windowStart"] == "2025-01-01T00:00:00Z"
    assert p2["outageMinutes"] == 60 + 240 + 600

    # Prorated: in service for October to December only.
    p3 = ports["UPT-CP-2/1"]
    assert (p3["inServiceFrom"], p3["windowStart"]) == ("2025-10-01T00:00:00Z", "2025-10-01T00:00:00Z")
    assert (p3["windowMinutes"], p3["outageMinutes"]) == (132_480, 360)
    assert p3["uptimePercent"] == percent(132_480 - 360, 132_480)


async def test_nevi_window_moves_with_the_month(env: Env) -> None:
    r = await env.get("/uptime/ports", month="2025-06", locationId=str(env.net.site.id))
    assert r.status_code == 200, r.text
    ports = by_port(r.json()["ports"])
    assert r.json()["windowStart"] == "2024-07-01T00:00:00Z"
    # Port 1 went into service on 1 Jan 2025: the 181 days of 2025 up to 1 July.
    assert ports["UPT-CP-1/1"]["windowMinutes"] == 181 * 1440
    assert ports["UPT-CP-1/1"]["outageMinutes"] == 960
    # Not in service yet: no figure.
    assert ports["UPT-CP-2/1"]["uptimePercent"] is None and ports["UPT-CP-2/1"]["meetsNevi"] is None


async def test_an_exclusion_takes_its_overlap_out_of_the_outage(env: Env) -> None:
    # A grid failure at the whole site, 1 June 00:00-05:00: 300 of the 600 minutes.
    r = await env.post(
        "/uptime/exclusions",
        {
            "scope": "location",
            "targetId": str(env.net.site.id),
            "startsAt": "2025-06-01T00:00:00Z",
            "endsAt": "2025-06-01T05:00:00Z",
            "reason": "grid_failure",
            "note": "Vattenfall outage, ticket 4711",
        },
    )
    assert r.status_code == 201, r.text
    exclusion = r.json()
    try:
        ports = by_port((await env.get("/uptime/ports", month="2025-12")).json()["ports"])
        assert (ports["UPT-CP-1/1"]["outageMinutes"], ports["UPT-CP-1/1"]["excludedMinutes"]) == (960, 300)
        assert ports["UPT-CP-1/1"]["uptimePercent"] == percent(YEAR_MINUTES - 660, YEAR_MINUTES)
        assert ports["UPT-CP-2/1"]["excludedMinutes"] == 0
    finally:
        assert (await env.delete(f"/uptime/exclusions/{exclusion['id']}")).status_code == 204
    ports = by_port((await env.get("/uptime/ports", month="2025-12")).json()["ports"])
    assert ports["UPT-CP-1/1"]["excludedMinutes"] == 0


async def test_nevi_csv_has_a_row_per_port(env: Env) -> None:
    r = await env.get("/uptime/ports.csv", month="2025-12")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="uptime-ports-2025-12.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["chargePointIdentity"] for row in rows] == ["UPT-CP-1", "UPT-CP-1", "UPT-CP-2"]
    assert rows[2]["evseId"] == "SE*UPT*E7002*1"
    assert float(rows[2]["windowMinutes"]) == 132_480 and float(rows[2]["outageMinutes"]) == 360
    assert float(rows[0]["uptimePercent"]) == percent(YEAR_MINUTES - 960, YEAR_MINUTES)
    assert rows[0]["meetsNevi"] == "true"


async def test_default_month_is_the_last_full_one(env: Env) -> None:
    r = await env.get("/uptime/ports")
    assert r.status_code == 200, r.text
    now = utcnow()
    last = utc(now.year, now.month, 1).replace(day=1)
    expected = f"{last.year - 1}-12" if last.month == 1 else f"{last.year}-{last.month - 1:02d}"
    assert r.json()["month"] == expected


async def test_nevi_month_must_be_over_and_well_formed(env: Env) -> None:
    now = utcnow()
    problem(await env.get("/uptime/ports", month=f"{now:%Y-%m}"), 422, "uptime.invalid_month", "month")
    problem(await env.get("/uptime/ports", month="2025-13"), 422, "uptime.invalid_month", "month")
    problem(await env.get("/uptime/ports", month="June"), 422, "uptime.invalid_month", "month")


async def test_nevi_of_an_unknown_or_foreign_location_is_404(env: Env) -> None:
    problem(await env.get("/uptime/ports", locationId=str(uuid.uuid4())), 404, "location.not_found")
    problem(await env.get("/uptime/ports", locationId=str(env.net.other_site.id)), 404, "location.not_found")


# -- monthly availability -----------------------------------------------------------------------


async def test_monthly_availability_per_port_and_site(env: Env) -> None:
    r = await env.get(f"/locations/{env.net.site.id}/availability", **{"from": "2025-03", "to": "2025-12"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["from"], body["to"], body["locationName"]) == ("2025-03", "2025-12", "Uppsala Resecentrum")
    site = {m["month"]: m for m in body["site"]}
    assert list(site) == [f"2025-{m:02d}" for m in range(3, 13)]
    march = 31 * 1440
    # March: two ports in service; 360 + 240 minutes down.
    assert (site["2025-03"]["windowMinutes"], site["2025-03"]["outageMinutes"]) == (2 * march, 600)
    assert site["2025-03"]["availabilityPercent"] == percent(2 * march - 600, 2 * march)
    assert site["2025-04"]["availabilityPercent"] == 100.0
    # December: three ports; 180 + 60 minutes on UPT-CP-2.
    assert (site["2025-12"]["windowMinutes"], site["2025-12"]["outageMinutes"]) == (3 * march, 240)

    ports = by_port(body["ports"])
    p1 = {m["month"]: m for m in ports["UPT-CP-1/1"]["months"]}
    assert p1["2025-03"]["outageMinutes"] == 360
    assert p1["2025-03"]["availabilityPercent"] == p1["2025-03"]["uptimePercent"] == percent(march - 360, march)
    assert p1["2025-06"]["outageMinutes"] == 600
    p3 = {m["month"]: m for m in ports["UPT-CP-2/1"]["months"]}
    assert p3["2025-09"]["availabilityPercent"] is None and p3["2025-09"]["windowMinutes"] == 0
    assert p3["2025-11"]["outageMinutes"] == 120
    assert p3["2025-11"]["availabilityPercent"] == percent(30 * 1440 - 120, 30 * 1440)


async def test_availability_csv_has_site_and_port_rows(env: Env) -> None:
    r = await env.get(f"/locations/{env.net.site.id}/availability.csv", **{"from": "2025-10", "to": "2025-12"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["scope"] for row in rows] == ["site"] * 3 + ["port"] * 9
    nov = [row for row in rows if row["month"] == "2025-11" and row["chargePointIdentity"] == "UPT-CP-2"]
    assert len(nov) == 1 and float(nov[0]["outageMinutes"]) == 120


async def test_availability_svg_is_a_bar_chart_with_the_nevi_line(env: Env) -> None:
    r = await env.get(f"/locations/{env.net.site.id}/availability.svg", **{"from": "2025-03", "to": "2025-12"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("image/svg+xml")
    root = ElementTree.fromstring(r.content)
    assert root.tag == f"{SVG_NS}svg" and root.get("role") == "img"
    title, desc = root.find(f"{SVG_NS}title"), root.find(f"{SVG_NS}desc")
    assert title is not None and "Uppsala Resecentrum" in (title.text or "")
    assert desc is not None and "97 %" in (desc.text or "")
    bars = [e for e in root.iter(f"{SVG_NS}rect") if e.get("class") == "bar"]
    assert [b.get("data-month") for b in bars] == [f"2025-{m:02d}" for m in range(3, 13)]
    assert all(b.find(f"{SVG_NS}title") is not None for b in bars)
    lines = [e for e in root.iter(f"{SVG_NS}line") if e.get("class") == "nevi-threshold"]
    assert len(lines) == 1
    texts = {t.text for t in root.iter(f"{SVG_NS}text")}
    assert {"Month (UTC)", "Uptime (%)", "NEVI 97 %"} <= texts


async def test_a_month_with_no_port_in_service_has_no_bar(env: Env) -> None:
    r = await env.get(f"/locations/{env.net.site.id}/availability.svg", **{"from": "2024-11", "to": "2025-01"})
    assert r.status_code == 200, r.text
    root = ElementTree.fromstring(r.content)
    bars = [e.get("data-month") for e in root.iter(f"{SVG_NS}rect") if e.get("class") == "bar"]
    # UPT-CP-1 port 2 was first heard of on 31 December 2024.
    assert bars == ["2024-12", "2025-01"]


async def test_availability_range_is_validated(env: Env) -> None:
    path = f"/locations/{env.net.site.id}/availability"
    problem(await env.get(path, **{"from": "2025-06", "to": "2025-05"}), 422, "uptime.invalid_range", "from")
    problem(await env.get(path, **{"from": "2020-01", "to": "2025-05"}), 422, "uptime.invalid_range", "from")
    problem(await env.get(path, to="2999-01"), 422, "uptime.invalid_month", "to")
    problem(await env.get(path, **{"from": "2025/01"}), 422, "uptime.invalid_month", "from")


async def test_availability_of_an_unknown_or_foreign_location_is_404(env: Env) -> None:
    for suffix in ("", ".csv", ".svg"):
        problem(await env.get(f"/locations/{uuid.uuid4()}/availability{suffix}"), 404, "location.not_found")
        problem(await env.get(f"/locations/{env.net.other_site.id}/availability{suffix}"), 404, "location.not_found")


# -- exclusions ---------------------------------------------------------------------------------


def exclusion(target: uuid.UUID, scope: str = "port", **overrides: Any) -> dict[str, Any]:
    return {
        "scope": scope,
        "targetId": str(target),
        "startsAt": "2025-08-01T00:00:00Z",
        "endsAt": "2025-08-02T00:00:00Z",
        "reason": "vandalism",
        **overrides,
    }


async def test_exclusions_are_created_listed_and_deleted(env: Env) -> None:
    port = env.net.ports["cp1/2"]
    r = await env.post("/uptime/exclusions", exclusion(port, note="Cable cut"))
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["scope"], created["targetId"], created["reason"], created["note"]) == (
        "port",
        str(port),
        "vandalism",
        "Cable cut",
    )
    assert created["operatorId"] is not None and created["createdBy"] is not None
    r = await env.post("/uptime/exclusions", exclusion(env.net.cp2.id, "charge_point", reason="scheduled_maintenance"))
    assert r.status_code == 201, r.text
    second = r.json()

    listed = (await env.get("/uptime/exclusions")).json()
    assert listed["total"] == 2 and {i["id"] for i in listed["items"]} == {created["id"], second["id"]}
    only = (await env.get("/uptime/exclusions", scope="port", targetId=str(port))).json()
    assert [i["id"] for i in only["items"]] == [created["id"]]

    for item in (created, second):
        assert (await env.delete(f"/uptime/exclusions/{item['id']}")).status_code == 204
    assert (await env.get("/uptime/exclusions")).json()["total"] == 0
    problem(await env.delete(f"/uptime/exclusions/{created['id']}"), 404, "uptime.exclusion_not_found")


async def test_exclusion_validation_errors(env: Env) -> None:
    port = env.net.ports["cp1/1"]
    problem(
        await env.post("/uptime/exclusions", exclusion(port, endsAt="2025-08-01T00:00:00Z")),
        422,
        "uptime.invalid_period",
        "endsAt",
    )
    problem(
        await env.post("/uptime/exclusions", exclusion(port, endsAt="2025-07-01T00:00:00Z")),
        422,
        "uptime.invalid_period",
        "endsAt",
    )
    problem(await env.post("/uptime/exclusions", exclusion(port, reason="bad_luck")), 422, "request.invalid", "reason")
    problem(await env.post("/uptime/exclusions", exclusion(port, reason="other")), 422, "uptime.note_required", "note")
    problem(
        await env.post("/uptime/exclusions", exclusion(port, startsAt="2025-08-01T00:00:00")),
        422,
        "request.invalid",
        "startsAt",
    )
    problem(await env.post("/uptime/exclusions", exclusion(port, scope="evse")), 422, "request.invalid", "scope")
    problem(await env.post("/uptime/exclusions", exclusion(port, extra=1)), 422, "request.invalid", "extra")
    # Unknown targets, a target of the wrong scope, another operator's charger.
    for body in (
        exclusion(uuid.uuid4()),
        exclusion(env.net.cp1.id, "port"),
        exclusion(port, "location"),
        exclusion(env.net.foreign_cp.id, "charge_point"),
        exclusion(env.net.other_site.id, "location"),
    ):
        problem(await env.post("/uptime/exclusions", body), 422, "uptime.unknown_target", "targetId")
    assert (await env.get("/uptime/exclusions")).json()["total"] == 0


async def test_deleting_an_unknown_exclusion_is_404(env: Env) -> None:
    problem(await env.delete(f"/uptime/exclusions/{uuid.uuid4()}"), 404, "uptime.exclusion_not_found")


async def test_uptime_needs_an_operator(env: Env) -> None:
    r = await env.client.get(f"{OPS}/uptime/ports")
    problem(r, 401, "auth.unauthenticated")
