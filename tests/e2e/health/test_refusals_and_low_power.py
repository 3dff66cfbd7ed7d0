"""Through real chargers: cards refused one after another at one charger (its reader), and
a charger delivering far less than the car drew before."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.core.settings import HealthSettings, Settings
from tests.e2e.health.health_stack import OFFLINE_GRACE_S, HealthStack, eventually, running_health_stack

# What the detectors and playbooks make of events; the incidents' storage is checked on
# both databases by health/test_incidents.py.
pytestmark = pytest.mark.one_database


@pytest.fixture(scope="module")
async def stack(settings: Settings) -> AsyncIterator[HealthStack]:
    detection = HealthSettings(
        offline_grace_s=OFFLINE_GRACE_S, site_window_s=1.0, tick_interval_s=0.2, self_healing=False, low_power_s=0.0
    )
    async with running_health_stack(settings, detection) as running:
        yield running


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_cards_refused_at_one_charger_point_at_its_reader(stack: HealthStack, version: str) -> None:
    _, [identity] = await stack.site(1)
    sim = await stack.charger(identity, version=version)
    for i in range(5):
        assert await sim.authorize(f"MISREAD{i:04d}") in ("Invalid", "Unknown")

    async def opened() -> list[object]:
        return await stack.incidents(identity=identity, kind="failed_starts", state="open")

    [incident] = await eventually(opened, "refusals became an incident")
    assert incident.cause == "rfid_reader" and incident.topic == "authorization"  # type: ignore[attr-defined]
    refusals = incident.evidence["chain"][0]["evidence"]["refusals"]  # type: ignore[attr-defined]
    assert [r["tokenHint"] for r in refusals] == ["0000", "0001", "0002", "0003", "0004"]
    assert all("MISREAD" not in str(r) for r in refusals)  # the card numbers stay out

    assert await sim.authorize(identity) == "Accepted"  # the reader reads a good card again

    async def resolved() -> list[object]:
        return await stack.incidents(identity=identity, kind="failed_starts", state="resolved")

    await eventually(resolved, "an accepted card resolved it")


async def test_a_charger_giving_a_car_a_fraction_of_what_it_drew_before(stack: HealthStack) -> None:
    _, [identity] = await stack.site(1)
    sim = await stack.charger(identity)  # rated 22 kW; the simulated car draws 11 kW
    await sim.start_transaction(1)
    for _ in range(3):
        await sim.send_meter_values(1)
    await sim.stop_transaction(1)
    assert await stack.incidents(identity=identity) == []

    sim._model.power_kw = 2.5  # a power module fails: the same car gets 2.5 kW
    await sim.start_transaction(1)
    for _ in range(4):
        await sim.send_meter_values(1)

    async def opened() -> list[object]:
        return await stack.incidents(identity=identity, kind="power_supply", state="open")

    [incident] = await eventually(opened, "low power became an incident")
    assert incident.topic == "low_power" and incident.cause == "unknown"  # type: ignore[attr-defined]
    evidence = incident.evidence["chain"][0]["evidence"]  # type: ignore[attr-defined]
    assert evidence["expectedW"] == pytest.approx(11_000, rel=0.01) and evidence["powerW"] < 2_600
    await sim.stop_transaction(1)

    sim._model.power_kw = 11.0  # repaired
    await sim.start_transaction(1)
    for _ in range(3):
        await sim.send_meter_values(1)

    async def resolved() -> list[object]:
        return await stack.incidents(identity=identity, kind="power_supply", state="resolved")

    await eventually(resolved, "full power resolved it")
    await sim.stop_transaction(1)
