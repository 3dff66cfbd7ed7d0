"""The health stack for end-to-end tests: the bridge, the API (whose lifespan runs the
health monitor) and simulator chargers over real sockets, on a real database.

The bridge and the monitor share one clock that the tests move on by hand
(``HealthStack.advance``): "nothing opened after N seconds" is asserted after the monitor's
pass at a time N seconds on, whatever the machine's speed, never after a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from app.chargers.models import Location
from app.chargers.service import ChargerService
from app.core.bus import InProcessBus
from app.core.database import create_engine, create_sessionmaker, utcnow
from app.core.settings import HealthSettings, HttpSettings, Settings
from app.drivers.models import IdToken
from app.health.models import Incident
from app.health.monitor import HealthMonitor
from app.main import create_app
from app.runner import _EmbeddedServer
from devtools.simulator import SimConfig, SimulatedCharger
from tests.e2e.ocpp_helpers import PASSWORD
from tests.support import create_staff, first_operator

T = TypeVar("T")

# Offline after two 1 s heartbeat intervals plus this grace of silence. The monitor learns of
# heartbeats through the database (``last_seen_at``, written by group commit), and on a loaded
# CI machine the whole stack (bridge, database, monitor) can stall for seconds: with 1 s of
# grace, healthy chargers sometimes looked silent (7.5 s stalls were seen at a load of 14).
# 5 s, with test databases that commit without waiting for the disk (tests/support.py),
# held at a load of 16; an offline still opens within 7 s.
OFFLINE_GRACE_S = 5.0


class StackClock:
    """The stack's time: the wall clock (the simulators live in it) plus what the tests
    moved it on by hand. Moving it on only ever brings thresholds closer."""

    def __init__(self) -> None:
        self.ahead = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.ahead

    def advance(self, seconds: float) -> None:
        self.ahead += timedelta(seconds=seconds)


@dataclass
class HealthStack:
    settings: Settings
    maker: Any
    bus: InProcessBus
    bridge_port: int
    port: int
    clock: StackClock
    monitor: HealthMonitor
    sims: list[SimulatedCharger] = dataclasses.field(default_factory=list)

    async def settle(self) -> None:
        """Every event published so far handled, then a pass of the monitor at the clock's
        time (what time alone reveals), then what that pass set off handled."""
        await self.bus.idle()
        await self.monitor.tick()
        await self.bus.idle()

    async def advance(self, seconds: float, *, step_s: float = 0.5) -> None:
        """Move the clock on by ``seconds``, in steps shorter than a heartbeat interval: at
        each, every connected simulator sends a Heartbeat (as it would have meanwhile) and
        the monitor makes its pass. A simulator that is offline stays silent."""
        left = seconds
        while left > 0:
            step = min(step_s, left)
            self.clock.advance(step)
            left -= step
            await asyncio.gather(*(sim.heartbeat() for sim in self.sims if sim.online))
            await self.settle()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def site(self, chargers: int, *, prefix: str = "HLT") -> tuple[uuid.UUID, list[str]]:
        """A location with ``chargers`` registered chargers of one EVSE each, of the operator
        company ``operator_headers`` users belong to."""
        async with self.maker() as db:
            location = Location(name=f"Site {uuid.uuid4().hex[:6]}", operator_id=await first_operator(db))
            db.add(location)
            await db.commit()
            identities = []
            for _ in range(chargers):
                identity = f"{prefix}-{uuid.uuid4().hex[:8]}"
                await ChargerService(db, self.bus).register(identity, PASSWORD, location_id=location.id, evse_count=1)
                identities.append(identity)
            return location.id, identities

    async def charger(self, identity: str, **config: Any) -> SimulatedCharger:
        """A connected, booted simulator; its id tag is its identity, accepted."""
        async with self.maker() as db:
            db.add(IdToken(token=identity, status="Accepted"))
            await db.commit()
        config.setdefault("id_tag", identity)
        sim = SimulatedCharger(
            SimConfig(
                url=f"ws://127.0.0.1:{self.bridge_port}/ocpp",
                identity=identity,
                password=PASSWORD,
                meter_interval_s=0.01,
                **config,
            )
        )
        self.sims.append(sim)
        await sim.connect()
        await sim.boot()
        for connector in sim.connectors:
            await sim.status(connector, "Available")
        return sim

    async def incidents(self, **where: Any) -> list[Incident]:
        async with self.maker() as db:
            query = select(Incident).order_by(Incident.opened_at)
            for name, value in where.items():
                query = query.where(getattr(Incident, name) == value)
            return list((await db.scalars(query)).all())

    async def operator_headers(self) -> dict[str, str]:
        email = f"ops-{uuid.uuid4().hex[:6]}@health.test"
        async with self.maker() as db:
            await create_staff(db, email, "ops-password-123")
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            answer = await http.post("/api/v1/auth/token", json={"email": email, "password": "ops-password-123"})
        return {"Authorization": f"Bearer {answer.json()['accessToken']}"}


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, timeout_s: float = 20.0) -> T:
    """Poll ``probe`` until it returns something truthy (the monitor works in the background)."""
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                value = await probe()
                if value:
                    return value
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(what) from None


@contextlib.asynccontextmanager
async def running_health_stack(settings: Settings, health: HealthSettings) -> AsyncIterator[HealthStack]:
    """The bridge, the API (with the health monitor) and a database, on free ports."""
    from ocpp_bridge.server import create_bridge

    # The API's socket is bound here and handed to uvicorn: no other test (or xdist worker)
    # can take the port between choosing it and serving on it.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])
    settings = dataclasses.replace(
        settings,
        http=HttpSettings(port=port, public_base_url=f"http://127.0.0.1:{port}"),
        # Short heartbeats: offline after 2 x 1 s + OFFLINE_GRACE_S of silence.
        ocpp=dataclasses.replace(settings.ocpp, heartbeat_interval_s=1),
        health=health,
    )
    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    bus = InProcessBus()
    await bus.start()
    clock = StackClock()
    bridge = create_bridge(settings.ocpp, maker, bus, clock=clock)
    await bridge.start()
    monitor = HealthMonitor(maker, bus, settings, clock=clock)
    app = create_app(settings, engine=engine, bus=bus, health_monitor=monitor)
    server = _EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        await asyncio.sleep(0.02)
    stack = HealthStack(settings, maker, bus, bridge.port, port, clock, monitor)
    try:
        yield stack
    finally:
        for sim in stack.sims:
            await sim.close()
        server.should_exit = True
        await serving
        await bridge.close()
        await bus.close()
        await engine.dispose()


@pytest.fixture(scope="module")
async def health(settings: Settings) -> AsyncIterator[HealthStack]:
    # Detection alone here; tests/e2e/health/test_self_healing.py runs the playbooks too.
    detection = HealthSettings(
        offline_grace_s=OFFLINE_GRACE_S, site_window_s=1.0, tick_interval_s=0.2, self_healing=False
    )
    async with running_health_stack(settings, detection) as stack:
        yield stack
