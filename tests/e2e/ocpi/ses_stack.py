"""The stack the tokens and sessions tests run on: the API (with the OCPI push worker) and
the bridge with roaming's token answerer wired in as app/runner.py wires it, on free ports,
over the module's database; simulator chargers over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from litestar import Litestar

from app.chargers.models import Location
from app.chargers.service import ChargerService
from app.core.bus import InProcessBus
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import HttpSettings, OcpiSettings, Settings
from app.operators.models import Operator
from app.roaming.push import PushWorker
from app.roaming.tokens.authorize import RoamingTokens
from app.runner import _EmbeddedServer
from app.tariffs.pricing import TariffTerms
from app.tariffs.service import TariffService
from devtools.simulator import SimConfig, SimulatedCharger
from ocpp_bridge.server import create_bridge
from tests.e2e.ocpp_helpers import PASSWORD
from tests.support import first_operator


@dataclass
class SesStack:
    settings: Settings
    maker: Any
    bus: InProcessBus
    app: Litestar
    bridge_port: int
    port: int
    sims: list[SimulatedCharger] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pushes(self) -> PushWorker:
        worker: PushWorker = self.app.state.ocpi_push_worker
        return worker

    def http(self, authorization: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"{self.base_url}/ocpi/2.2.1", headers={"Authorization": authorization})

    async def operator(self, party_id: str | None = None) -> uuid.UUID:
        """The first tenant (SE*LAD), or a new one with ``party_id``."""
        async with self.maker() as db:
            if party_id is None:
                return await first_operator(db)
            operator = Operator(name=f"Tenant {party_id}", country_code="SE", party_id=party_id)
            db.add(operator)
            await db.commit()
            return operator.id

    async def charger(
        self, operator_id: uuid.UUID, *, version: str = "1.6", tariff: TariffTerms | None = None
    ) -> SimulatedCharger:
        """A registered, connected, booted simulator at a new location of ``operator_id``
        (whose tariff is ``tariff``, when given)."""
        identity = f"SES-{uuid.uuid4().hex[:8]}"
        async with self.maker() as db:
            location = Location(name=f"Site {identity}", operator_id=operator_id)
            db.add(location)
            await db.commit()
            await ChargerService(db, self.bus).register(identity, PASSWORD, location_id=location.id, evse_count=1)
            if tariff is not None:
                tariffs = TariffService(db, self.bus, tenant_id=operator_id)
                stored = await tariffs.create(tariff)
                await tariffs.assign("location", location.id, stored.id)
                await db.commit()
        sim = SimulatedCharger(
            SimConfig(
                url=f"ws://127.0.0.1:{self.bridge_port}/ocpp",
                identity=identity,
                password=PASSWORD,
                version=version,
                meter_interval_s=3600,  # meter values only when a test sends them
                auto_heartbeat=False,
            )
        )
        self.sims.append(sim)
        await sim.connect()
        await sim.boot()
        for connector in sim.connectors:
            await sim.status(connector, "Available")
        return sim


@contextlib.asynccontextmanager
async def ses_stack(settings: Settings, **ocpi: Any) -> AsyncIterator[SesStack]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])
    settings = dataclasses.replace(
        settings,
        http=HttpSettings(port=port, public_base_url=f"http://127.0.0.1:{port}"),
        ocpi=OcpiSettings(allow_private_partners=True, **ocpi),
    )
    from app.main import create_app

    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    bus = InProcessBus()
    await bus.start()
    bridge = create_bridge(settings.ocpp, maker, bus, foreign_tokens=RoamingTokens(settings.ocpi))
    await bridge.start()
    app = create_app(settings, engine=engine, bus=bus)
    server = _EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        await asyncio.sleep(0.02)
    stack = SesStack(settings, maker, bus, app, bridge.port, port)
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
