"""A site that goes dark after one of its chargers already had: one site incident, which
folds in that charger's own earlier incident."""

from __future__ import annotations

import asyncio

import pytest

from app.health.models import Incident
from tests.e2e.health.health_stack import HealthStack, eventually

# What the detectors and playbooks make of events; the incidents' storage is checked on
# both databases by health/test_incidents.py.
pytestmark = pytest.mark.one_database


async def test_a_site_going_dark_after_one_charger_folds_its_incident_in(health: HealthStack) -> None:
    location, identities = await health.site(3)
    first, *rest = [await health.charger(i) for i in identities]

    async def single() -> Incident | None:
        found = await health.incidents(identity=identities[0], kind="offline", state="open")
        return found[0] if found and found[0].charge_point_id is not None else None

    await first.go_offline()
    own = await eventually(single, "the first charger's own offline incident")

    await asyncio.gather(*(sim.go_offline() for sim in rest))

    async def site() -> Incident | None:
        found = [i for i in await health.incidents(location_id=location, kind="offline") if i.charge_point_id is None]
        return found[0] if found else None

    site_incident = await eventually(site, "a site incident")
    assert site_incident.cause == "site_network"
    assert set(site_incident.evidence["site"]["chargers"]) == set(identities)

    async def merged() -> Incident | None:
        [again] = await health.incidents(id=own.id)
        return again if again.state == "resolved" else None

    folded = await eventually(merged, "the earlier incident folded into the site's")
    assert folded.resolution == "merged"
    [site_now] = await health.incidents(id=site_incident.id)
    assert site_now.evidence["absorbed"] == [str(own.id)]
    await health.advance(1.5)  # the others' own signals join the site incident; nothing else opens
    active = [i for i in await health.incidents(location_id=location) if i.state != "resolved"]
    assert [i.id for i in active] == [site_incident.id]

    # Two back: the site is still dark for the first one.
    await asyncio.gather(*(sim.come_online() for sim in rest))
    await health.advance(1.0)
    [site_now] = await health.incidents(id=site_incident.id)
    assert site_now.state == "open"
    await first.come_online()

    async def resolved() -> Incident | None:
        [done] = await health.incidents(id=site_incident.id)
        return done if done.state == "resolved" else None

    await eventually(resolved, "every charger back: the site resolved")
    assert [i.id for i in await health.incidents(location_id=location) if i.state != "resolved"] == []
