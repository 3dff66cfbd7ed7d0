"""Fault detection and self-healing run once across monitor processes: a leader with fail-over.

Two "monitor processes" (a HealthMonitor and a Remediator each, on a NatsBus and an engine
of their own) and one bridge process share a test-owned nats-server and the test database.
Exactly one leads; a fault opens one incident and its playbook sends one Reset. The leader
then dies without a goodbye (its bus closed, its leader key left to expire): the other takes
over, loads the open incidents and last-seen times from the database, and resumes the
durable consumers; the next fault opens one incident, the first is not opened again, and the
silence of the gap opens no offline incident for chargers whose heartbeats kept coming.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.chargers.models import Location
from app.chargers.service import ChargerService
from app.core.bus import Event, InProcessBus
from app.core.bus_nats import STREAM, NatsBus, consumer_name
from app.core.database import create_engine, create_sessionmaker, utcnow
from app.core.settings import HealthSettings, Settings
from app.health.events import IncidentOpened
from app.health.models import Incident
from app.health.monitor import HealthMonitor
from app.health.playbooks import Remediator
from devtools.simulator import SimConfig, SimulatedCharger
from ocpp_bridge.server import Bridge, create_bridge
from tests.e2e.health.health_stack import OFFLINE_GRACE_S, eventually
from tests.e2e.ocpp_helpers import PASSWORD
from tests.e2e.test_bus_contract import NATS_SERVER, NatsServer, running_nats_server
from tests.support import first_operator

pytestmark = pytest.mark.skipif(NATS_SERVER is None, reason="nats-server is not installed")

# Longer than the offline threshold (2 x 1 s heartbeat + 1 s grace): the gap between the
# leader's death and the takeover would look like an outage to a monitor that trusted it.
LEADER_TTL_S = 4.0


@dataclass
class MonitorProcess:
    bus: NatsBus
    engine: AsyncEngine
    monitor: HealthMonitor
    remediator: Remediator

    @property
    def leads(self) -> bool:
        """Both roles: the detectors and the playbooks."""
        return self.monitor.is_leader and self.remediator.is_leader

    async def kill(self) -> None:
        """Die without a goodbye: the bus goes first (no key released, nothing acked after),
        then what would have died with the process."""
        await self.bus.close()
        await self.monitor.close()
        await self.remediator.close()
        await self.engine.dispose()


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    yield from running_nats_server(tmp_path_factory, "nats-leader")


@pytest.fixture
def leader_settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        ocpp=dataclasses.replace(settings.ocpp, heartbeat_interval_s=1, command_timeout_s=5),
        health=HealthSettings(
            offline_grace_s=OFFLINE_GRACE_S,
            site_window_s=0.5,
            tick_interval_s=0.2,
            playbook_verify_s=2.0,
            collect_diagnostics=False,
        ),
    )


async def start_monitor(settings: Settings, url: str, name: str) -> MonitorProcess:
    bus = NatsBus(url, f"{name}-{uuid.uuid4().hex[:6]}", leader_ttl_s=LEADER_TTL_S)
    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    process = MonitorProcess(bus, engine, HealthMonitor(maker, bus, settings), Remediator(maker, bus, settings))
    process.monitor.subscribe()
    process.remediator.subscribe()
    await bus.start()
    await process.monitor.start()
    await process.remediator.start()
    return process


async def consuming(processes: list[MonitorProcess]) -> MonitorProcess | None:
    """The process whose monitor leads, once both groups' leaders have loaded and
    subscribed and the durable consumers exist (a group's first consumer takes only the
    events published after it; a takeover resumes the same consumer)."""
    monitors = [p for p in processes if p.monitor.is_leader and p.monitor._subscribed]
    healers = [p for p in processes if p.remediator.is_leader and p.remediator._subscribed]
    if len(monitors) != 1 or len(healers) != 1 or monitors[0].bus.js is None:
        return None
    try:
        for name in (consumer_name("health", "*"), consumer_name("playbooks", IncidentOpened.subject)):
            await monitors[0].bus.js.consumer_info(STREAM, name)
    except Exception:
        return None
    return monitors[0]


@pytest.fixture
async def network(
    leader_settings: Settings, nats_server: NatsServer
) -> AsyncIterator[tuple[Bridge, async_sessionmaker[AsyncSession], list[MonitorProcess]]]:
    bridge_bus = NatsBus(nats_server.url, f"bridge-{uuid.uuid4().hex[:6]}")
    engine = create_engine(leader_settings.db)
    maker = create_sessionmaker(engine)
    await bridge_bus.start()
    bridge = create_bridge(leader_settings.ocpp, maker, bridge_bus)
    await bridge.start()
    processes = [await start_monitor(leader_settings, nats_server.url, name) for name in ("health-a", "health-b")]
    try:
        yield bridge, maker, processes
    finally:
        for process in processes:
            if process.bus.nc is not None:
                await process.kill()
        await bridge.close()
        await bridge_bus.close()
        await engine.dispose()


async def register(maker: async_sessionmaker[AsyncSession], bus: NatsBus, count: int) -> list[str]:
    async with maker() as db:
        location = Location(name=f"Leader site {uuid.uuid4().hex[:6]}", operator_id=await first_operator(db))
        db.add(location)
        await db.commit()
        identities = [f"LDR-{uuid.uuid4().hex[:8]}" for _ in range(count)]
        for identity in identities:
            await ChargerService(db, bus).register(identity, PASSWORD, location_id=location.id, evse_count=1)
    return identities


async def incidents(maker: async_sessionmaker[AsyncSession], identity: str) -> list[Incident]:
    from sqlalchemy import select

    async with maker() as db:
        return list((await db.scalars(select(Incident).where(Incident.identity == identity))).all())


async def test_one_leader_heals_once_and_a_standby_takes_over_without_false_incidents(
    network: tuple[Bridge, async_sessionmaker[AsyncSession], list[MonitorProcess]],
) -> None:
    bridge, maker, processes = network
    leader = await eventually(lambda: consuming(processes), "one monitor process leads and consumes")
    assert sum(p.monitor.is_leader for p in processes) == 1 and sum(p.remediator.is_leader for p in processes) == 1
    [standby] = [p for p in processes if p is not leader]

    first, second = await register(maker, leader.bus, 2)
    sims: list[SimulatedCharger] = []
    for identity in (first, second):
        sim = SimulatedCharger(
            SimConfig(url=f"ws://127.0.0.1:{bridge.port}/ocpp", identity=identity, password=PASSWORD)
        )
        sims.append(sim)
        await sim.connect()
        await sim.boot()
        await sim.status(1, "Available")
    try:
        await sims[0].fault(1, "InternalError", "watchdog")

        async def healed(identity: str) -> list[Incident] | None:
            found = await incidents(maker, identity)
            return found if found and all(i.state == "resolved" for i in found) else None

        [opened] = await eventually(lambda: healed(first), "the first fault is healed by one reset")
        assert opened.cause == "internal_firmware"
        assert [action for action, _ in sims[0].received].count("Reset") == 1

        await leader.kill()
        alive = [standby]
        assert (
            await eventually(lambda: consuming(alive), "the standby takes over within seconds", timeout_s=15) is standby
        )
        # Its first pass after the load: the gap was no outage (the heartbeats kept last_seen fresh).
        await standby.monitor.tick()

        await sims[1].fault(1, "InternalError", "watchdog")
        [reopened] = await eventually(lambda: healed(second), "the next fault is healed by the new leader")
        assert reopened.cause == "internal_firmware"
        assert [action for action, _ in sims[1].received].count("Reset") == 1
        assert [action for action, _ in sims[0].received].count("Reset") == 1
        assert [i.id for i in await incidents(maker, first)] == [opened.id]
        kinds = [i.kind for identity in (first, second) for i in await incidents(maker, identity)]
        assert "offline" not in kinds, kinds
    finally:
        for sim in sims:
            await sim.close()


async def test_a_leader_whose_key_was_taken_steps_down_and_stops_consuming(
    network: tuple[Bridge, async_sessionmaker[AsyncSession], list[MonitorProcess]],
) -> None:
    _, _, processes = network
    leader = await eventually(lambda: consuming(processes), "one monitor process leads and consumes")
    kv = await leader.bus.leaders()
    # As if its key had expired and another node had taken it: its next refresh fails.
    entry = await kv.get("health")
    await kv.delete("health", last=entry.revision)
    await kv.create("health", b"someone-else")

    async def deposed() -> bool:
        return not leader.monitor.is_leader and not leader.monitor._subscribed and leader.monitor._task is None

    await eventually(deposed, "the leader notices at its next refresh and stops", timeout_s=10)
    assert not any(p.monitor.is_leader for p in processes)
    # The other node goes away (its key deleted): one of the two leads again and loads.
    entry = await kv.get("health")
    await kv.delete("health", last=entry.revision)
    await eventually(lambda: consuming(processes), "a monitor leads again", timeout_s=10)
    assert sum(p.monitor.is_leader for p in processes) == 1


async def test_the_in_process_bus_leads_at_once_and_unsubscribes_a_group() -> None:
    bus = InProcessBus()
    got: list[Event] = []

    async def record(event: Event) -> None:
        got.append(event)

    elected: list[str] = []

    async def on_elected() -> None:
        elected.append("health")

    async def on_deposed() -> None:
        raise AssertionError("one process is never deposed")

    leadership = bus.lead("health", on_elected=on_elected, on_deposed=on_deposed)
    assert leadership.is_leader
    bus.subscribe(IncidentOpened.subject, record, group="playbooks")
    await bus.start()
    await leadership.start()
    assert elected == ["health"]
    opened = IncidentOpened(
        incident_id=uuid.uuid4(),
        operator_id=None,
        identity="CP-1",
        location_id=None,
        evse=1,
        connectors=[1],
        kind="reported_error",
        cause="internal_firmware",
        severity="critical",
        confidence=0.9,
        summary="test",
        opened_at=utcnow(),
    )
    bus.publish(opened)
    await bus.idle()
    bus.unsubscribe("playbooks")
    bus.publish(opened)
    await bus.idle()  # every subscriber has handled it: the group has none left
    assert got == [opened]
    await bus.close()
