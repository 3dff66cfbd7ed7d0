"""A command while the bus is down: the API answers 503 `charger.commands_unavailable` and
the audit log says nothing was sent, on a real NATS server that the test kills."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from app.chargers.errors import CommandsUnavailable
from app.chargers.models import CommandLog
from app.chargers.service import ChargerService
from app.core.bus import InProcessBus
from app.core.bus_nats import NatsBus
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import Settings
from app.sessions.commands import CommandService
from tests.e2e.test_bus_contract import NATS_SERVER, NatsServer

pytestmark = pytest.mark.skipif(NATS_SERVER is None, reason="nats-server is not installed")


@pytest.fixture
async def nats(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("nats-down"))
    server.start()
    yield server
    if server.proc is not None:
        server.kill()


async def test_a_command_while_nats_is_down_is_503_and_sends_nothing(settings: Settings, nats: NatsServer) -> None:
    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    identity = f"DOWN-{uuid.uuid4().hex[:8]}"
    async with maker() as db:
        charger = await ChargerService(db, InProcessBus()).register(identity, "a-long-random-secret-0001")
    bus = NatsBus(nats.url, "api-node")
    await bus.start()
    try:
        nats.kill()
        async with maker() as db:
            commands = CommandService.of(db, bus, settings)
            with pytest.raises(CommandsUnavailable) as refused:
                await commands.send(charger.id, "reset", {"kind": "soft"})
            assert refused.value.status == 503
            entry = await db.get(CommandLog, uuid.UUID(refused.value.extra["command_id"]))
            assert entry is not None and entry.outcome == "unavailable"
    finally:
        await bus.close()
        await engine.dispose()
