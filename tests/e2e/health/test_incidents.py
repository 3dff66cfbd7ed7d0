"""The health monitor wired to the real bridge: simulator chargers in trouble become
incidents with a cause and evidence, and recover on their own."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from ocpp.v16 import call as call16
from sqlalchemy import select

from app.chargers.models import ChargePoint, Location
from app.chargers.service import ChargerService
from app.health.models import Incident
from tests.e2e.health.health_stack import HealthStack, eventually
from tests.e2e.ocpp_helpers import PASSWORD
from tests.support import first_operator


async def one(stack: HealthStack, what: str, **where: object) -> Incident:
    async def probe() -> Incident | None:
        found = await stack.incidents(**where)
        return found[0] if found else None

    return await eventually(probe, what)


async def test_ground_failure_opens_an_incident_that_resolves_when_available(health: HealthStack) -> None:
    _, [identity] = await health.site(1)
    sim = await health.charger(identity)
    await sim.status(1, "Faulted", "GroundFailure", info="RCD tripped", vendor_error_code="E-17")
    incident = await one(health, "the fault became an incident", identity=identity, kind="reported_error")
    # A tripped RCD is the electrical protection acting (issue 14), not the grid as such.
    assert incident.cause == "electrical_protection" and incident.severity == "critical" and incident.state == "open"
    assert incident.connectors == [1] and incident.evse == 1
    [link] = incident.evidence["chain"]
    assert link["evidence"]["errorCode"] == "GroundFailure" and link["evidence"]["vendorErrorCode"] == "E-17"
    assert link["evidence"]["electrical"]["protection"] == "ground_fault"

    await sim.status(1, "Available")
    await one(health, "recovery resolved it", identity=identity, kind="reported_error", state="resolved")
    [resolved] = await health.incidents(identity=identity)
    assert resolved.resolution == "automatic"


async def test_overheating(health: HealthStack) -> None:
    _, [identity] = await health.site(1)
    sim = await health.charger(identity)
    await sim.overheat(1, to_celsius=95.0, steps=5)
    incident = await one(health, "overheating opened", identity=identity, kind="overheating")
    assert incident.cause == "overheating" and incident.topic == "limit"


async def test_voltage_sag_on_two_chargers_of_a_site_is_one_grid_supply_incident(health: HealthStack) -> None:
    location, identities = await health.site(2)
    sims = [await health.charger(i) for i in identities]
    await asyncio.gather(*(sim.voltage_sag(1, volts=190.0, steps=3) for sim in sims))
    incident = await one(health, "a site incident", location_id=location, kind="power_supply")
    assert incident.charge_point_id is None and incident.cause == "grid_supply"
    assert set(incident.evidence["site"]["chargers"]) == set(identities)
    await health.advance(1.5)  # past the correlation window: nothing else opens
    assert len(await health.incidents(location_id=location)) == 1


async def test_offline_charger_and_its_return(health: HealthStack) -> None:
    _, [identity] = await health.site(1)
    sim = await health.charger(identity)
    await sim.go_offline()
    incident = await one(health, "offline opened", identity=identity, kind="offline")
    assert incident.severity == "critical" and incident.evidence["chain"][0]["evidence"]["reason"] == "socket_closed"
    await sim.come_online()
    await one(health, "back online resolved it", identity=identity, kind="offline", state="resolved")


async def test_a_whole_site_going_dark_is_one_site_incident(health: HealthStack) -> None:
    location, identities = await health.site(3)
    sims = [await health.charger(i) for i in identities]
    await asyncio.gather(*(sim.go_offline() for sim in sims))
    incident = await one(health, "a site incident", location_id=location, kind="offline")
    assert incident.charge_point_id is None and incident.cause == "site_network"
    await health.advance(2.0)  # every charger's own offline signal has come and joined it
    assert [i.id for i in await health.incidents(location_id=location)] == [incident.id]
    await asyncio.gather(*(sim.come_online() for sim in sims))
    await one(health, "all back: resolved", id=incident.id, state="resolved")


async def test_stuck_meter(health: HealthStack) -> None:
    _, [identity] = await health.site(1)
    sim = await health.charger(identity)
    await sim.start_transaction(1)
    tx = int(sim.transactions[1])
    for _ in range(4):
        await sim.call(
            call16.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=[
                    {
                        "timestamp": sim.now(),
                        "sampled_value": [
                            {"value": "1000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                            {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
                        ],
                    }
                ],
            )
        )
    incident = await one(health, "stuck meter", identity=identity, kind="metering")
    assert incident.topic == "stuck" and incident.cause == "metering"


async def test_boot_loop(health: HealthStack) -> None:
    _, [identity] = await health.site(1)
    sim = await health.charger(identity)
    await sim.reboot()
    await sim.reboot()
    incident = await one(health, "boot loop", identity=identity, kind="boot_loop")
    assert incident.cause == "internal_firmware" and len(incident.evidence["chain"][0]["evidence"]["boots"]) == 3


async def test_healthy_chargers_open_nothing(health: HealthStack) -> None:
    location, identities = await health.site(2)
    sims = [await health.charger(i) for i in identities]

    async def session(sim: object) -> None:
        assert hasattr(sim, "start_transaction")
        await sim.start_transaction(1)
        for _ in range(10):
            await asyncio.sleep(0.3)
            await sim.send_meter_values(1)
        await sim.stop_transaction(1)

    await asyncio.gather(*(session(sim) for sim in sims))
    # Idle past the offline threshold (two heartbeat intervals and the grace), heartbeats only.
    await health.advance(2 * health.settings.ocpp.heartbeat_interval_s + health.settings.health.offline_grace_s + 0.5)
    assert await health.incidents(location_id=location) == []
    for identity in identities:
        assert await health.incidents(identity=identity) == []


async def test_operator_incident_feed(health: HealthStack) -> None:
    location, [identity] = await health.site(1)
    sim = await health.charger(identity)
    await sim.fault(1, "ReaderFailure", "no RF field")
    incident = await one(health, "reader failure", identity=identity)
    headers = await health.operator_headers()
    async with httpx.AsyncClient(base_url=health.base_url, headers=headers) as http:
        page = (await http.get("/api/v1/operator/incidents", params={"locationId": str(location)})).json()
        assert page["total"] == 1 and page["items"][0]["cause"] == "rfid_reader"
        assert page["items"][0]["chargerIdentity"] == identity
        other = await http.get("/api/v1/operator/incidents", params={"locationId": str(location), "cause": "metering"})
        assert other.json()["total"] == 0
        detail = (await http.get(f"/api/v1/operator/incidents/{incident.id}")).json()
        assert [e["kind"] for e in detail["trail"]][:2] == ["state", "signal"]
        acked = await http.post(f"/api/v1/operator/incidents/{incident.id}/acknowledge")
        assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
        resolved = await http.post(f"/api/v1/operator/incidents/{incident.id}/resolve", json={"note": "reader swapped"})
        assert resolved.json()["state"] == "resolved" and resolved.json()["resolution"] == "operator"
        again = await http.post(f"/api/v1/operator/incidents/{incident.id}/resolve")
        assert again.status_code == 409 and again.json()["code"] == "incident.already_resolved"
        missing = await http.get("/api/v1/operator/incidents/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404 and missing.json()["code"] == "incident.not_found"
        active = (await http.get("/api/v1/operator/incidents", params={"state": "active"})).json()
        assert incident.id not in {i["id"] for i in active["items"]}


async def test_an_incident_is_its_chargers_operators_even_without_a_location(health: HealthStack) -> None:
    identity = f"HLT-{uuid.uuid4().hex[:8]}"
    async with health.maker() as db:
        tenant = await first_operator(db)
        await ChargerService(db, health.bus, tenant_id=tenant).register(identity, PASSWORD, evse_count=1)
    sim = await health.charger(identity)
    await sim.fault(1, "ReaderFailure", "no RF field")
    incident = await one(health, "reader failure", identity=identity)
    assert incident.operator_id == tenant and incident.location_id is None
    async with httpx.AsyncClient(base_url=health.base_url, headers=await health.operator_headers()) as http:
        page = (
            await http.get("/api/v1/operator/incidents", params={"chargerId": str(incident.charge_point_id)})
        ).json()
    assert [i["id"] for i in page["items"]] == [str(incident.id)]


async def test_an_over_current_trip_above_the_rating_is_electrical_and_points_at_the_car(
    health: HealthStack,
) -> None:
    """A car drawing 44 kW on a 22 kW connector trips the over-current protection: the
    incident is electrical (never firmware) and its evidence holds the current against the
    rating, the cars and the voltage."""
    _, [identity] = await health.site(1)
    sim = await health.charger(identity, power_kw=44.0)
    await sim.start_transaction(1)

    async def rated() -> bool | None:
        return True if health.monitor.low_power.rated_w.get((identity, 1)) else None

    await eventually(rated, "the monitor knows the EVSE's rating")
    for _ in range(3):
        await sim.send_meter_values(1, seconds=60.0)
    await sim.status(1, "Faulted", "OverCurrentFailure", info="MCB tripped")
    incident = await one(health, "the trip became an incident", identity=identity, kind="reported_error")
    assert incident.cause == "electrical_protection" and incident.confidence >= 0.8
    [link] = incident.evidence["chain"]
    electrical = link["evidence"]["electrical"]
    assert electrical["protection"] == "over_current"
    assert electrical["currentAboveRating"] is True and electrical["peakCurrentA"] > electrical["ratedCurrentA"]
    assert electrical["voltageMoved"] is False and electrical["cars"] == 1 and electrical["trips"] == 1
    assert electrical["suspect"] == "vehicle_or_cable" and electrical["recurring"] is False


async def test_a_charger_moved_to_another_site_is_placed_there_once_it_reboots(health: HealthStack) -> None:
    # The monitor reads a known charger's place again when it connects (a reboot reconnects), in batches
    # beside the event stream (a reconnect storm costs a query per 500 chargers).
    _, [identity] = await health.site(1)
    sim = await health.charger(identity)
    await health.settle()
    async with health.maker() as db:
        new_site = Location(name=f"Site {uuid.uuid4().hex[:6]}", operator_id=await first_operator(db))
        db.add(new_site)
        await db.flush()
        charger = await db.scalar(select(ChargePoint).where(ChargePoint.identity == identity))
        assert charger is not None
        charger.location_id = new_site.id
        await db.commit()
    await sim.reboot()

    async def placed() -> bool:
        await health.settle()
        info = health.monitor.correlator.chargers.get(identity)
        return info is not None and info.location_id == new_site.id

    await eventually(placed, "the monitor read the charger's new place")
    await sim.status(1, "Faulted", "GroundFailure")
    incident = await one(health, "the fault became an incident", identity=identity, kind="reported_error")
    assert incident.location_id == new_site.id
