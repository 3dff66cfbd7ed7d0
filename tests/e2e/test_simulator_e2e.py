"""The simulator against the real bridge: whole sessions, trouble, offline replay, reboots."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.chargers.models import ChargerEvent, Connector, Evse
from app.sessions.models import MeterSample
from devtools.simulator import SimConfig, SimulatedCharger
from tests.conftest import System
from tests.e2e.ocpp_helpers import PASSWORD, add_token, charge_point, register, samples, transactions

TAG = "SIM-E2E-TAG"


async def simulator(system: System, version: str, **kwargs: object) -> SimulatedCharger:
    """A connected, booted simulator presenting TAG (accepted by the ``accepted_tag`` fixture)."""
    identity = await register(system)
    config = SimConfig(
        url=system.ocpp_url,
        identity=identity,
        password=PASSWORD,
        version=version,
        id_tag=TAG,
        meter_interval_s=0.05,
        **kwargs,  # type: ignore[arg-type]
    )
    sim = SimulatedCharger(config)
    await sim.connect()
    assert (await sim.boot())["status"] == "Accepted"
    return sim


async def kinds_and_codes(system: System, identity: str) -> set[tuple[str, str | None]]:
    row = await charge_point(system, identity)
    async with system.maker() as db:
        result = await db.execute(
            select(ChargerEvent.kind, ChargerEvent.code).where(ChargerEvent.charge_point_id == row.id)
        )
        return {(kind, code) for kind, code in result}


@pytest.fixture(scope="module")
async def accepted_tag(system: System) -> str:
    """TAG, the id tag the simulators present, accepted by the CSMS: tests that charge use it."""
    await add_token(system, TAG)
    return TAG


@pytest.mark.usefixtures("accepted_tag")
async def test_v16_session_energy_matches_the_charger(system: System) -> None:
    sim = await simulator(system, "1.6")
    await sim.charge(0.4)
    await sim.close()
    [tx] = await transactions(system, sim.config.identity)
    assert tx.status == "completed" and tx.id_token == TAG
    assert tx.energy_wh > 0
    assert abs(tx.energy_wh - sim.energy_wh(1)) < 1.0  # register started at 0
    measurands = {s.measurand for s in await samples(system, tx.id)}
    assert {"Energy.Active.Import.Register", "Power.Active.Import", "Voltage", "Temperature"} <= measurands


@pytest.mark.usefixtures("accepted_tag")
async def test_v201_session_energy_matches_the_charger(system: System) -> None:
    sim = await simulator(system, "2.0.1")
    await sim.charge(0.4)
    await sim.close()
    [tx] = await transactions(system, sim.config.identity)
    assert tx.status == "completed" and tx.id_token == TAG
    assert abs(tx.energy_wh - sim.energy_wh(1)) < 1.0
    assert tx.evse_number == 1


@pytest.mark.usefixtures("accepted_tag")
async def test_offline_queue_replays_exactly_once(system: System) -> None:
    for version in ("1.6", "2.0.1"):
        sim = await simulator(system, version)
        await sim.start_transaction(1)
        await sim.send_meter_values(1, seconds=600)
        await sim.go_offline()
        await sim.send_meter_values(1, seconds=600)
        await sim.stop_transaction(1)
        await sim.start_transaction(1)
        await sim.send_meter_values(1, seconds=300)
        await sim.stop_transaction(1)
        await sim.come_online()
        await sim.close()
        txs = await transactions(system, sim.config.identity)
        assert [t.status for t in txs] == ["completed", "completed"], version
        total = sum(t.energy_wh for t in txs)
        assert abs(total - sim.energy_wh(1)) < 1.0, version
        assert txs[0].stopped_at is not None and txs[0].stopped_at <= txs[1].started_at


@pytest.mark.usefixtures("accepted_tag")
async def test_fault_and_trouble_reach_the_event_log(system: System) -> None:
    sim16 = await simulator(system, "1.6", connectors=2)
    await sim16.fault(2, "GroundFailure", info="RCD tripped")
    await sim16.start_transaction(1)
    await sim16.voltage_sag(1, volts=185.0, steps=2)
    await sim16.overheat(1, to_celsius=90.0, steps=2)
    await sim16.stop_transaction(1)
    await sim16.close()
    logged = await kinds_and_codes(system, sim16.config.identity)
    assert ("error", "GroundFailure") in logged
    [tx] = await transactions(system, sim16.config.identity)
    async with system.maker() as db:
        volts = list(
            await db.scalars(
                select(MeterSample.value).where(MeterSample.transaction_id == tx.id, MeterSample.measurand == "Voltage")
            )
        )
        temps = list(
            await db.scalars(
                select(MeterSample.value).where(
                    MeterSample.transaction_id == tx.id, MeterSample.measurand == "Temperature"
                )
            )
        )
    assert min(volts) < 200 and max(temps) >= 85

    sim201 = await simulator(system, "2.0.1")
    await sim201.fault(1, "HighTemperature")
    await sim201.close()
    row = await charge_point(system, sim201.config.identity)
    async with system.maker() as db:
        connector = await db.scalar(select(Connector).join(Evse).where(Evse.charge_point_id == row.id))
    assert connector is not None and connector.status == "Faulted"
    assert ("notify_event", "HighTemperature") in await kinds_and_codes(system, sim201.config.identity)


async def test_reboot_is_a_new_boot(system: System) -> None:
    sim = await simulator(system, "2.0.1")
    await sim.reboot()
    await sim.close()
    boots = [code for kind, code in await kinds_and_codes(system, sim.config.identity) if kind == "boot"]
    assert boots and all(code == "PowerUp" for code in boots)
    assert (await charge_point(system, sim.config.identity)).last_boot_reason == "PowerUp"
