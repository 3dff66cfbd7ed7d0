"""HubClientInfo, receiver side, over real HTTP: a hub PUTs the status of the parties
behind it, GETs it back, and a party that is not CONNECTED gets no pushes from us."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from app.core.bus import InProcessBus
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import HttpSettings, OcpiSettings, Settings
from app.main import create_app
from app.operators.models import Operator
from app.roaming.hubclientinfo.models import OcpiClientInfo
from app.roaming.models import OcpiPartner, OcpiPush
from app.roaming.push import PushWorker, enqueue
from app.runner import _EmbeddedServer
from tests.e2e.ocpi.recording_party import RecordingParty, recording_party, registered_partner
from tests.e2e.test_restart import free_port
from tests.support import first_operator


@dataclass
class Hub:
    http: httpx.AsyncClient
    maker: Any
    settings: Settings
    party: RecordingParty
    partner: OcpiPartner
    auth: dict[str, str]
    other_auth: dict[str, str]

    async def put(self, cc: str, pid: str, body: Any, auth: dict[str, str] | None = None) -> httpx.Response:
        return await self.http.put(f"/ocpi/2.2.1/hubclientinfo/{cc}/{pid}", json=body, headers=auth or self.auth)

    async def get(self, cc: str, pid: str, auth: dict[str, str] | None = None) -> httpx.Response:
        return await self.http.get(f"/ocpi/2.2.1/hubclientinfo/{cc}/{pid}", headers=auth or self.auth)


@pytest.fixture(scope="module")
async def hub(settings: Settings) -> AsyncIterator[Hub]:
    port = free_port()
    settings = dataclasses.replace(
        settings,
        http=HttpSettings(port=port, public_base_url=f"http://127.0.0.1:{port}"),
        ocpi=OcpiSettings(allow_private_partners=True, partner_timeout_s=5.0),
    )
    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    bus = InProcessBus()
    await bus.start()
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
    async with recording_party() as party, recording_party() as other_party:
        partner, auth = await registered_partner(maker, tenant_id, party)
        _, other_auth = await registered_partner(maker, other.id, other_party, country_code="DE", party_id="HUB")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield Hub(http, maker, settings, party, partner, {"Authorization": auth}, {"Authorization": other_auth})
    server.should_exit = True
    await serving
    await bus.close()
    await engine.dispose()


def info(
    cc: str = "NL", pid: str = "EMP", status: str = "CONNECTED", at: str = "2026-12-01T10:00:00Z"
) -> dict[str, Any]:
    return {"country_code": cc, "party_id": pid, "role": "EMSP", "status": status, "last_updated": at}


async def test_put_then_get_a_client_info(hub: Hub) -> None:
    r = await hub.put("BE", "ABC", info("BE", "ABC", "PLANNED"))
    assert r.status_code == 201, r.text
    assert r.json()["status_code"] == 1000 and r.json()["data"] is None
    r = await hub.put("be", "abc", info("BE", "ABC", "CONNECTED", "2026-12-02T10:00:00Z"))
    assert r.status_code == 200, r.text
    # An older update arriving late changes nothing.
    r = await hub.put("BE", "ABC", info("BE", "ABC", "OFFLINE", "2026-12-01T11:00:00Z"))
    assert r.json()["status_code"] == 1000
    r = await hub.get("BE", "ABC")
    assert r.status_code == 200
    assert r.json()["data"] == {
        "party_id": "ABC",
        "country_code": "BE",
        "role": "EMSP",
        "status": "CONNECTED",
        "last_updated": "2026-12-02T10:00:00.000Z",
    }


async def test_bad_client_info_is_2001_and_stores_nothing(hub: Hub) -> None:
    for cc, pid, body in [
        ("FR", "XYZ", info("FR", "XYA")),  # the body names another party than the URL
        ("FR", "XYZ", info("FR", "XYZ", "ASLEEP")),
        ("FR", "XYZ", {k: v for k, v in info("FR", "XYZ").items() if k != "role"}),
        ("FR", "XYZ", info("FR", "XYZ") | {"last_updated": "yesterday"}),
        ("FRA", "XYZ", info("FR", "XYZ")),
    ]:
        r = await hub.put(cc, pid, body)
        assert (r.status_code, r.json()["status_code"]) == (400, 2001), (body, r.text)
    r = await hub.get("FR", "XYZ")
    assert r.status_code == 404


async def test_another_tenants_partner_sees_none_of_it(hub: Hub) -> None:
    await hub.put("DK", "CLE", info("DK", "CLE"))
    assert (await hub.get("DK", "CLE")).status_code == 200
    assert (await hub.get("DK", "CLE", hub.other_auth)).status_code == 404
    async with hub.maker() as db:
        rows = (await db.scalars(select(OcpiClientInfo).where(OcpiClientInfo.country_code == "DK"))).all()
        assert [r.partner_id for r in rows] == [hub.partner.id]


async def push(hub: Hub, module: str) -> int:
    async with hub.maker() as db:
        partner = await db.get(OcpiPartner, hub.partner.id)
        assert partner is not None
        row = await enqueue(
            db,
            partner,
            module=module,
            method="PUT",
            url=hub.party.module_url(module) + f"/SE/LAD/{uuid.uuid4().hex}",
            body={"id": "x"},
            object_key=f"{module}:{uuid.uuid4().hex}",
        )
        await db.commit()
        return row.id


async def push_row(hub: Hub, push_id: int) -> OcpiPush:
    async with hub.maker() as db:
        row = await db.get(OcpiPush, push_id)
        assert row is not None
        return row


async def test_a_party_not_connected_gets_no_pushes(hub: Hub) -> None:
    worker = PushWorker(hub.maker, hub.settings.ocpi)
    await hub.put("NL", "EMP", info("NL", "EMP", "SUSPENDED", "2026-12-03T10:00:00Z"))
    location = await push(hub, "locations")
    cdr = await push(hub, "cdrs")
    await worker.send_due()
    skipped = await push_row(hub, location)
    assert (skipped.outcome, skipped.attempts) == ("skipped", 0) and skipped.done_at is not None
    assert "SUSPENDED" in (skipped.last_error or "")
    held = await push_row(hub, cdr)  # a CDR waits for the party
    assert (held.done_at, held.attempts) == (None, 0)
    assert [c for c in hub.party.calls if c.method == "PUT"] == []

    await hub.put("NL", "EMP", info("NL", "EMP", "CONNECTED", "2026-12-04T10:00:00Z"))
    delivered = await push(hub, "locations")
    await worker.send_due()
    assert (await push_row(hub, delivered)).outcome == "delivered"
    assert len([c for c in hub.party.calls if c.method == "PUT"]) == 1
