"""Finding a charger over the driver API: radius and order, filters, paging, health in the
driver's terms, prices, the scanned-EVSE lookup, and a fixed number of queries per search
with 50,000 EVSEs in the database. The real app over ASGI, a real migrated database."""

from __future__ import annotations

import asyncio
import itertools
import math
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.chargers.models import ChargePoint, Connector, Evse, Location
from app.core.bus import Bus
from app.core.database import create_engine
from app.core.settings import Settings
from app.driver_app.evse_health import ERROR_REASONS, FAULTED_REASON, UNAVAILABLE_REASON
from app.driver_app.geometry import distance_km
from app.drivers.service import UserService
from app.health.models import Incident
from app.health.words import for_driver
from app.main import create_app
from app.operators.models import Operator
from app.tariffs import TariffTerms, price_text
from app.tariffs.service import TariffService
from tests.e2e.test_api import problem, running

SEARCH = "/api/v1/locations"
EMAIL, PASSWORD = "finder@example.se", "driver-password-1"
CCS, T2 = "IEC_62196_T2_COMBO", "IEC_62196_T2"
KM_PER_DEG_LAT = 2 * math.pi * 6371.0088 / 360
# Every test searches around a point of its own (1 degree of longitude apart at 66 N is
# 45 km), far from the 50,000-EVSE grid around Stockholm.
_spots = itertools.count()
_numbers = itertools.count(1000)

STANDARD_TARIFF = TariffTerms(
    name="Standard", currency="SEK", price_per_kwh_minor=349, vat_rate_bp=2500, hold_amount_minor=30000
)


@dataclass
class Plug:
    standard: str = T2
    max_kw: float = 22.0
    status: str = "Available"
    error_code: str | None = None
    power_type: str = "AC_3_PHASE"


@dataclass
class EvseSpec:
    status: str = "Available"
    plugs: list[Plug] = field(default_factory=lambda: [Plug()])


@dataclass
class Site:
    location_id: uuid.UUID
    evse_ids: list[str]


@dataclass
class Driver:
    client: httpx.AsyncClient
    headers: dict[str, str]
    maker: async_sessionmaker[AsyncSession]
    engine: AsyncEngine
    bus: Bus

    async def search(self, **params: Any) -> dict[str, Any]:
        r = await self.client.get(SEARCH, params=_query(params), headers=self.headers)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    async def site(
        self,
        lat: float,
        lon: float,
        *evses: EvseSpec,
        name: str = "Site",
        connected: bool = True,
        last_seen_at: datetime | None = None,
        operator_id: uuid.UUID | None = None,
    ) -> Site:
        """A location with one charger holding ``evses`` (one T2 22 kW EVSE by default)."""
        async with self.maker() as db:
            location = Location(
                name=name, address="Storgatan 1", city="Kiruna", latitude=lat, longitude=lon, operator_id=operator_id
            )
            db.add(location)
            number = next(_numbers)
            cp = ChargePoint(
                number=number,
                identity=f"CP-{number}",
                password_hash="-",
                connected=connected,
                last_seen_at=last_seen_at,
            )
            await db.flush()
            cp.location_id = location.id
            db.add(cp)
            await db.flush()
            evse_ids = []
            for n, spec in enumerate(evses or (EvseSpec(),), start=1):
                evse = Evse(
                    charge_point_id=cp.id, evse_number=n, evse_id=f"SE*LAD*E{number:04d}*{n}", status=spec.status
                )
                db.add(evse)
                await db.flush()
                for k, plug in enumerate(spec.plugs, start=1):
                    db.add(
                        Connector(
                            evse_pk=evse.id,
                            connector_number=k,
                            standard=plug.standard,
                            power_type=plug.power_type,
                            max_kw=plug.max_kw,
                            status=plug.status,
                            error_code=plug.error_code,
                        )
                    )
                evse_ids.append(evse.evse_id)
            await db.commit()
            return Site(location.id, evse_ids)


def _query(params: dict[str, Any]) -> dict[str, Any]:
    return {k: ("true" if v is True else "false" if v is False else v) for k, v in params.items()}


def spot() -> tuple[float, float]:
    return 66.0, -170.0 + next(_spots)


def north(lat: float, km: float) -> float:
    return lat + km / KM_PER_DEG_LAT


def east(lat: float, lon: float, km: float) -> float:
    return lon + km / (KM_PER_DEG_LAT * math.cos(math.radians(lat)))


@pytest.fixture(scope="module")
async def driver(settings: Settings) -> AsyncIterator[Driver]:
    engine = create_engine(settings.db)
    app = create_app(settings, engine=engine)
    async with app.state.sessionmaker() as db:
        await UserService(db).create_user(EMAIL, PASSWORD, "driver")
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        r = await client.post("/api/v1/auth/token", json={"email": EMAIL, "password": PASSWORD})
        assert r.status_code == 200, r.text
        headers = {"Authorization": f"Bearer {r.json()['accessToken']}"}
        yield Driver(client, headers, app.state.sessionmaker, engine, app.state.bus)
    await engine.dispose()


def names(page: dict[str, Any]) -> list[str]:
    return [item["location"]["name"] for item in page["items"]]


def evse_ids(page: dict[str, Any]) -> list[str]:
    return [e["evseId"] for item in page["items"] for e in item["evses"]]


# -- radius, order, paging -----------------------------------------------------------------


async def test_locations_within_the_radius_come_nearest_first_with_their_distance(driver: Driver) -> None:
    lat, lon = spot()
    await driver.site(north(lat, 8), lon, name="8 km north")
    await driver.site(lat, east(lat, lon, 1), name="1 km east")
    await driver.site(north(lat, -3), lon, name="3 km south")
    await driver.site(north(lat, 12), lon, name="12 km north")

    page = await driver.search(lat=lat, lon=lon, radiusKm=10)

    assert names(page) == ["1 km east", "3 km south", "8 km north"]
    assert (page["total"], page["limit"], page["offset"]) == (3, 20, 0)
    assert [item["distanceM"] for item in page["items"]] == pytest.approx([1000, 3000, 8000], abs=2)
    first = page["items"][0]
    assert first["location"]["address"] == "Storgatan 1" and first["location"]["city"] == "Kiruna"
    assert first["evses"][0]["connectors"] == [
        {"number": 1, "standard": T2, "powerType": "AC_3_PHASE", "maxKw": 22.0, "status": "Available"}
    ]
    wider = await driver.search(lat=lat, lon=lon, radiusKm=15)
    assert names(wider)[-1] == "12 km north"


async def test_a_search_across_the_antimeridian_finds_both_sides(driver: Driver) -> None:
    lat = -16.5  # Fiji
    await driver.site(lat, 179.99, name="west of the line")
    await driver.site(lat, -179.98, name="east of the line")

    page = await driver.search(lat=lat, lon=179.999, radiusKm=5)

    assert names(page) == ["west of the line", "east of the line"]
    assert page["items"][1]["distanceM"] == pytest.approx(distance_km(lat, 179.999, lat, -179.98) * 1000, abs=1)


async def test_pages_follow_each_other_in_the_same_order(driver: Driver) -> None:
    lat, lon = spot()
    for km in (5, 1, 4, 2, 3):
        await driver.site(north(lat, km), lon, name=f"{km} km")

    pages = [await driver.search(lat=lat, lon=lon, radiusKm=10, limit=2, offset=o) for o in (0, 2, 4, 6)]

    assert [names(p) for p in pages] == [["1 km", "2 km"], ["3 km", "4 km"], ["5 km"], []]
    assert {p["total"] for p in pages} == {5}
    assert [(p["limit"], p["offset"]) for p in pages] == [(2, 0), (2, 2), (2, 4), (2, 6)]


# -- filters ------------------------------------------------------------------------------


async def test_filters_by_standard_power_and_availability_show_only_matching_evses(driver: Driver) -> None:
    lat, lon = spot()
    await driver.site(north(lat, 1), lon, EvseSpec(plugs=[Plug(T2, 22)]), name="AC")
    await driver.site(north(lat, 2), lon, EvseSpec(plugs=[Plug(CCS, 150, power_type="DC")]), name="fast")
    await driver.site(
        north(lat, 3),
        lon,
        EvseSpec(status="Charging", plugs=[Plug(CCS, 50, "Charging", power_type="DC")]),
        name="busy",
    )
    await driver.site(
        north(lat, 4),
        lon,
        EvseSpec(plugs=[Plug(CCS, 150, power_type="DC")]),
        name="offline",
        connected=False,
    )
    mixed = await driver.site(
        north(lat, 5),
        lon,
        EvseSpec(plugs=[Plug(T2, 11)]),
        EvseSpec(plugs=[Plug(CCS, 100, power_type="DC")]),
        name="mixed",
    )
    around = {"lat": lat, "lon": lon, "radiusKm": 10}

    assert names(await driver.search(**around)) == ["AC", "fast", "busy", "offline", "mixed"]
    by_standard = await driver.search(**around, standard=CCS)
    assert names(by_standard) == ["fast", "busy", "offline", "mixed"]
    assert by_standard["items"][-1]["evses"][0]["evseId"] == mixed.evse_ids[1]
    assert len(by_standard["items"][-1]["evses"]) == 1
    assert names(await driver.search(**around, minKw=100)) == ["fast", "offline", "mixed"]
    assert names(await driver.search(**around, availableNow=True)) == ["AC", "fast", "mixed"]
    both = await driver.search(**around, standard=CCS, minKw=120, availableNow=True)
    assert names(both) == ["fast"] and both["total"] == 1
    # The standard and the power must be the same connector's.
    assert names(await driver.search(**around, standard=T2, minKw=50)) == []


async def test_a_location_with_one_free_evse_is_available_now_with_that_evse_only(driver: Driver) -> None:
    lat, lon = spot()
    site = await driver.site(
        lat,
        lon,
        EvseSpec(status="Charging", plugs=[Plug(status="Charging")]),
        EvseSpec(status="Available", plugs=[Plug(status="Available")]),
        # An EVSE whose status says Available while one connector is faulted is not free.
        EvseSpec(status="Available", plugs=[Plug(status="Available"), Plug(CCS, 50, "Faulted", "GroundFailure")]),
    )

    page = await driver.search(lat=lat, lon=lon, radiusKm=1, availableNow=True)

    assert evse_ids(page) == [site.evse_ids[1]]


# -- health -------------------------------------------------------------------------------


async def test_health_is_told_in_the_drivers_terms(driver: Driver) -> None:
    lat, lon = spot()
    changed = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    specs = {
        "working": EvseSpec("Available", [Plug(status="Available")]),
        "charging": EvseSpec("Charging", [Plug(status="Charging")]),
        "plugged in": EvseSpec("Preparing", [Plug(status="Preparing")]),
        "finishing": EvseSpec("Finishing", [Plug(status="Finishing")]),
        "suspended": EvseSpec("SuspendedEV", [Plug(status="SuspendedEV")]),
        "occupied (2.0.1)": EvseSpec("Occupied", [Plug(status="Occupied")]),
        "reserved": EvseSpec("Reserved", [Plug(status="Reserved")]),
        "earth fault": EvseSpec("Faulted", [Plug(status="Faulted", error_code="GroundFailure")]),
        "hot": EvseSpec("Faulted", [Plug(status="Faulted", error_code="HighTemperature")]),
        "faulted, no code": EvseSpec("Faulted", [Plug(status="Faulted")]),
        "vendor code": EvseSpec("Faulted", [Plug(status="Faulted", error_code="SomethingNew")]),
        "taken out": EvseSpec("Unavailable", [Plug(status="Unavailable")]),
        "never reported": EvseSpec("Unknown", [Plug(status="Unknown")]),
    }
    site = await driver.site(lat, lon, *specs.values())
    async with driver.maker() as db:
        await db.execute(Evse.__table__.update().values(status_updated_at=changed))
        await db.commit()
    last_seen = datetime(2026, 11, 24, 17, 5, tzinfo=UTC)
    offline = await driver.site(north(lat, 1), lon, connected=False, last_seen_at=last_seen)
    never = await driver.site(north(lat, 2), lon, connected=False)

    page = await driver.search(lat=lat, lon=lon, radiusKm=5)

    health = {e["evseId"]: e["health"] for item in page["items"] for e in item["evses"]}
    got = {label: health[evse_id] for label, evse_id in zip(specs, site.evse_ids, strict=True)}
    since = changed.isoformat().replace("+00:00", "Z")

    def h(state: str, reason: str | None = None, at: str | None = since) -> dict[str, Any]:
        return {"state": state, "reason": reason, "since": at}

    assert got == {
        "working": h("working"),
        "charging": h("in_use"),
        "plugged in": h("in_use"),
        "finishing": h("in_use"),
        "suspended": h("in_use"),
        "occupied (2.0.1)": h("in_use"),
        "reserved": h("reserved"),
        "earth fault": h("out_of_order", ERROR_REASONS["GroundFailure"]),
        "hot": h("out_of_order", ERROR_REASONS["HighTemperature"]),
        "faulted, no code": h("out_of_order", FAULTED_REASON),
        "vendor code": h("out_of_order", FAULTED_REASON),
        "taken out": h("out_of_order", UNAVAILABLE_REASON),
        "never reported": h("unknown", at=None),
    }
    assert ERROR_REASONS["GroundFailure"] == "Electrical fault (earth leakage)."
    assert health[offline.evse_ids[0]] == h("offline", at=last_seen.isoformat().replace("+00:00", "Z"))
    assert health[never.evse_ids[0]] == h("offline", at=None)


async def test_an_open_incident_that_keeps_drivers_away_makes_the_evse_out_of_order(driver: Driver) -> None:
    lat, lon = spot()
    free = EvseSpec("Available", [Plug(status="Available")])
    site = await driver.site(lat, lon, free, free, free)
    async with driver.maker() as db:
        cp_id = await db.scalar(select(Evse.charge_point_id).where(Evse.evse_id == site.evse_ids[0]))

        def incident(evse: int, kind: str, severity: str, cause: str, *, open_: bool = True) -> Incident:
            key = f"test:{uuid.uuid4()}"
            now = datetime.now(UTC)
            return Incident(
                charge_point_id=cp_id,
                identity="-",
                evse=evse,
                kind=kind,
                cause=cause,
                confidence=0.5,
                severity=severity,
                state="open" if open_ else "resolved",
                summary="-",
                evidence={},
                opened_at=now,
                last_signal_at=now,
                flaps=0,
                dedupe_key=key,
                open_key=key if open_ else None,
            )

        db.add_all(
            [
                incident(1, "metering", "warning", "metering"),  # billing would be wrong: away
                incident(2, "power_supply", "warning", "unknown"),  # slow, still sells
                incident(3, "overheating", "critical", "overheating", open_=False),  # over
            ]
        )
        await db.commit()

    page = await driver.search(lat=lat, lon=lon, radiusKm=1)
    health = {e["evseId"]: e["health"] for item in page["items"] for e in item["evses"]}
    assert health[site.evse_ids[0]]["state"] == "out_of_order"
    assert health[site.evse_ids[0]]["reason"] == for_driver("metering")
    assert [health[e]["state"] for e in site.evse_ids[1:]] == ["working", "working"]
    available = await driver.search(lat=lat, lon=lon, radiusKm=1, availableNow=True)
    assert evse_ids(available) == site.evse_ids[1:]
    scanned = await driver.client.get(f"/api/v1/evses/{site.evse_ids[0]}", headers=driver.headers)
    assert scanned.json()["canStart"] is False and scanned.json()["reason"] == "out_of_order"


# -- prices -------------------------------------------------------------------------------


async def test_each_evse_carries_the_price_text_of_the_tariff_in_force(driver: Driver) -> None:
    lat, lon = spot()
    async with driver.maker() as db:
        operator = Operator(name="Kiruna Laddning", country_code="SE", party_id="KIR")
        db.add(operator)
        await db.commit()
        operator_id = operator.id
    by_location = await driver.site(lat, lon, EvseSpec(), EvseSpec(), operator_id=operator_id, name="location tariff")
    by_operator = await driver.site(north(lat, 1), lon, operator_id=operator_id, name="operator tariff")
    free = await driver.site(north(lat, 2), lon, name="no tariff")
    async with driver.maker() as db:
        tariffs = TariffService(db, driver.bus)
        standard = await tariffs.create(STANDARD_TARIFF, operator_id=operator_id)
        night = await tariffs.create(
            msgspec_replace(STANDARD_TARIFF, name="Night", price_per_kwh_minor=199), operator_id=operator_id
        )
        default = await tariffs.create(
            msgspec_replace(STANDARD_TARIFF, name="Default", price_per_kwh_minor=450), operator_id=operator_id
        )
        await tariffs.assign("location", by_location.location_id, standard.id)
        await tariffs.assign("operator", operator_id, default.id)
        await tariffs.assign("evse", await tariffs.evse_pk(by_location.evse_ids[1]), night.id)
        expected = {}
        for evse_id in [*by_location.evse_ids, *by_operator.evse_ids, *free.evse_ids]:
            terms = await tariffs.resolve(await tariffs.evse_pk(evse_id))
            expected[evse_id] = price_text(terms) if terms is not None else None

    page = await driver.search(lat=lat, lon=lon, radiusKm=5)

    prices = {e["evseId"]: e["priceText"] for item in page["items"] for e in item["evses"]}
    # The bulk resolution agrees with TariffService.resolve, EVSE by EVSE.
    assert prices == expected
    assert prices[by_location.evse_ids[0]].startswith("3.49 SEK/kWh")
    assert prices[by_location.evse_ids[1]].startswith("1.99 SEK/kWh")
    assert prices[by_operator.evse_ids[0]].startswith("4.50 SEK/kWh")
    assert prices[free.evse_ids[0]] is None


def msgspec_replace(terms: TariffTerms, **changes: Any) -> TariffTerms:
    return msgspec.structs.replace(terms, **changes)


# -- the scanned EVSE ---------------------------------------------------------------------


async def test_a_scanned_evse_answers_status_price_and_what_paying_needs(driver: Driver) -> None:
    lat, lon = spot()
    site = await driver.site(
        lat,
        lon,
        EvseSpec(plugs=[Plug(CCS, 150, power_type="DC")]),
        EvseSpec("Faulted", [Plug(status="Faulted", error_code="PowerSwitchFailure")]),
        EvseSpec("Preparing", [Plug(status="Preparing")]),
        EvseSpec("Charging", [Plug(status="Charging")]),
        name="Scan me",
    )
    async with driver.maker() as db:
        tariffs = TariffService(db, driver.bus)
        tariff = await tariffs.create(STANDARD_TARIFF)
        await tariffs.assign("location", site.location_id, tariff.id)
    working, faulted, preparing, charging = site.evse_ids

    # As the phone sends it: lower case, the stars percent-encoded.
    r = await driver.client.get(f"/api/v1/evses/{working.lower().replace('*', '%2A')}", headers=driver.headers)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["evseId"] == working
    assert body["health"]["state"] == "working"
    assert body["connectors"][0]["standard"] == CCS and body["connectors"][0]["maxKw"] == 150
    assert body["priceText"] == price_text(STANDARD_TARIFF)
    assert body["location"]["name"] == "Scan me" and body["location"]["id"] == str(site.location_id)
    assert body["payment"] == {
        "required": True,
        "holdAmountMinor": 30000,
        "currency": "SEK",
        "methods": ["card", "apple_pay", "google_pay"],
    }
    assert (body["canStart"], body["reason"]) == (True, None)

    async def start(evse_id: str) -> tuple[bool, str | None]:
        r = await driver.client.get(f"/api/v1/evses/{evse_id}", headers=driver.headers)
        assert r.status_code == 200, r.text
        return r.json()["canStart"], r.json()["reason"]

    assert await start(faulted) == (False, "out_of_order")
    # Plugged in, no session yet: most likely the driver who is scanning.
    assert await start(preparing) == (True, None)
    assert await start(charging) == (False, "in_use")
    offline = await driver.site(north(lat, 1), lon, connected=False)
    assert await start(offline.evse_ids[0]) == (False, "offline")


async def test_an_evse_without_a_tariff_needs_no_payment(driver: Driver) -> None:
    lat, lon = spot()
    site = await driver.site(lat, lon)

    r = await driver.client.get(f"/api/v1/evses/{site.evse_ids[0]}", headers=driver.headers)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["priceText"] is None
    assert body["payment"] == {"required": False, "holdAmountMinor": None, "currency": None, "methods": []}
    assert body["canStart"] is True


async def test_an_unknown_evse_is_not_found(driver: Driver) -> None:
    r = await driver.client.get("/api/v1/evses/SE*LAD*E9999999*1", headers=driver.headers)
    problem(r, 404, "evse.not_found")


# -- the edge -----------------------------------------------------------------------------


async def test_searching_needs_a_signed_in_user(driver: Driver) -> None:
    problem(await driver.client.get(SEARCH, params={"lat": 66, "lon": 20}), 401, "auth.unauthenticated")
    problem(await driver.client.get("/api/v1/evses/SE*LAD*E0001*1"), 401, "auth.unauthenticated")


@pytest.mark.parametrize(
    ("params", "field_name"),
    [
        ({"lat": 91, "lon": 20}, "lat"),
        ({"lat": 66, "lon": 20, "radiusKm": 0}, "radiusKm"),
        ({"lat": 66, "lon": 20, "radiusKm": 101}, "radiusKm"),
        ({"lat": 66, "lon": 20, "limit": 51}, "limit"),
        ({"lat": 66, "lon": 20, "minKw": -1}, "minKw"),
        # Litestar reports a missing parameter in ``detail`` only.
        ({"lat": 66}, None),
    ],
)
async def test_bad_search_parameters_are_named(driver: Driver, params: dict[str, Any], field_name: str | None) -> None:
    r = await driver.client.get(SEARCH, params=params, headers=driver.headers)
    problem(r, 422, "request.invalid", field=field_name)


# -- at fleet scale -----------------------------------------------------------------------

GRID = 100  # 100 x 100 locations, 1 charger of 5 EVSEs each: 50,000 EVSEs
EVSES_PER_CHARGER = 5
STOCKHOLM = (59.33, 18.06)


async def seed_grid(maker: async_sessionmaker[AsyncSession]) -> None:
    """50,000 EVSEs around Stockholm, ~1.1 km apart, in one executemany per table."""
    lat0, lon0 = STOCKHOLM
    locations, chargers, evses, connectors = [], [], [], []
    now = datetime.now(UTC)
    for i in range(GRID * GRID):
        row, col = divmod(i, GRID)
        location_id, cp_id, number = uuid.uuid4(), uuid.uuid4(), 100_000 + i
        locations.append(
            {
                "id": location_id,
                "name": f"Grid {row}/{col}",
                "latitude": lat0 + (row - GRID / 2) * 0.01,
                "longitude": lon0 + (col - GRID / 2) * 0.02,
            }
        )
        chargers.append(
            {
                "id": cp_id,
                "number": number,
                "identity": f"GRID-{number}",
                "location_id": location_id,
                "password_hash": "-",
                "connected": True,
                "last_seen_at": now,
            }
        )
        for n in range(1, EVSES_PER_CHARGER + 1):
            evse_pk = uuid.uuid4()
            status = "Available" if (i + n) % 3 else "Charging"
            evses.append(
                {
                    "id": evse_pk,
                    "charge_point_id": cp_id,
                    "evse_number": n,
                    "evse_id": f"SE*LAD*E{number}*{n}",
                    "status": status,
                }
            )
            connectors.append(
                {
                    "id": uuid.uuid4(),
                    "evse_pk": evse_pk,
                    "connector_number": 1,
                    "standard": CCS if n == 1 else T2,
                    "max_kw": 150.0 if n == 1 else 22.0,
                    "status": status,
                }
            )
    async with maker() as db:
        for table, rows in (
            (Location.__table__, locations),
            (ChargePoint.__table__, chargers),
            (Evse.__table__, evses),
            (Connector.__table__, connectors),
        ):
            await db.execute(insert(table), rows)
        await db.commit()


def grid_points_within(radius_km: float) -> int:
    lat0, lon0 = STOCKHOLM
    points = [
        (lat0 + (row - GRID / 2) * 0.01, lon0 + (col - GRID / 2) * 0.02) for row in range(GRID) for col in range(GRID)
    ]
    return sum(1 for lat, lon in points if distance_km(lat0, lon0, lat, lon) <= radius_km)


@pytest.fixture(scope="module")
async def grid(driver: Driver) -> None:
    await seed_grid(driver.maker)
    async with driver.maker() as db:
        # Fresh statistics, as autovacuum would have them in production (PostgreSQL's
        # planner chooses its plan on them; SQLite's uses them too).
        await db.execute(text("ANALYZE"))
        await db.commit()


class StatementLog:
    """The statements this task runs on ``engine``: the request is served in the test's own
    task (ASGI transport), while the app's background workers poll from theirs."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine.sync_engine
        self.statements: list[tuple[str, Sequence[Any]]] = []
        self.task = asyncio.current_task()

    def __enter__(self) -> StatementLog:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if asyncio.current_task() is not self.task:
            return
        self.statements.append((statement, tuple(parameters or ())))

    def about(self, table: str) -> list[tuple[str, Sequence[Any]]]:
        """Statements that read ``table`` (FROM or JOIN), not merely a subquery of it."""
        return [(s, p) for s, p in self.statements if _main_table(s) == table]


def _main_table(statement: str) -> str | None:
    lowered = " ".join(statement.lower().split())
    if not lowered.startswith("select"):
        return None
    # The outer FROM: leave out what is in parentheses (subqueries in the column list).
    depth, outer = 0, []
    for ch in lowered:
        depth += ch == "("
        if depth == 0:
            outer.append(ch)
        depth -= ch == ")"
    after = "".join(outer).split(" from ", 1)[1]
    return after.split()[0].strip('"')


@pytest.mark.usefixtures("grid")
async def test_a_search_among_50000_evses_costs_a_fixed_number_of_queries(driver: Driver) -> None:
    lat, lon = STOCKHOLM

    async def counted(**params: Any) -> tuple[dict[str, Any], StatementLog]:
        with StatementLog(driver.engine) as log:
            page = await driver.search(lat=lat, lon=lon, **params)
        return page, log

    small, small_log = await counted(radiusKm=5, limit=5)
    large, large_log = await counted(radiusKm=20, limit=50)
    filtered, filtered_log = await counted(radiusKm=20, limit=50, standard=CCS, availableNow=True)

    assert len(small["items"]) == 5 and len(large["items"]) == 50 and len(filtered["items"]) == 50
    assert small["total"] == grid_points_within(5) and large["total"] == grid_points_within(20) > 900
    assert sum(len(item["evses"]) for item in large["items"]) == 50 * EVSES_PER_CHARGER
    assert all(len(item["evses"]) == 1 for item in filtered["items"])  # the CCS one, if free
    # Whatever the radius, the page size or the filters: the same statements.
    counts = {len(log.statements) for log in (small_log, large_log, filtered_log)}
    assert len(counts) == 1, [len(log.statements) for log in (small_log, large_log, filtered_log)]
    fixed = set()  # the incident subquery's own parameters, the same for every page
    for log, page in ((small_log, small), (large_log, large)):
        search = [
            s for s, _ in log.statements if _main_table(s) in {"locations", "evses", "connectors", "tariff_assignments"}
        ]
        assert len(search) == 5, search
        # Rows are read for the page only: one parameter per location of the page, one per
        # EVSE of the page.
        page_locations = len(page["items"])
        page_evses = sum(len(item["evses"]) for item in page["items"])
        (evse_query,) = log.about("evses")
        fixed.add(len(evse_query[1]) - page_locations)
        (connector_query,) = log.about("connectors")
        assert len(connector_query[1]) == page_evses
        location_queries = log.about("locations")
        assert len(location_queries) == 2  # the candidates in the box, then the page's rows
        assert len(location_queries[1][1]) == page_locations
    assert len(fixed) == 1 and 0 <= fixed.pop() <= 8
    # Nearest first, the first one the grid's centre.
    distances = [item["distanceM"] for item in large["items"]]
    assert distances == sorted(distances) and distances[0] == 0


@pytest.mark.usefixtures("grid")
async def test_the_bounding_box_reads_the_coordinate_index(driver: Driver) -> None:
    lat, lon = STOCKHOLM
    sql = "SELECT id FROM locations WHERE latitude BETWEEN :a AND :b AND longitude BETWEEN :c AND :d"
    params = {"a": lat - 0.05, "b": lat + 0.05, "c": lon - 0.1, "d": lon + 0.1}
    async with driver.maker() as db:
        if db.bind.dialect.name == "postgresql":
            plan = "\n".join(r[0] for r in await db.execute(text(f"EXPLAIN {sql}"), params))
        else:
            plan = "\n".join(str(r[-1]) for r in await db.execute(text(f"EXPLAIN QUERY PLAN {sql}"), params))
    assert "ix_locations_lat_lon" in plan, plan
