"""Fleet context, end to end: chargers of one model and firmware on different sites running
into the same trouble are one fleet incident with its scope (how many of how many, where,
and the same model on other firmware), which folds in the members' own incidents, sends the
protective step to each member and resolves when the last one recovers. Healthy twins stay
per charger: the same trouble on different models, unrelated troubles on one model.

Each test gives its chargers a model name of their own, so the module's tests (one stack,
one tenant) never count each other's chargers.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.core.settings import HealthSettings, Settings
from app.health.models import Incident
from app.operators.models import Operator
from devtools.simulator import SimConfig, SimulatedCharger
from tests.e2e.health.health_stack import OFFLINE_GRACE_S, HealthStack, eventually, running_health_stack
from tests.e2e.ocpp_helpers import PASSWORD
from tests.support import create_staff

# What the detectors and playbooks make of events; the incidents' storage is checked on
# both databases by health/test_incidents.py.
pytestmark = pytest.mark.one_database

VERSIONS = ["1.6", "2.0.1"]


@pytest.fixture(scope="module")
async def fleet(settings: Settings) -> AsyncIterator[HealthStack]:
    health = HealthSettings(
        offline_grace_s=OFFLINE_GRACE_S,
        site_window_s=1.0,
        tick_interval_s=0.2,
        playbook_verify_s=30.0,
        diagnostics_wait_s=5.0,
    )
    async with running_health_stack(settings, health) as stack:
        yield stack


async def chargers(stack: HealthStack, version: str, model: str, firmware: str, count: int) -> list[SimulatedCharger]:
    """``count`` connected chargers of Acme ``model`` on ``firmware``, each on a site of its own."""
    sims = []
    for _ in range(count):
        _, [identity] = await stack.site(1, prefix="FLT")
        sims.append(
            await stack.charger(identity, version=version, vendor="Acme", model=model, firmware_version=firmware)
        )
    await stack.settle()  # the monitor has read what each one is
    return sims


async def own_incident(stack: HealthStack, sim: SimulatedCharger) -> Incident:
    async def opened() -> Incident | None:
        found = [i for i in await stack.incidents(identity=sim.identity) if i.scope == "charger"]
        return found[0] if found else None

    return await eventually(opened, f"{sim.identity}'s own incident")


async def fleet_incidents(stack: HealthStack, model: str) -> list[Incident]:
    return [
        i
        for i in await stack.incidents()
        if i.scope == "fleet" and ((i.evidence or {}).get("fleet") or {}).get("model") == model
    ]


@pytest.mark.parametrize("version", VERSIONS)
async def test_one_firmware_running_hot_across_sites_is_one_fleet_incident(fleet: HealthStack, version: str) -> None:
    model = f"X1-{uuid.uuid4().hex[:6]}"
    suspect = await chargers(fleet, version, model, "2.3", 4)
    await chargers(fleet, version, model, "2.2", 3)  # the same model on other firmware: fine
    first, second, third, fourth = suspect

    own = []
    for sim in (first, second):
        await sim.fault(1, "HighTemperature", "thermal cut-out")
        own.append(await own_incident(fleet, sim))  # alone so far: its own incident
    await third.fault(1, "HighTemperature", "thermal cut-out")

    async def one_fleet() -> Incident | None:
        found = await fleet_incidents(fleet, model)
        return found[0] if found else None

    incident = await eventually(one_fleet, "a fleet incident")
    headers = await fleet.operator_headers()
    async with httpx.AsyncClient(base_url=fleet.base_url, headers=headers) as http:
        listed = (await http.get("/api/v1/operator/incidents", params={"scope": "fleet", "limit": "100"})).json()
        [item] = [i for i in listed["items"] if i["id"] == str(incident.id)]
        assert all(i["scope"] == "fleet" and not i["site"] for i in listed["items"])
        chargers_only = (await http.get("/api/v1/operator/incidents", params={"scope": "charger"})).json()
        assert str(incident.id) not in {i["id"] for i in chargers_only["items"]}
        critical = (await http.get("/api/v1/operator/incidents", params={"severity": "critical"})).json()
        assert str(incident.id) in {i["id"] for i in critical["items"]}
        assert all(i["severity"] == "critical" for i in critical["items"])
        info = (await http.get("/api/v1/operator/incidents", params={"severity": "info", "scope": "fleet"})).json()
        assert info["total"] == 0
    assert (item["scope"], item["site"], item["chargerId"], item["locationId"]) == ("fleet", False, None, None)
    assert item["cause"] == "overheating" and item["state"] == "open" and item["severity"] == "critical"
    scope = item["evidence"]["fleet"]
    assert (scope["vendor"], scope["model"], scope["firmware"]) == ("Acme", model, "2.3")
    assert scope["chargers"] == [first.identity, second.identity, third.identity]
    assert scope["population"] == 4 and len(scope["sites"]) == 3
    assert scope["otherFirmware"] == [{"firmware": "2.2", "chargers": 3, "affected": 0}]
    assert scope["firmwareSuspected"] is True
    assert item["summary"] == (
        f"3 of 4 Acme {model} chargers on firmware 2.3 run hot (overheating); on other firmware 0 of 3 do: "
        "firmware 2.3 suspected."
    )

    # The first two's own incidents are folded in; the third never had one.
    async def merged() -> list[Incident] | None:
        done = [(await fleet.incidents(id=i.id))[0] for i in own]
        return done if all(i.resolution == "merged" for i in done) else None

    await eventually(merged, "the members' own incidents merged into the fleet's")
    assert [i for i in await fleet.incidents(identity=third.identity) if i.scope == "charger"] == []
    [now] = await fleet.incidents(id=incident.id)
    assert set(now.evidence["absorbed"]) == {str(i.id) for i in own}

    # A fourth joins: no incident of its own, the scope grows, and it is protected too.
    await fourth.fault(1, "HighTemperature", "thermal cut-out")

    async def joined() -> Incident | None:
        [found] = await fleet.incidents(id=incident.id)
        return found if fourth.identity in found.evidence["fleet"]["chargers"] else None

    grown = await eventually(joined, "the fourth charger joins the fleet incident")
    assert grown.summary.startswith(f"4 of 4 Acme {model} chargers on firmware 2.3 run hot")
    assert [i for i in await fleet.incidents(identity=fourth.identity) if i.scope == "charger"] == []

    # Protection, not healing: the power limit reaches every member; the log of the first alone.
    async def protected() -> list[dict[str, Any]] | None:
        async with httpx.AsyncClient(base_url=fleet.base_url, headers=headers) as http:
            detail = (await http.get(f"/api/v1/operator/incidents/{incident.id}")).json()
        actions = [e["data"] for e in detail["trail"] if e["kind"] == "action"]
        limited = {a.get("identity") for a in actions if a["step"] == "limit_power"}
        return actions if limited == {s.identity for s in suspect} else None

    actions = await eventually(protected, "limit_power sent to each member", timeout_s=30.0)
    assert {a["step"] for a in actions} <= {"collect_diagnostics", "limit_power"}
    assert len([a for a in actions if a["step"] == "collect_diagnostics"]) == 1
    assert all(a["outcome"] == "answered:Accepted" for a in actions if a["step"] == "limit_power")
    for sim in suspect:
        assert any(action == "SetChargingProfile" for action, _ in sim.received)
        assert not any(action == "Reset" for action, _ in sim.received)

    # Every member back: the fleet incident resolves by itself, once.
    for sim in suspect[:3]:
        await sim.status(1, "Available")
    await fleet.advance(0.5)
    [still] = await fleet.incidents(id=incident.id)
    assert still.state == "open"
    await fourth.status(1, "Available")

    async def resolved() -> Incident | None:
        [found] = await fleet.incidents(id=incident.id)
        return found if found.state == "resolved" else None

    done = await eventually(resolved, "the fleet incident resolves when the last member recovers")
    assert done.resolution == "automatic"
    assert len(await fleet_incidents(fleet, model)) == 1


@pytest.mark.parametrize("version", VERSIONS)
async def test_the_same_trouble_on_different_models_stays_per_charger(fleet: HealthStack, version: str) -> None:
    tag = uuid.uuid4().hex[:6]
    sims = [
        *await chargers(fleet, version, f"X1-{tag}", "2.3", 2),
        *await chargers(fleet, version, f"Y2-{tag}", "2.3", 1),
    ]
    for sim in sims:
        await sim.fault(1, "HighTemperature", "thermal cut-out")
    own = [await own_incident(fleet, sim) for sim in sims]
    await fleet.advance(1.0)
    assert [i.cause for i in own] == ["overheating"] * 3
    assert [(await fleet.incidents(id=i.id))[0].state for i in own] == ["open"] * 3
    assert await fleet_incidents(fleet, f"X1-{tag}") == [] and await fleet_incidents(fleet, f"Y2-{tag}") == []


@pytest.mark.parametrize("version", VERSIONS)
async def test_unrelated_troubles_on_one_model_stay_per_charger(fleet: HealthStack, version: str) -> None:
    model = f"X1-{uuid.uuid4().hex[:6]}"
    sims = await chargers(fleet, version, model, "2.3", 3)
    # None of their first steps reboots the charger (a reset would cut the heartbeats below).
    troubles = [
        ("HighTemperature", "thermal cut-out"),
        ("ConnectorLockFailure", "jammed"),
        ("PowerMeterFailure", "Modbus"),
    ]
    for sim, (code, info) in zip(sims, troubles, strict=True):
        await sim.fault(1, code, info)
    own = [await own_incident(fleet, sim) for sim in sims]
    await fleet.advance(1.0)
    assert [i.cause for i in own] == ["overheating", "connector_lock", "metering"]
    assert await fleet_incidents(fleet, model) == []


async def test_another_companys_fleet_incident_is_not_found(fleet: HealthStack) -> None:
    model = f"X1-{uuid.uuid4().hex[:6]}"
    sims = await chargers(fleet, "1.6", model, "2.3", 3)
    for sim in sims:
        await sim.fault(1, "PowerMeterFailure", "no answer on Modbus")

    async def one_fleet() -> Incident | None:
        found = await fleet_incidents(fleet, model)
        return found[0] if found else None

    incident = await eventually(one_fleet, "a fleet incident")
    assert incident.cause == "metering"
    async with fleet.maker() as db:
        other = Operator(name="Other CPO", country_code="SE", party_id=uuid.uuid4().hex[:3].upper())
        db.add(other)
        await db.commit()
        email = f"other-{uuid.uuid4().hex[:6]}@health.test"
        await create_staff(db, email, "ops-password-123", operator_id=other.id)
    async with httpx.AsyncClient(base_url=fleet.base_url) as http:
        token = (await http.post("/api/v1/auth/token", json={"email": email, "password": "ops-password-123"})).json()
        http.headers["Authorization"] = f"Bearer {token['accessToken']}"
        assert (await http.get(f"/api/v1/operator/incidents/{incident.id}")).status_code == 404
        listed = (await http.get("/api/v1/operator/incidents", params={"scope": "fleet"})).json()
        assert str(incident.id) not in {i["id"] for i in listed["items"]}
        answer = await http.post(f"/api/v1/operator/incidents/{incident.id}/acknowledge")
        assert answer.status_code == 404 and answer.json()["code"] == "incident.not_found"


async def test_an_open_fleet_incident_survives_a_restart(settings: Settings) -> None:
    """The new monitor restores the fleet and its members' raised conditions: a charger in
    the same trouble joins it, and the members' recovery resolves it."""
    health = HealthSettings(
        offline_grace_s=OFFLINE_GRACE_S, tick_interval_s=0.2, self_healing=False, collect_diagnostics=False
    )
    model = f"X1-{uuid.uuid4().hex[:6]}"
    async with running_health_stack(settings, health) as stack:
        sims = await chargers(stack, "1.6", model, "2.3", 4)
        for sim in sims[:3]:
            await sim.fault(1, "HighTemperature", "thermal cut-out")

        async def one_fleet() -> Incident | None:
            found = await fleet_incidents(stack, model)
            return found[0] if found else None

        incident = await eventually(one_fleet, "a fleet incident")
        identities = [sim.identity for sim in sims]

    async with running_health_stack(settings, health) as stack:

        async def restored() -> bool:
            return any(g.model.model == model and state.open for g, state in stack.monitor.fleet.groups.items())

        await eventually(restored, "the monitor restored the fleet")
        fourth = await reconnect(stack, identities[3], model)
        await fourth.fault(1, "HighTemperature", "thermal cut-out")

        async def joined() -> Incident | None:
            [found] = await stack.incidents(id=incident.id)
            return found if identities[3] in found.evidence["fleet"]["chargers"] else None

        grown = await eventually(joined, "the fourth joins the restored fleet incident")
        assert grown.state == "open" and len(await fleet_incidents(stack, model)) == 1
        assert [i for i in await stack.incidents(identity=identities[3]) if i.scope == "charger"] == []
        # The first three come back, each reporting Available: their recovery reaches the fleet.
        for identity in identities[:3]:
            await reconnect(stack, identity, model)

        async def recovered() -> Incident | None:
            [found] = await stack.incidents(id=incident.id)
            raised = {m["identity"]: m["raised"] for m in found.evidence["fleet"]["members"]}
            return found if raised == {**dict.fromkeys(identities[:3], False), identities[3]: True} else None

        assert (await eventually(recovered, "the three recovered; the fourth still hot")).state == "open"
        await fourth.status(1, "Available")

        async def resolved() -> Incident | None:
            [found] = await stack.incidents(id=incident.id)
            return found if found.state == "resolved" else None

        assert (await eventually(resolved, "the last member recovered")).resolution == "automatic"


async def reconnect(stack: HealthStack, identity: str, model: str) -> SimulatedCharger:
    """A charger known from before the restart, connected and booted again."""
    sim = SimulatedCharger(
        SimConfig(
            url=f"ws://127.0.0.1:{stack.bridge_port}/ocpp",
            identity=identity,
            password=PASSWORD,
            id_tag=identity,
            meter_interval_s=0.01,
            vendor="Acme",
            model=model,
            firmware_version="2.3",
        )
    )
    stack.sims.append(sim)
    await sim.connect()
    await sim.boot()
    await sim.status(1, "Available")
    return sim
