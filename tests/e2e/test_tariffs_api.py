"""Tariffs over the operator API: create, change, assign, resolve, quote; a real migrated
database and the real app over ASGI, no mocks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.core.database import create_engine
from app.core.settings import Settings
from app.drivers.service import UserService
from app.main import create_app
from app.operators.models import Operator
from app.tariffs.pricing import TariffTerms
from app.tariffs.service import TariffService
from tests.e2e.test_api import CHARGER_PASSWORD, problem, running
from tests.support import create_staff

OPS = "/api/v1/operator"
EMAIL, PASSWORD = "tariffs@example.se", "operator-password-1"

NIGHT_TARIFF: dict[str, Any] = {
    "name": "Standard",
    "currency": "SEK",
    "pricePerKwhMinor": 349,
    "pricePerMinuteMinor": 10,
    "sessionFeeMinor": 500,
    "idleFeePerMinuteMinor": 100,
    "idleGraceMinutes": 30,
    "vatRateBp": 2500,
    "minPriceMinor": 1000,
    "maxPriceMinor": 50000,
    "holdAmountMinor": 30000,
    "bands": [{"start": "22:00", "end": "06:00", "pricePerKwhMinor": 249}],
}


@dataclass
class Ops:
    client: httpx.AsyncClient
    app: Any
    operator_id: uuid.UUID
    headers: dict[str, str]

    async def create(self, **changes: Any) -> dict[str, Any]:
        r = await self.client.post(f"{OPS}/tariffs", json={**NIGHT_TARIFF, **changes}, headers=self.headers)
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def get(self, tariff_id: str) -> dict[str, Any]:
        r = await self.client.get(f"{OPS}/tariffs/{tariff_id}", headers=self.headers)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    async def charger_at_new_location(self, evse_count: int = 2) -> tuple[str, dict[str, Any]]:
        r = await self.client.post(f"{OPS}/locations", json={"name": "Depot"}, headers=self.headers)
        assert r.status_code == 201, r.text
        location_id = r.json()["id"]
        body = {
            "identity": f"CP-{uuid.uuid4().hex[:10]}",
            "password": CHARGER_PASSWORD,
            "evseCount": evse_count,
            "locationId": location_id,
        }
        r = await self.client.post(f"{OPS}/chargers", json=body, headers=self.headers)
        assert r.status_code == 201, r.text
        return location_id, r.json()

    async def resolved(self, evse_id: str) -> httpx.Response:
        return await self.client.get(f"{OPS}/evses/{evse_id}/tariff", headers=self.headers)


@pytest.fixture(scope="module")
async def ops(settings: Settings) -> AsyncIterator[Ops]:
    engine = create_engine(settings.db)
    app = create_app(settings, engine=engine)
    async with app.state.sessionmaker() as db:
        operator = Operator(name="Laddnät Test", country_code="SE", party_id="TST")
        db.add(operator)
        await db.commit()
        await create_staff(db, EMAIL, PASSWORD, operator_id=operator.id)
    async with running(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        r = await client.post("/api/v1/auth/token", json={"email": EMAIL, "password": PASSWORD})
        assert r.status_code == 200, r.text
        yield Ops(client, app, operator.id, {"Authorization": f"Bearer {r.json()['accessToken']}"})
    await engine.dispose()


async def test_create_returns_version_1_with_price_text(ops: Ops) -> None:
    t = await ops.create()
    assert (t["version"], t["active"], t["operatorId"]) == (1, True, str(ops.operator_id))
    assert t["bands"] == [
        {
            "start": "22:00",
            "end": "06:00",
            "pricePerKwhMinor": 249,
            "pricePerMinuteMinor": None,
            "days": [],
            "label": "22:00–06:00",
        }
    ]
    assert t["priceText"].startswith("3.49 SEK/kWh (22:00–06:00: 2.49 SEK/kWh), 0.10 SEK/min while charging")
    assert await ops.get(t["id"]) == t
    r = await ops.client.get(f"{OPS}/tariffs", headers=ops.headers)
    assert t["id"] in [item["id"] for item in r.json()["items"]]


async def test_patch_changes_only_what_is_sent_and_bumps_the_version(ops: Ops) -> None:
    t = await ops.create()
    r = await ops.client.patch(
        f"{OPS}/tariffs/{t['id']}", json={"pricePerKwhMinor": 399, "maxPriceMinor": None}, headers=ops.headers
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert (changed["version"], changed["pricePerKwhMinor"], changed["maxPriceMinor"]) == (2, 399, None)
    assert changed["sessionFeeMinor"] == t["sessionFeeMinor"]
    # The same values again change nothing, so no new version.
    r = await ops.client.patch(f"{OPS}/tariffs/{t['id']}", json={"pricePerKwhMinor": 399}, headers=ops.headers)
    assert r.json()["version"] == 2


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"minPriceMinor": 60000}, 422, "tariff.invalid", "minPriceMinor"),
        ({"holdAmountMinor": 500}, 422, "tariff.invalid", "holdAmountMinor"),
        ({"currency": "XYZ"}, 422, "tariff.currency_mismatch", "currency"),
        ({"currency": "EUR"}, 422, "tariff.currency_mismatch", "currency"),
        (
            {"bands": [{"start": "22:00", "end": "06:00"}, {"start": "05:00", "end": "07:00"}]},
            422,
            "tariff.invalid",
            "bands[1]",
        ),
        ({"pricePerKwhMinor": -1}, 422, "request.invalid", "pricePerKwhMinor"),
        ({"bands": [{"start": "25:00", "end": "06:00"}]}, 422, "request.invalid", "bands[0].start"),
        ({"surprise": 1}, 422, "request.invalid", "surprise"),
    ],
)
async def test_an_invalid_patch_is_a_problem_naming_the_field_and_changes_nothing(
    ops: Ops, body: dict[str, Any], status: int, code: str, field: str
) -> None:
    t = await ops.create()
    r = await ops.client.patch(f"{OPS}/tariffs/{t['id']}", json=body, headers=ops.headers)
    problem(r, status, code, field)
    assert await ops.get(t["id"]) == t


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"currency": "XYZ"}, "tariff.invalid", "currency"),
        ({"currency": "sek"}, "request.invalid", "currency"),
        ({"minPriceMinor": 600, "maxPriceMinor": 500, "holdAmountMinor": 600}, "tariff.invalid", "minPriceMinor"),
        ({"vatRateBp": 20000}, "request.invalid", "vatRateBp"),
        (
            {
                "bands": [
                    {"start": "22:00", "end": "06:00", "days": [5]},
                    {"start": "02:00", "end": "03:00", "days": [6]},
                ]
            },
            "tariff.invalid",
            "bands[1]",
        ),
        ({"bands": [{"start": "22:00", "end": "06:00", "days": [0]}]}, "request.invalid", "bands[0].days[0]"),
    ],
)
async def test_an_invalid_tariff_is_not_created(ops: Ops, changes: dict[str, Any], code: str, field: str) -> None:
    before = (await ops.client.get(f"{OPS}/tariffs", headers=ops.headers)).json()["total"]
    r = await ops.client.post(f"{OPS}/tariffs", json={**NIGHT_TARIFF, **changes}, headers=ops.headers)
    problem(r, 422, code, field)
    assert (await ops.client.get(f"{OPS}/tariffs", headers=ops.headers)).json()["total"] == before


async def test_an_evse_gets_its_own_tariff_else_its_locations_else_its_operators(ops: Ops) -> None:
    location_id, charger = await ops.charger_at_new_location()
    evse1, evse2 = (e["evseId"] for e in charger["evses"])
    default, site, special = [await ops.create(name=n) for n in ("Default", "Site", "Special")]
    problem(await ops.resolved(evse1), 404, "tariff.none_in_force")

    r = await ops.client.put(
        f"{OPS}/operators/{ops.operator_id}/tariff", json={"tariffId": default["id"]}, headers=ops.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "operator"
    body = (await ops.resolved(evse1)).json()
    assert (body["scope"], body["tariff"]["id"], body["timeZone"]) == ("operator", default["id"], "Europe/Stockholm")
    assert body["priceText"] == default["priceText"]

    r = await ops.client.put(
        f"{OPS}/locations/{location_id}/tariff", json={"tariffId": site["id"]}, headers=ops.headers
    )
    assert r.status_code == 200, r.text
    r = await ops.client.put(f"{OPS}/evses/{evse1}/tariff", json={"tariffId": special["id"]}, headers=ops.headers)
    assert r.status_code == 200, r.text
    assert [(await ops.resolved(e)).json()["tariff"]["name"] for e in (evse1, evse2)] == ["Special", "Site"]

    # The same answer from the service the sessions and payments use.
    async with ops.app.state.sessionmaker() as db:
        tariffs = TariffService(db, ops.app.state.bus)
        terms = await tariffs.resolve_for(uuid.UUID(charger["id"]), 1)
        assert terms is not None
        assert (terms.name, terms.version, terms.time_zone) == ("Special", 1, "Europe/Stockholm")
        assert TariffTerms.from_json(TariffService.snapshot(terms)) == terms
        # An EVSE the charger has not reported yet: its location's.
        assert (await tariffs.resolve_for(uuid.UUID(charger["id"]), 9)).name == "Site"  # type: ignore[union-attr]

    # Reassigning replaces; unassigning falls back a level; an inactive tariff applies nowhere.
    r = await ops.client.put(f"{OPS}/evses/{evse1}/tariff", json={"tariffId": site["id"]}, headers=ops.headers)
    assert r.json()["tariffId"] == site["id"]
    r = await ops.client.delete(f"{OPS}/evses/{evse1}/tariff", headers=ops.headers)
    assert r.status_code == 204, r.text
    assert (await ops.resolved(evse1)).json()["scope"] == "location"
    r = await ops.client.patch(f"{OPS}/tariffs/{site['id']}", json={"active": False}, headers=ops.headers)
    assert r.json()["version"] == 2
    assert (await ops.resolved(evse1)).json()["scope"] == "operator"
    r = await ops.client.put(f"{OPS}/evses/{evse1}/tariff", json={"tariffId": site["id"]}, headers=ops.headers)
    problem(r, 409, "tariff.inactive", "tariffId")


async def test_a_change_reaches_new_sessions_only_through_a_fresh_snapshot(ops: Ops) -> None:
    _, charger = await ops.charger_at_new_location(evse_count=1)
    t = await ops.create()
    await ops.client.put(
        f"{OPS}/evses/{charger['evses'][0]['evseId']}/tariff", json={"tariffId": t["id"]}, headers=ops.headers
    )
    async with ops.app.state.sessionmaker() as db:
        before = TariffService.snapshot(
            await TariffService(db, ops.app.state.bus).resolve_for(uuid.UUID(charger["id"]), 1)
        )  # type: ignore[arg-type]
    await ops.client.patch(f"{OPS}/tariffs/{t['id']}", json={"pricePerKwhMinor": 999}, headers=ops.headers)
    kept = TariffTerms.from_json(before)
    assert (kept.price_per_kwh_minor, kept.version) == (349, 1)
    async with ops.app.state.sessionmaker() as db:
        now = await TariffService(db, ops.app.state.bus).resolve_for(uuid.UUID(charger["id"]), 1)
    assert now is not None and (now.price_per_kwh_minor, now.version) == (999, 2)


async def test_quote_prices_a_hypothetical_session(ops: Ops) -> None:
    t = await ops.create()
    # 21:00 CET: 20 kWh over 2 hours, half of it after 22:00, then 60 min plugged in.
    body = {"energyKwh": 20, "chargingMinutes": 120, "idleMinutes": 60, "startAt": "2026-01-15T20:00:00Z"}
    r = await ops.client.post(f"{OPS}/tariffs/{t['id']}/quote", json=body, headers=ops.headers)
    assert r.status_code == 200, r.text
    q = r.json()
    # 34.90 + 24.90 energy, 12.00 time, 5.00 fee, 30 min idle after the grace 30.00
    assert q["totalMinor"] == 3490 + 2490 + 1200 + 500 + 3000
    assert q["netMinor"] + q["vatMinor"] == q["totalMinor"] and q["vatMinor"] == 2136
    assert [(c["kind"], c["band"], c["amountMinor"]) for c in q["components"]] == [
        ("energy", None, 3490),
        ("energy", "22:00–06:00", 2490),
        ("time", None, 600),
        ("time", "22:00–06:00", 600),
        ("session_fee", None, 500),
        ("idle", None, 3000),
    ]
    r = await ops.client.post(
        f"{OPS}/tariffs/{t['id']}/quote", json={**body, "energyKwh": 1000, "chargingMinutes": 600}, headers=ops.headers
    )
    assert r.json()["totalMinor"] == 50000
    r = await ops.client.post(f"{OPS}/tariffs/{t['id']}/quote", json={**body, "energyKwh": 0}, headers=ops.headers)
    assert r.json()["totalMinor"] == 0
    r = await ops.client.post(
        f"{OPS}/tariffs/{t['id']}/quote", json={**body, "startAt": "2026-01-15T20:00:00"}, headers=ops.headers
    )
    problem(r, 422, "request.invalid", "startAt")


async def test_unknown_things_are_404_problems(ops: Ops) -> None:
    t = await ops.create()
    nobody = uuid.uuid4()
    problem(await ops.client.get(f"{OPS}/tariffs/{nobody}", headers=ops.headers), 404, "tariff.not_found")
    r = await ops.client.patch(f"{OPS}/tariffs/{nobody}", json={"name": "x"}, headers=ops.headers)
    problem(r, 404, "tariff.not_found")
    r = await ops.client.post(
        f"{OPS}/tariffs/{nobody}/quote",
        json={"energyKwh": 1, "chargingMinutes": 1, "startAt": "2026-01-15T20:00:00Z"},
        headers=ops.headers,
    )
    problem(r, 404, "tariff.not_found")
    r = await ops.client.put(f"{OPS}/evses/SE*NOPE*E9999*1/tariff", json={"tariffId": t["id"]}, headers=ops.headers)
    problem(r, 404, "tariff.target_not_found", "evseId")
    r = await ops.client.put(f"{OPS}/locations/{nobody}/tariff", json={"tariffId": t["id"]}, headers=ops.headers)
    problem(r, 404, "tariff.target_not_found", "locationId")
    r = await ops.client.put(f"{OPS}/operators/{nobody}/tariff", json={"tariffId": t["id"]}, headers=ops.headers)
    problem(r, 404, "tariff.target_not_found", "operatorId")
    r = await ops.client.put(
        f"{OPS}/operators/{ops.operator_id}/tariff", json={"tariffId": str(nobody)}, headers=ops.headers
    )
    problem(r, 404, "tariff.not_found")
    problem(
        await ops.client.get(f"{OPS}/evses/SE*NOPE*E9999*1/tariff", headers=ops.headers), 404, "tariff.target_not_found"
    )
    location_id, _ = await ops.charger_at_new_location(evse_count=0)
    r = await ops.client.delete(f"{OPS}/locations/{location_id}/tariff", headers=ops.headers)
    problem(r, 404, "tariff.assignment_not_found")


async def test_tariffs_need_an_operator(ops: Ops) -> None:
    problem(await ops.client.get(f"{OPS}/tariffs"), 401, "auth.unauthenticated")
    async with ops.app.state.sessionmaker() as db:
        await UserService(db).create_user("driver-t@example.se", PASSWORD, "driver")
    r = await ops.client.post("/api/v1/auth/token", json={"email": "driver-t@example.se", "password": PASSWORD})
    driver = {"Authorization": f"Bearer {r.json()['accessToken']}"}
    problem(await ops.client.post(f"{OPS}/tariffs", json=NIGHT_TARIFF, headers=driver), 403, "auth.forbidden")
